package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"

	"github.com/agentgw/agentgateway/llm"
)

func postJSON(t *testing.T, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestFailover: the first target answers 429, the call is served by the next priority group, and the
// evicted target is skipped by the next call.
func TestFailover(t *testing.T) {
	primary, backup := newStub(t, "openai"), newStub(t, "anthropic")
	primary.fail.Store(1)
	r, err := llm.New(
		llm.Model("p", llm.OpenAI(llm.BaseURL(primary.srv.URL+"/v1")), llm.Visible(llm.Internal)),
		llm.Model("b", llm.Anthropic(llm.BaseURL(backup.srv.URL+"/v1")), llm.Visible(llm.Internal), llm.As("claude-x")),
		llm.Failover("smart", llm.Target{Model: "p", Priority: 0}, llm.Target{Model: "b", Priority: 1}),
	)
	if err != nil {
		t.Fatal(err)
	}
	base, st := gateway(t, r)
	c := oaClient(base)
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "smart",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Hello from anthropic" || backup.last()["model"] != "claude-x" {
		t.Fatalf("answer %q model %v", resp.Choices[0].Message.Content, backup.last()["model"])
	}
	if g := st().LLM; g.Provider != "anthropic" || g.RequestModel != "smart" {
		t.Errorf("state %+v", g)
	}
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "smart",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	if primary.count() != 1 || backup.count() != 2 {
		t.Errorf("evicted primary was tried again: primary %d backup %d", primary.count(), backup.count())
	}
	// internal models cannot be asked for directly
	if resp, body := postJSON(t, base+"/v1/chat/completions", `{"model":"p","messages":[]}`); resp.StatusCode != 404 {
		t.Errorf("internal model: %d %s", resp.StatusCode, body)
	}
}

