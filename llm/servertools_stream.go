package llm

import (
	"encoding/json"
	"net/http"
	"time"
)

// serveStream answers a streaming client: the first model call is made before anything is sent (a
// failure is answered with its status), then the SSE stream starts, ping events keep it alive while
// tools and later model calls run, and the finished message is sent as Anthropic stream events.
func (l *stLoop) serveStream(w http.ResponseWriter) {
	ctx := l.req.Context()
	fl, _ := w.(http.Flusher)
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if fl != nil {
			fl.Flush()
		}
	}
	first := true
	wait := func(step func()) {
		if first { // the first model call decides the status
			first = false
			step()
			return
		}
		start()
		done := make(chan struct{})
		go func() { defer close(done); step() }()
		tick := time.NewTicker(l.cfg.KeepaliveInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if ctx.Err() == nil {
					writeSSE(w, "ping", map[string]any{"type": "ping"})
					if fl != nil {
						fl.Flush()
					}
				}
			}
		}
	}
	o := l.run(ctx, wait)
	if ctx.Err() != nil {
		return // the client is gone
	}
	switch {
	case o.err != nil && !started:
		writeError(w, AnthropicMessages{}, o.err)
		return
	case o.err != nil:
		writeSSE(w, "error", map[string]any{"type": "error", "error": map[string]any{"type": string(o.err.Kind), "message": o.err.Message}})
	case o.msg == nil && !started: // the model's error answer, untouched
		copyHeader(w.Header(), o.failed.header)
		w.WriteHeader(o.failed.status)
		_, _ = w.Write(o.failed.raw)
		return
	case o.msg == nil:
		writeSSE(w, "error", map[string]any{"type": "error", "error": map[string]any{"type": "api_error", "message": "the model answered " + http.StatusText(o.failed.status)}})
	default:
		start()
		for _, ev := range messageEvents(o.msg) {
			writeSSE(w, ev.name, ev.data)
		}
	}
	if fl != nil {
		fl.Flush()
	}
}

func writeSSE(w http.ResponseWriter, name string, data any) {
	b, _ := json.Marshal(data)
	_, _ = w.Write(appendSSE(nil, name, b))
}

type stEvent struct {
	name string
	data any
}

// messageEvents renders a finished Messages response as the stream events that build it.
func messageEvents(msg map[string]any) []stEvent {
	content, _ := msg["content"].([]any)
	usage, _ := msg["usage"].(map[string]any)
	head := map[string]any{}
	for k, v := range msg {
		head[k] = v
	}
	head["content"] = []any{}
	head["stop_reason"], head["stop_sequence"] = nil, nil
	startUsage := map[string]any{}
	for k, v := range usage {
		startUsage[k] = v
	}
	startUsage["output_tokens"] = 0
	head["usage"] = startUsage
	evs := []stEvent{{"message_start", map[string]any{"type": "message_start", "message": head}}}
	for i, c := range content {
		b, _ := c.(map[string]any)
		startBlock := map[string]any{}
		for k, v := range b {
			startBlock[k] = v
		}
		var delta map[string]any
		switch b["type"] {
		case "text":
			startBlock["text"] = ""
			delta = map[string]any{"type": "text_delta", "text": b["text"]}
		case "thinking":
			startBlock["thinking"] = ""
			delta = map[string]any{"type": "thinking_delta", "thinking": b["thinking"]}
		case "tool_use":
			startBlock["input"] = map[string]any{}
			in, _ := json.Marshal(b["input"])
			delta = map[string]any{"type": "input_json_delta", "partial_json": string(in)}
		}
		evs = append(evs, stEvent{"content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": startBlock}})
		if delta != nil {
			evs = append(evs, stEvent{"content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": delta}})
		}
		evs = append(evs, stEvent{"content_block_stop", map[string]any{"type": "content_block_stop", "index": i}})
	}
	evs = append(evs,
		stEvent{"message_delta", map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": msg["stop_reason"], "stop_sequence": msg["stop_sequence"]},
			"usage": map[string]any{"output_tokens": usage["output_tokens"], "input_tokens": usage["input_tokens"]}}},
		stEvent{"message_stop", map[string]any{"type": "message_stop"}})
	return evs
}
