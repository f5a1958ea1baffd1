package llm_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

// rawStub answers every request with fixed bytes and records the raw request.
type rawStub struct {
	mu         sync.Mutex
	body, uri  string
	hdr        http.Header
	ct, answer string
	status     int
}

func newRawStub(t *testing.T, ct, answer string) (*rawStub, string) {
	s := &rawStub{ct: ct, answer: answer, status: 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.body, s.uri, s.hdr = string(b), r.URL.RequestURI(), r.Header.Clone()
		status := s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", s.ct)
		w.Header().Set("X-Provider-Request-Id", "req-1")
		w.WriteHeader(status)
		io.WriteString(w, s.answer)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *rawStub) got() (string, string, http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.body, s.uri, s.hdr
}

const (
	oaStreamNoUsage = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
		": keep-alive comment\n\n" +
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-2024\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n" +
		"data: [DONE]\n\n"
	anStream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x-1\",\"content\":[],\"usage\":{\"input_tokens\":20,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	gmStreamSSE = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":4,\"totalTokenCount\":4},\"modelVersion\":\"gemini-2.5-flash-001\"}\r\n\r\n" +
		"data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"!\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2,\"totalTokenCount\":6},\"modelVersion\":\"gemini-2.5-flash-001\"}\r\n\r\n"
	gmStreamArray = "[{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]},\"index\":0}],\"modelVersion\":\"gemini-2.5-flash-001\"}\n,\r\n" +
		"{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"!\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2,\"totalTokenCount\":6},\"modelVersion\":\"gemini-2.5-flash-001\"}\n]"
)

// TestPassthroughDetect: a detect model's request reaches the provider byte for byte (no model
// rewrite although params.model is set, no stream_options added, unknown fields kept) and its
// answer reaches the client byte for byte (comments and provider headers included), while the
// response model and usage still land in the State: OpenAI JSON and SSE, Anthropic SSE, Gemini
// alt=sse and the JSON array.
func TestPassthroughDetect(t *testing.T) {
	for _, tc := range []struct {
		name, ct, answer, path, body string
		up                           func(string) *llm.Upstream
		wantURI, wantModel           string
		in, out                      int64
	}{
		{"openai json", "application/json",
			`{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-2024","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12},"x_vendor":1}`,
			"/v1/chat/completions", `{"model":"m",  "messages":[{"role":"user","content":"hi"}],"vendor_field":{"a":1}}`,
			func(b string) *llm.Upstream { return llm.OpenAI(llm.BaseURL(b+"/v1"), llm.APIKey("k")) },
			"/v1/chat/completions", "gpt-4o-2024", 9, 3},
		{"openai stream", "text/event-stream", oaStreamNoUsage,
			"/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			func(b string) *llm.Upstream { return llm.OpenAI(llm.BaseURL(b+"/v1"), llm.APIKey("k")) },
			"/v1/chat/completions", "gpt-4o-2024", 9, 3},
		{"anthropic stream", "text/event-stream", anStream,
			"/v1/messages", `{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			func(b string) *llm.Upstream { return llm.Anthropic(llm.BaseURL(b+"/v1"), llm.APIKey("k")) },
			"/v1/messages", "claude-x-1", 25, 7},
		{"gemini sse", "text/event-stream", gmStreamSSE,
			"/v1beta/models/m:streamGenerateContent?alt=sse", `{"contents":[{"parts":[{"text":"hi"}]}],"safetySettings":[]}`,
			func(b string) *llm.Upstream { return llm.Gemini(llm.BaseURL(b+"/v1beta"), llm.APIKey("k")) },
			"/v1beta/models/up:streamGenerateContent?alt=sse", "gemini-2.5-flash-001", 4, 2},
		{"gemini array", "application/json", gmStreamArray,
			"/v1beta/models/m:streamGenerateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`,
			func(b string) *llm.Upstream { return llm.Gemini(llm.BaseURL(b+"/v1beta"), llm.APIKey("k")) },
			"/v1beta/models/up:streamGenerateContent", "gemini-2.5-flash-001", 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, base := newRawStub(t, tc.ct, tc.answer)
			r, err := llm.New(llm.Model("m", tc.up(base), llm.As("up"), llm.Passthrough(llm.PassthroughDetect)))
			if err != nil {
				t.Fatal(err)
			}
			url, state := gateway(t, r)
			req, _ := http.NewRequest(http.MethodPost, url+tc.path, strings.NewReader(tc.body))
			req.Header.Set("anthropic-version", "2023-06-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != tc.answer {
				t.Errorf("answer changed: %d\n%q\nwant\n%q", resp.StatusCode, got, tc.answer)
			}
			if resp.Header.Get("X-Provider-Request-Id") != "req-1" {
				t.Error("provider headers dropped")
			}
			body, uri, _ := s.got()
			if body != tc.body || uri != tc.wantURI {
				t.Errorf("request changed: %s %q", uri, body)
			}
			st := state()
			if st.LLM.ResponseModel != tc.wantModel || st.LLM.InputTokens != tc.in || st.LLM.OutputTokens != tc.out || st.LLM.RequestModel != "m" {
				t.Errorf("state %+v", st.LLM)
			}
		})
	}
}

