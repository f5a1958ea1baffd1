package llm_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// stub is a provider stub speaking one wire exactly (OpenAI chat completions or Anthropic
// messages, SSE included). With tools and no tool result in the conversation it calls
// get_weather{"city":"Paris"}; otherwise it answers text (quoting a tool result when there is one).
type stub struct {
	wire string
	srv  *httptest.Server

	mu       sync.Mutex
	requests []map[string]any
	headers  []http.Header
	paths    []string

	fail     atomic.Int32 // answer this many requests with failStatus
	failCode int
	cut      atomic.Bool // cut streams after the first delta
}

func newStub(t *testing.T, wire string) *stub {
	s := &stub{wire: wire, failCode: 429}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stub) last() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return nil
	}
	return s.requests[len(s.requests)-1]
}

func (s *stub) lastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[len(s.headers)-1]
}

func (s *stub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *stub) serve(w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad json", 400)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.headers = append(s.headers, r.Header.Clone())
	s.paths = append(s.paths, r.URL.Path)
	s.mu.Unlock()
	if s.fail.Add(-1) >= 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(s.failCode)
		if s.wire == "openai" {
			fmt.Fprint(w, `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
		} else {
			fmt.Fprint(w, `{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached"}}`)
		}
		return
	}
	if strings.HasSuffix(r.URL.Path, "/count_tokens") {
		fmt.Fprint(w, `{"input_tokens":42}`)
		return
	}
	tools, _ := req["tools"].([]any)
	msgs, _ := req["messages"].([]any)
	toolResult := ""
	if len(msgs) > 0 {
		lastMsg, _ := msgs[len(msgs)-1].(map[string]any)
		if s.wire == "openai" && lastMsg["role"] == "tool" {
			toolResult, _ = lastMsg["content"].(string)
		}
		if s.wire == "anthropic" {
			if blocks, ok := lastMsg["content"].([]any); ok {
				for _, b := range blocks {
					if bm, _ := b.(map[string]any); bm["type"] == "tool_result" {
						switch c := bm["content"].(type) {
						case string:
							toolResult = c
						case []any:
							if len(c) > 0 {
								toolResult, _ = c[0].(map[string]any)["text"].(string)
							}
						}
					}
				}
			}
		}
	}
	callTool := len(tools) > 0 && toolResult == ""
	text := "Hello from " + s.wire
	if toolResult != "" {
		text = "Weather: " + toolResult
	}
	model, _ := req["model"].(string)
	stream, _ := req["stream"].(bool)
	switch {
	case s.wire == "openai" && stream:
		s.openaiStream(w, req, model, text, callTool)
	case s.wire == "openai":
		s.openaiJSON(w, model, text, callTool)
	case stream:
		s.anthropicStream(w, model, text, callTool)
	default:
		s.anthropicJSON(w, model, text, callTool)
	}
}

func (s *stub) openaiJSON(w http.ResponseWriter, model, text string, callTool bool) {
	msg := fmt.Sprintf(`{"role":"assistant","content":%q,"refusal":null,"annotations":[]}`, text)
	finish := "stop"
	if callTool {
		msg = `{"role":"assistant","content":null,"refusal":null,"annotations":[],"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}`
		finish = "tool_calls"
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":%q,"choices":[{"index":0,"message":%s,"logprobs":null,"finish_reason":%q}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":2,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":1,"audio_tokens":0}},"system_fingerprint":"fp_1","service_tier":"default"}`, model, msg, finish)
}

func (s *stub) openaiStream(w http.ResponseWriter, req map[string]any, model, text string, callTool bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	chunk := func(delta, finish string) {
		f := "null"
		if finish != "" {
			f = fmt.Sprintf("%q", finish)
		}
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":%q,\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,\"finish_reason\":%s}]}\n\n", model, delta, f)
		fl.Flush()
	}
	chunk(`{"role":"assistant","content":"","refusal":null}`, "")
	finish := "stop"
	if callTool {
		chunk(`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}`, "")
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}`, "")
		if s.cut.Load() {
			return
		}
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`, "")
		finish = "tool_calls"
	} else {
		half := len(text) / 2
		chunk(fmt.Sprintf(`{"content":%q}`, text[:half]), "")
		if s.cut.Load() {
			return
		}
		chunk(fmt.Sprintf(`{"content":%q}`, text[half:]), "")
	}
	chunk(`{}`, finish)
	if so, _ := req["stream_options"].(map[string]any); so["include_usage"] == true {
		fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17,\"prompt_tokens_details\":{\"cached_tokens\":2},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n", model)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func (s *stub) anthropicJSON(w http.ResponseWriter, model, text string, callTool bool) {
	content := fmt.Sprintf(`[{"type":"text","text":%q}]`, text)
	stop := "end_turn"
	if callTool {
		content = `[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]`
		stop = "tool_use"
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":%s,"stop_reason":%q,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":2,"output_tokens":5,"service_tier":"standard"}}`, model, content, stop)
}

func (s *stub) anthropicStream(w http.ResponseWriter, model, text string, callTool bool) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	fl := w.(http.Flusher)
	ev := func(name, data string) {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
		fl.Flush()
	}
	ev("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":2,"output_tokens":1}}}`, model))
	ev("ping", `{"type": "ping"}`)
	stop := "end_turn"
	if callTool {
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me check."}}`)
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}`)
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`)
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`)
		if s.cut.Load() {
			return
		}
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}`)
		ev("content_block_stop", `{"type":"content_block_stop","index":1}`)
		stop = "tool_use"
	} else {
		half := len(text) / 2
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, text[:half]))
		if s.cut.Load() {
			return
		}
		ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":%q}}`, text[half:]))
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	}
	ev("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":5}}`, stop))
	ev("message_stop", `{"type":"message_stop"}`)
}

// gateway serves r behind a Gateway on every path and returns its URL and a function that returns
// the State of the last request (waiting for requests still being served: a client may have read the
// whole answer before the handler returned).
func gateway(t *testing.T, r *llm.Router) (string, func() agentgateway.State) {
	t.Helper()
	var mu sync.Mutex
	var last agentgateway.State
	var inflight atomic.Int32
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	capture := agentgateway.PolicyFunc(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			inflight.Add(1)
			defer inflight.Add(-1)
			next.ServeHTTP(w, req)
			if st := agentgateway.StateFrom(req.Context()); st != nil {
				mu.Lock()
				last = *st
				mu.Unlock()
			}
		})
	})
	if err := gw.Route("llm").PathPrefix("/").Use(capture).To(r); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL, func() agentgateway.State {
		for inflight.Load() > 0 {
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}