// TestFailoverExhausted: when every target fails, the client gets the last error in its own format
// with the provider's status and Retry-After.
func TestFailoverExhausted(t *testing.T) {
	a, b := newStub(t, "openai"), newStub(t, "openai")
	a.fail.Store(5)
	b.fail.Store(5)
	r, err := llm.New(
		llm.Model("a", llm.OpenAI(llm.BaseURL(a.srv.URL+"/v1"))),
		llm.Model("b", llm.OpenAI(llm.BaseURL(b.srv.URL+"/v1"))),
		llm.Failover("v", llm.Target{Model: "a"}, llm.Target{Model: "b", Priority: 1}),
	)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	resp, body := postJSON(t, base+"/v1/messages", `{"model":"v","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), `"type":"rate_limit_error"`) {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// TestMidStreamError: a provider stream cut short reaches each client as its own error event.
func TestMidStreamError(t *testing.T) {
	for _, wire := range []string{"openai", "anthropic"} {
		t.Run(wire, func(t *testing.T) {
			s, base, _ := pair(t, wire)
			s.cut.Store(true)
			ctx := context.Background()

			oc := oaClient(base)
			stream := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
			for stream.Next() {
			}
			if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "ended early") && wire == "anthropic" {
				t.Errorf("openai client: err %v", err)
			}
			ac := anClient(base)
			astream := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 10,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
			for astream.Next() {
			}
			if err := astream.Err(); err == nil || wire == "openai" && !strings.Contains(err.Error(), "ended early") {
				t.Errorf("anthropic client: err %v", err)
			}
		})
	}
}

// TestBadInput: malformed JSON (400), a missing model (400), an unknown model (404) and an oversized
// body (413), each in the client's format.
func TestBadInput(t *testing.T) {
	s := newStub(t, "openai")
	r, err := llm.New(llm.Model("m", llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"))), llm.MaxBodyBytes(1024))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`
	for _, c := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/v1/chat/completions", `{"model":`, 400, `"type":"invalid_request_error"`},
		{"/v1/chat/completions", `{"messages":[]}`, 400, `"param":"model"`},
		{"/v1/chat/completions", `{"model":"gpt-9","messages":[]}`, 404, `"code":"model_not_found"`},
		// The model routed on must be the one the provider reads: a second "model" is refused.
		{"/v1/chat/completions", `{"model":"m","messages":[],"Model":"gpt-9"}`, 400, `duplicate`},
		{"/v1/chat/completions", `{"model":7,"messages":[]}`, 400, `"type":"invalid_request_error"`},
		{"/v1/chat/completions", `{"model":"m","stream":"yes","messages":[]}`, 400, `stream`},
		{"/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":1},"messages":[]}`, 400, `include_usage`},
		{"/v1/chat/completions", big, 413, `"error":{`},
		{"/v1/chat/completions", `{"model":"m","messages":[{"role":"wizard","content":"x"}]}`, 200, `Hello`}, // same wire: the provider judges
		{"/v1/messages", `[1,2]`, 400, `{"error":{"message":"malformed JSON body`},
		{"/v1/messages", `{"model":"m","model":"gpt-9","max_tokens":1,"messages":[]}`, 400, `duplicate`},
		{"/v1/messages", `{"model":"gpt-9","max_tokens":1,"messages":[]}`, 404, `"type":"not_found_error"`},
		{"/v1/messages", big, 413, `"type":"request_too_large"`},
		{"/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"unknown"}]}]}`, 400, `"type":"invalid_request_error"`},
		{"/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"x","name":"t","input":[1]}]}]}`, 400, `"type":"invalid_request_error"`},
	} {
		resp, body := postJSON(t, base+c.path, c.body)
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %.40s: %d %s, want %d with %s", c.path, c.body, resp.StatusCode, body, c.status, c.want)
		}
		if c.status != 200 && strings.HasSuffix(c.path, "/messages") && !strings.Contains(string(body), `"type":"error"`) {
			t.Errorf("%s: not an Anthropic error object: %s", c.path, body)
		}
	}
	if s.count() != 1 {
		t.Errorf("bad input reached the provider: %d requests", s.count())
	}
}

// TestModelsList: /v1/models lists public exact models and virtual models, not internal ones or
// patterns, in each client's format.
func TestModelsList(t *testing.T) {
	r, err := llm.New(
		llm.Model("gpt-4o", llm.Echo()),
		llm.Model("secret", llm.Echo(), llm.Visible(llm.Internal)),
		llm.Model("claude-*", llm.Echo()),
		llm.Failover("smart", llm.Target{Model: "secret"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	resp, err := http.Get(base + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string
		Data   []struct{ ID string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if list.Object != "list" || len(list.Data) != 2 || list.Data[0].ID != "gpt-4o" || list.Data[1].ID != "smart" {
		t.Errorf("openai models %+v", list)
	}
	ac := anClient(base)
	page, err := ac.Models.List(context.Background(), anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != "gpt-4o" {
		t.Errorf("anthropic models %+v", page.Data)
	}
}

// TestWildcards: exact names win, longer patterns win, and a "prefix/*" pattern strips its prefix.
func TestWildcards(t *testing.T) {
	a, b, c := newStub(t, "openai"), newStub(t, "openai"), newStub(t, "openai")
	r, err := llm.New(
		llm.Model("*", llm.OpenAI(llm.BaseURL(a.srv.URL+"/v1"))),
		llm.Model("gpt-*", llm.OpenAI(llm.BaseURL(b.srv.URL+"/v1"))),
		llm.Model("local/*", llm.OpenAI(llm.BaseURL(c.srv.URL+"/v1"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	for _, x := range []struct {
		model string
		s     *stub
		sent  string
	}{{"gpt-4o", b, "gpt-4o"}, {"local/llama3", c, "llama3"}, {"mistral", a, "mistral"}} {
		resp, body := postJSON(t, base+"/v1/chat/completions", `{"model":"`+x.model+`","messages":[{"role":"user","content":"hi"}]}`)
		if resp.StatusCode != 200 || x.s.last()["model"] != x.sent {
			t.Errorf("%s: %d %s, sent %v", x.model, resp.StatusCode, body, x.s.last()["model"])
		}
	}
}

// TestUpstreamOptions: path prefix and override, passthrough of the client's key, defaults and
// overrides and a header on the provider request.
func TestUpstreamOptions(t *testing.T) {
	s := newStub(t, "openai")
	r, err := llm.New(
		llm.Model("a", llm.OpenAI(llm.BaseURL(s.srv.URL), llm.PathPrefix("/api/v2"), llm.PassthroughKey()),
			llm.Defaults(map[string]any{"temperature": 0.1, "max_completion_tokens": 99}), llm.Overrides(map[string]any{"top_p": 0.5}),
			llm.RequestHeader("X-Team", "blue")),
		llm.Model("b", llm.OpenAI(llm.HostOverride(strings.TrimPrefix(s.srv.URL, "http://")), llm.PathOverride("/custom/chat"), llm.APIKey("cfg"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	postJSON(t, base+"/v1/chat/completions", `{"model":"a","temperature":0.9,"messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer client-secret")
	got := s.last()
	if s.paths[0] != "/api/v2/chat/completions" || s.lastHeader().Get("Authorization") != "Bearer client-secret" || s.lastHeader().Get("X-Team") != "blue" {
		t.Errorf("path %s headers %v", s.paths[0], s.lastHeader())
	}
	if got["temperature"] != 0.9 || got["max_completion_tokens"] != float64(99) || got["top_p"] != 0.5 {
		t.Errorf("defaults/overrides: %v", got)
	}
	postJSON(t, base+"/v1/messages", `{"model":"b","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "x-api-key", "client-secret")
	if s.paths[1] != "/custom/chat" || s.lastHeader().Get("Authorization") != "Bearer cfg" {
		t.Errorf("path %s auth %q", s.paths[1], s.lastHeader().Get("Authorization"))
	}
}

// TestConfigErrors: New reports configuration mistakes.
func TestConfigErrors(t *testing.T) {
	for _, opts := range [][]llm.Option{
		nil,
		{llm.Model("a", llm.OpenAI(llm.BaseURL("ftp://x")))},
		{llm.Model("a*b", llm.Echo())},
		{llm.Model("a", llm.Echo()), llm.Model("a", llm.Echo())},
		{llm.Model("a", llm.Echo()), llm.Failover("v", llm.Target{Model: "zzz"})},
		{llm.Model("a", llm.OpenAI(llm.APIKeyEnv("AGW_TEST_UNSET_KEY_VAR")))},
	} {
		if _, err := llm.New(opts...); err == nil {
			t.Errorf("no error for %d options", len(opts))
		}
	}
}

// TestErrorsMatch: the router's errors are matchable with errors.Is.
func TestErrorsMatch(t *testing.T) {
	_, err := llm.OpenAIChat{}.DecodeRequest([]byte(`{`))
	if !errors.Is(err, llm.ErrMalformedRequest) {
		t.Errorf("%v is not ErrMalformedRequest", err)
	}
}