// TestPassthroughOpaque: an opaque model forwards both ways unchanged and reads no usage; the
// provider's error status and body pass unchanged too.
func TestPassthroughOpaque(t *testing.T) {
	s, base := newRawStub(t, "text/event-stream", oaStreamNoUsage)
	r, err := llm.New(llm.Model("m", llm.OpenAI(llm.BaseURL(base+"/v1"), llm.APIKey("k")), llm.Passthrough(llm.PassthroughOpaque)))
	if err != nil {
		t.Fatal(err)
	}
	url, state := gateway(t, r)
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","stream":true,"messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != oaStreamNoUsage {
		t.Errorf("answer changed: %q", got)
	}
	if st := state(); st.LLM.InputTokens != 0 || st.LLM.ResponseModel != "m" {
		t.Errorf("opaque read usage: %+v", st.LLM)
	}
	s.mu.Lock()
	s.status, s.ct, s.answer = 400, "application/json", `{"error":{"message":"vendor says no","type":"invalid_request_error"}}`
	s.mu.Unlock()
	resp, err = http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(got), "vendor says no") {
		t.Errorf("error changed: %d %s", resp.StatusCode, got)
	}
}

// TestPassthroughWrongFormat: a client that does not speak the passthrough provider's format gets
// a 400 in its own format instead of a request the provider cannot read.
func TestPassthroughWrongFormat(t *testing.T) {
	s, base := newRawStub(t, "application/json", `{}`)
	r, err := llm.New(llm.Model("m", llm.OpenAI(llm.BaseURL(base+"/v1"), llm.APIKey("k")), llm.Passthrough(llm.PassthroughDetect)))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := gateway(t, r)
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/messages", strings.NewReader(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(got), `"type":"error"`) || !strings.Contains(string(got), "passed through") {
		t.Errorf("%d %s", resp.StatusCode, got)
	}
	if body, _, _ := s.got(); body != "" {
		t.Error("the request reached the provider")
	}
}

// TestGeminiToGeminiUnchanged: a Gemini client's call to a Gemini provider keeps its body byte for
// byte (safetySettings and other fields the translation does not carry survive), only the model in
// the path changes, and usage is still read, streamed or not.
func TestGeminiToGeminiUnchanged(t *testing.T) {
	for _, tc := range []struct{ name, path, ct, answer, wantURI string }{
		{"plain", "/v1beta/models/g:generateContent", "application/json",
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6},"modelVersion":"gemini-2.5-flash-001"}`,
			"/v1beta/models/gemini-2.5-flash:generateContent"},
		{"sse", "/v1beta/models/g:streamGenerateContent?alt=sse", "text/event-stream", gmStreamSSE, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, base := newRawStub(t, tc.ct, tc.answer)
			r, err := llm.New(llm.Model("g", llm.Gemini(llm.BaseURL(base+"/v1beta"), llm.APIKey("k")), llm.As("gemini-2.5-flash")))
			if err != nil {
				t.Fatal(err)
			}
			url, state := gateway(t, r)
			in := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}],"cachedContent":"cachedContents/x"}`
			resp, err := http.Post(url+tc.path, "application/json", strings.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != tc.answer {
				t.Errorf("answer changed: %d %s", resp.StatusCode, got)
			}
			body, uri, hdr := s.got()
			if body != in || uri != tc.wantURI || hdr.Get("x-goog-api-key") != "k" {
				t.Errorf("request: %s %s %v", uri, body, hdr)
			}
			if st := state(); st.LLM.InputTokens != 4 || st.LLM.OutputTokens != 2 || st.LLM.Provider != "gcp.gemini" {
				t.Errorf("state %+v", st.LLM)
			}
		})
	}
}

// TestPassthroughResponses: an OpenAI Responses client on a detect model reaches the provider's
// /responses unchanged (stateful fields such as previous_response_id and store survive, which the
// translated path cannot keep), and usage is read from the answer and from response.completed.
func TestPassthroughResponses(t *testing.T) {
	const plain = `{"id":"resp_2","object":"response","status":"completed","model":"gpt-5-2025","output":[],"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":10},"output_tokens":8,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":38}}`
	const stream = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_2\",\"model\":\"gpt-5-2025\"}}\n\n" +
		"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n" +
		"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":" + plain + "}\n\n"
	for name, tc := range map[string]struct{ ct, answer, body string }{
		"plain":  {"application/json", plain, `{"model":"m","input":"again","previous_response_id":"resp_1","store":true}`},
		"stream": {"text/event-stream", stream, `{"model":"m","input":"again","previous_response_id":"resp_1","stream":true}`},
	} {
		t.Run(name, func(t *testing.T) {
			s, base := newRawStub(t, tc.ct, tc.answer)
			r, err := llm.New(llm.Model("m", llm.OpenAI(llm.BaseURL(base+"/v1"), llm.APIKey("k")), llm.Passthrough(llm.PassthroughDetect)))
			if err != nil {
				t.Fatal(err)
			}
			url, state := gateway(t, r)
			resp, err := http.Post(url+"/v1/responses", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != tc.answer {
				t.Errorf("answer changed: %d %s", resp.StatusCode, got)
			}
			if body, uri, _ := s.got(); body != tc.body || uri != "/v1/responses" {
				t.Errorf("request: %s %s", uri, body)
			}
			if st := state(); st.LLM.InputTokens != 30 || st.LLM.OutputTokens != 8 || st.LLM.CachedInputTokens != 10 || st.LLM.ReasoningTokens != 3 || st.LLM.ResponseModel != "gpt-5-2025" {
				t.Errorf("state %+v", st.LLM)
			}
		})
	}
}
