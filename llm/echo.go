package llm

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Echo is an in-process demo provider that needs no key and no network: it speaks OpenAI chat
// completions (streaming included) and answers "echo: " followed by the last user text. The
// quickstart and the examples use it; it is also a handy stand-in in tests of routes.
func Echo(opts ...UpstreamOption) *Upstream {
	return OpenAICompatible("echo", "http://echo.invalid/v1", append([]UpstreamOption{Handler(EchoHandler())}, opts...)...)
}

// EchoHandler is the HTTP handler behind [Echo].
func EchoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body json.RawMessage
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			writeError(w, OpenAIChat{}, invalid("malformed JSON body"))
			return
		}
		req, err := OpenAIChat{}.DecodeRequest(body)
		if err != nil {
			writeError(w, OpenAIChat{}, asError(err))
			return
		}
		text := ""
		for _, m := range req.Messages {
			if m.Role != RoleUser {
				continue
			}
			text = ""
			for _, p := range m.Parts {
				if p.Type == PartText {
					text += p.Text
				}
			}
		}
		answer := "echo: " + text
		words := strings.SplitAfter(answer, " ")
		u := Usage{InputTokens: int64(EstimateTokens(body)), OutputTokens: int64(len(words))}
		resp := &Response{ID: "chatcmpl-echo", Model: req.Model, Created: time.Now().Unix(), StopReason: StopEndTurn, Usage: u,
			Parts: []Part{{Type: PartText, Text: answer}}}
		if !req.Stream {
			out, _ := OpenAIChat{}.EncodeResponse(resp)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(out)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		enc := OpenAIChat{}.NewStreamEncoder(req)
		fl, _ := w.(http.Flusher)
		emit := func(ev Event) {
			_, _ = w.Write(enc.Encode(nil, &ev))
			if fl != nil {
				fl.Flush()
			}
		}
		emit(Event{Type: EventStart, ID: resp.ID, Model: req.Model})
		emit(Event{Type: EventBlockStart, PartType: PartText})
		for _, word := range words {
			emit(Event{Type: EventDelta, PartType: PartText, Text: word})
		}
		emit(Event{Type: EventBlockStop})
		emit(Event{Type: EventFinish, StopReason: StopEndTurn})
		emit(Event{Type: EventUsage, Usage: u})
		emit(Event{Type: EventEnd})
	})
}
