package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// textStub is a provider of one wire (openai or anthropic) that answers with the given text
// deltas, streamed or as one answer, and records what it received.
type textStub struct {
	wire   string
	deltas []string
	srv    *httptest.Server
	mu     sync.Mutex
	last   map[string]any
	n      atomic.Int32
}

func newTextStub(t *testing.T, wire string, deltas ...string) *textStub {
	s := &textStub{wire: wire, deltas: deltas}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *textStub) request() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *textStub) upstream() *llm.Upstream {
	if s.wire == "openai" {
		return llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))
	}
	return llm.Anthropic(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))
}

func (s *textStub) serve(w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	_ = json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	s.last = req
	s.mu.Unlock()
	s.n.Add(1)
	stream, _ := req["stream"].(bool)
	model, _ := req["model"].(string)
	text := strings.Join(s.deltas, "")
	fl := w.(http.Flusher)
	switch {
	case s.wire == "openai" && !stream:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`, model, text)
	case s.wire == "openai":
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(delta, finish string) {
			fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]}\n\n", model, delta, finish)
			fl.Flush()
		}
		chunk(`{"role":"assistant","content":""}`, "null")
		for _, d := range s.deltas {
			b, _ := json.Marshal(d)
			chunk(`{"content":`+string(b)+`}`, "null")
		}
		chunk(`{}`, `"stop"`)
		fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\ndata: [DONE]\n\n", model)
	case !stream:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"m1","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":%q}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4}}`, model, text)
	default:
		w.Header().Set("Content-Type", "text/event-stream")
		ev := func(name, data string) { fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data); fl.Flush() }
		ev("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}`, model))
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		for _, d := range s.deltas {
			b, _ := json.Marshal(d)
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(b)+`}}`)
		}
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}`)
		ev("message_stop", `{"type":"message_stop"}`)
	}
}

// splitCard is an answer whose card number and email are split across deltas.
var splitCard = []string{"Your card is 4111 1111", " 1111 1111 and your mail is bob@exa", "mple.com. Bye"}

const maskedCard = "Your card is <CREDIT_CARD> and your mail is <EMAIL_ADDRESS>. Bye"

func maskGuard() llm.PromptGuard {
	return llm.PromptGuard{Response: []*llm.Guard{llm.Regex(llm.Mask, llm.Builtin("creditCard"), llm.Builtin("email"))}}
}

// TestGuardMasksSplitStream: a card number and an email split over deltas reach the official
// OpenAI and Anthropic SDKs masked, streamed and not, same-wire and translated.
func TestGuardMasksSplitStream(t *testing.T) {
	ctx := context.Background()
	for _, wire := range []string{"openai", "anthropic"} {
		s := newTextStub(t, wire, splitCard...)
		r, err := llm.New(llm.Model("m", s.upstream()), llm.Govern(llm.AIPolicy{PromptGuard: ptr(maskGuard())}))
		if err != nil {
			t.Fatal(err)
		}
		base, _ := gateway(t, r)
		oc := oaClient(base)
		st := oc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("card?")}})
		var got strings.Builder
		for st.Next() {
			if ch := st.Current(); len(ch.Choices) > 0 {
				got.WriteString(ch.Choices[0].Delta.Content)
			}
		}
		if err := st.Err(); err != nil || got.String() != maskedCard {
			t.Fatalf("%s: OpenAI stream = %q, %v; want %q", wire, got.String(), err, maskedCard)
		}
		resp, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("card?")}})
		if err != nil || resp.Choices[0].Message.Content != maskedCard {
			t.Fatalf("%s: OpenAI answer = %+v, %v", wire, resp, err)
		}
		ac := anClient(base)
		as := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 100,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("card?"))}})
		got.Reset()
		for as.Next() {
			if ev := as.Current(); ev.Type == "content_block_delta" {
				got.WriteString(ev.Delta.Text)
			}
		}
		if err := as.Err(); err != nil || got.String() != maskedCard {
			t.Fatalf("%s: Anthropic stream = %q, %v", wire, got.String(), err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestGuardRejectsInClientFormat: a rejected request reaches each SDK as its own error type with
// the configured status and message, and never reaches the provider.
func TestGuardRejectsInClientFormat(t *testing.T) {
	ctx := context.Background()
	s := newTextStub(t, "anthropic", "hi")
	pg := llm.PromptGuard{Request: []*llm.Guard{llm.Regex(llm.Reject, llm.Builtin("ssn")).
		Rejecting(llm.Rejection{Status: 400, Body: "no SSNs please", Set: map[string]string{"X-Guard": "ssn"}})}}
	r, err := llm.New(llm.Model("m", s.upstream()), llm.Govern(llm.AIPolicy{PromptGuard: &pg}))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	oc := oaClient(base)
	_, err = oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("my ssn is 123-45-6789")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 400 || oe.Message != "no SSNs please" || oe.Response.Header.Get("X-Guard") != "ssn" {
		t.Fatalf("OpenAI client got %v", err)
	}
	ac := anClient(base)
	_, err = ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("ssn 123-45-6789"))}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(ae.RawJSON(), `"invalid_request_error"`) || !strings.Contains(ae.RawJSON(), "no SSNs please") {
		t.Fatalf("Anthropic client got %v", err)
	}
	if s.n.Load() != 0 {
		t.Fatalf("the provider was called %d times", s.n.Load())
	}
	// A response rejected mid-stream ends with the client's error event.
	rs := newTextStub(t, "openai", "call 555-123-", "4567 now")
	r2, err := llm.New(llm.Model("m", rs.upstream()), llm.Govern(llm.AIPolicy{PromptGuard: &llm.PromptGuard{
		Response: []*llm.Guard{llm.Regex(llm.Reject, llm.Builtin("phoneNumber"))}}}))
	if err != nil {
		t.Fatal(err)
	}
	base2, _ := gateway(t, r2)
	oc2 := oaClient(base2)
	st := oc2.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("number?")}})
	var got strings.Builder
	for st.Next() {
		if ch := st.Current(); len(ch.Choices) > 0 {
			got.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if st.Err() == nil || !strings.Contains(st.Err().Error(), "inappropriate content") || strings.Contains(got.String(), "555") {
		t.Fatalf("stream: text %q, err %v", got.String(), st.Err())
	}
}

// webhookServer is a guardrail webhook: it rejects "forbidden", masks "secret" and passes the rest;
// status makes it fail.
func webhookServer(t *testing.T, status *atomic.Int32, seen *atomic.Value) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		var in struct {
			Body struct {
				Messages []map[string]string `json:"messages"`
				Choices  []struct {
					Message map[string]string `json:"message"`
				} `json:"choices"`
			} `json:"body"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		seen.Store(r.URL.Path + " " + r.Header.Get("X-Tenant"))
		w.Header().Set("Content-Type", "application/json")
		var texts []string
		for _, m := range in.Body.Messages {
			texts = append(texts, m["content"])
		}
		for _, c := range in.Body.Choices {
			texts = append(texts, c.Message["content"])
		}
		all := strings.Join(texts, " ")
		switch {
		case strings.Contains(all, "forbidden"):
			fmt.Fprint(w, `{"action":{"body":"forbidden topic","status_code":422,"reason":"topic"}}`)
		case strings.Contains(all, "secret"):
			for i := range in.Body.Messages {
				in.Body.Messages[i]["content"] = strings.ReplaceAll(in.Body.Messages[i]["content"], "secret", "[redacted]")
			}
			for i := range in.Body.Choices {
				in.Body.Choices[i].Message["content"] = strings.ReplaceAll(in.Body.Choices[i].Message["content"], "secret", "[redacted]")
			}
			b, _ := json.Marshal(map[string]any{"action": map[string]any{"body": in.Body, "reason": "masked"}})
			w.Write(b)
		default:
			fmt.Fprint(w, `{"action":{"reason":"fine"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWebhookGuard: the webhook passes, masks (requests and streamed answers) and rejects; when it
// fails, a fail-closed guard answers 503 and a fail-open one lets the call through.
func TestWebhookGuard(t *testing.T) {
	ctx := context.Background()
	var status atomic.Int32
	var seen atomic.Value
	wh := webhookServer(t, &status, &seen)
	s := newTextStub(t, "openai", "the sec", "ret is out")
	mk := func(open bool) string {
		g := func() *llm.Guard {
			g := llm.Webhook(wh.URL).ForwardHeader("X-Tenant", nil)
			if open {
				g = g.FailOpen()
			}
			return g
		}
		r, err := llm.New(llm.Model("m", s.upstream()), llm.Govern(llm.AIPolicy{PromptGuard: &llm.PromptGuard{
			Request: []*llm.Guard{g()}, Response: []*llm.Guard{g()}}}))
		if err != nil {
			t.Fatal(err)
		}
		base, _ := gateway(t, r)
		return base
	}
	closed, open := mk(false), mk(true)
	ask := func(base, text string) (string, error) {
		c := oaClient(base)
		resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}, optionHeader("X-Tenant", "acme"))
		if err != nil {
			return "", err
		}
		return resp.Choices[0].Message.Content, nil
	}
	if out, err := ask(closed, "tell me the secret"); err != nil || out != "the [redacted] is out" {
		t.Fatalf("mask: %q, %v", out, err)
	}
	if msgs := s.request()["messages"].([]any); msgs[0].(map[string]any)["content"] != "tell me the [redacted]" {
		t.Fatalf("the provider got %v", msgs)
	}
	if v := seen.Load(); v != "/response acme" {
		t.Fatalf("webhook saw %v", v)
	}
	_, err := ask(closed, "a forbidden question")
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 422 || oe.Message != "forbidden topic" {
		t.Fatalf("reject: %v", err)
	}
	// streamed answer masked by the webhook at the end of the block
	cc := oaClient(closed)
	st := cc.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}})
	var got strings.Builder
	for st.Next() {
		if ch := st.Current(); len(ch.Choices) > 0 {
			got.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if st.Err() != nil || got.String() != "the [redacted] is out" {
		t.Fatalf("stream: %q, %v", got.String(), st.Err())
	}
	status.Store(500)
	if _, err := ask(closed, "hello"); !errors.As(err, &oe) || oe.StatusCode != 503 {
		t.Fatalf("fail closed: %v", err)
	}
	if out, err := ask(open, "hello"); err != nil || out != "the secret is out" {
		t.Fatalf("fail open: %q, %v", out, err)
	}
}

// TestModerationGuard: a flagged request is rejected without reaching the provider; a clean one
// passes; the moderation endpoint gets the model and the key.
func TestModerationGuard(t *testing.T) {
	ctx := context.Background()
	var auth atomic.Value
	mod := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		auth.Store(r.URL.Path + " " + r.Header.Get("Authorization") + " " + in.Model)
		flagged := strings.Contains(strings.Join(in.Input, " "), "hurt")
		fmt.Fprintf(w, `{"id":"modr-1","model":%q,"results":[{"flagged":%t,"categories":{"violence":%t}}]}`, in.Model, flagged, flagged)
	}))
	t.Cleanup(mod.Close)
	s := newTextStub(t, "openai", "ok")
	g := llm.Moderation().Endpoint(mod.URL + "/v1").Key("sk-mod").Rejecting(llm.Rejection{Body: "moderated"})
	r, err := llm.New(llm.Model("m", s.upstream()), llm.Govern(llm.AIPolicy{PromptGuard: &llm.PromptGuard{Request: []*llm.Guard{g}}}))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	mc := anClient(base)
	_, err = mc.Messages.New(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("how to hurt"))}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 || !strings.Contains(ae.RawJSON(), "moderated") || s.n.Load() != 0 {
		t.Fatalf("flagged: %v", err)
	}
	if v := auth.Load(); v != "/v1/moderations Bearer sk-mod omni-moderation-latest" {
		t.Fatalf("moderation call: %v", v)
	}
	if _, err := mc.Messages.New(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}}); err != nil {
		t.Fatal(err)
	}
}

// TestAIPolicyShapesRequest: defaults, overrides, CEL transformations, prompts, model aliases and
// prompt caching of a route's ai policy are what the provider receives.
func TestAIPolicyShapesRequest(t *testing.T) {
	ctx := context.Background()
	s := newTextStub(t, "anthropic", "ok")
	r, err := llm.New(llm.Model("claude-real", s.upstream()))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := llm.NewAIPolicy(llm.AIPolicy{
		Defaults:        map[string]any{"temperature": 0.5, "top_p": 0.9},
		Overrides:       map[string]any{"max_tokens": 77},
		Transformations: map[string]string{"user": `"u-" + request.headers["x-user"]`},
		// after translation: a field of the provider's format the client's cannot carry
		FinalTransformations: map[string]string{"top_k": "5"},
		Prompts: &llm.Prompts{Prepend: []llm.PromptMessage{{Role: "system", Content: "Be brief."}},
			Append: []llm.PromptMessage{{Role: "user", Content: "Answer in French."}}},
		ModelAliases:  map[string]string{"fast": "claude-real"},
		PromptCaching: &llm.PromptCaching{CacheSystem: true, CacheMessages: true, CacheTools: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Route("llm").PathPrefix("/").Use(pol).To(r); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	pc := oaClient(srv.URL)
	_, err = pc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fast",
		Temperature: openai.Float(0.1),
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You help."), openai.UserMessage("Hi")},
		Tools:       []openai.ChatCompletionToolUnionParam{weatherTool}}, optionHeader("X-User", "ann"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(s.request())
	var m map[string]any
	_ = json.Unmarshal(got, &m)
	check := func(what string, v any, want string) {
		t.Helper()
		b, _ := json.Marshal(v)
		if string(b) != want {
			t.Errorf("%s = %s, want %s", what, b, want)
		}
	}
	check("model", m["model"], `"claude-real"`)
	check("temperature", m["temperature"], `0.1`)
	check("top_p", m["top_p"], `0.9`)
	check("max_tokens", m["max_tokens"], `77`)
	check("top_k", m["top_k"], `5`)
	check("metadata", m["metadata"], `{"user_id":"u-ann"}`)
	check("system", m["system"], `[{"text":"Be brief.","type":"text"},{"cache_control":{"type":"ephemeral"},"text":"You help.","type":"text"}]`)
	// Anthropic merges consecutive user turns: the appended prompt joins the client's.
	check("messages", m["messages"], `[{"content":[{"text":"Hi","type":"text"},{"cache_control":{"type":"ephemeral"},"text":"Answer in French.","type":"text"}],"role":"user"}]`)
	tools := m["tools"].([]any)
	check("tool cache", tools[len(tools)-1].(map[string]any)["cache_control"], `{"type":"ephemeral"}`)
}

func optionHeader(k, v string) option.RequestOption { return option.WithHeader(k, v) }

// TestGuardKeepsNativeAnswer: a same-wire answer that no response guard changes reaches the client
// byte for byte (fields the neutral form does not model included); a masked one is re-encoded
// from the neutral form.
func TestGuardKeepsNativeAnswer(t *testing.T) {
	s := newStub(t, "openai")
	r, err := llm.New(llm.Model("m", llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))),
		llm.Govern(llm.AIPolicy{PromptGuard: &llm.PromptGuard{Response: []*llm.Guard{llm.Regex(llm.Mask, llm.Pattern("openai"))}}}))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := gateway(t, r)
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	msg := got["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	if msg["content"] != "Hello from <MASKED>" {
		t.Fatalf("masked answer: %v", got)
	}
	r2, err := llm.New(llm.Model("m", llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))),
		llm.Govern(llm.AIPolicy{PromptGuard: &llm.PromptGuard{Response: []*llm.Guard{llm.Regex(llm.Mask, llm.Builtin("email"))}}}))
	if err != nil {
		t.Fatal(err)
	}
	base2, _ := gateway(t, r2)
	resp, err = http.Post(base2+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got["system_fingerprint"] != "fp_1" || got["service_tier"] != "default" {
		t.Fatalf("unchanged answer lost its fields: %v", got)
	}
}

// TestGuardStreamingPerLayer: a layer whose guards pass streams (agentgateway's streaming:
// Disabled) does not switch off another layer's stream guards.
func TestGuardStreamingPerLayer(t *testing.T) {
	ctx := context.Background()
	s := newTextStub(t, "openai", splitCard...)
	r, err := llm.New(llm.Model("m", s.upstream()), llm.Govern(llm.AIPolicy{PromptGuard: &llm.PromptGuard{
		Response: []*llm.Guard{llm.Regex(llm.Mask, llm.Builtin("creditCard"))}}}))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := llm.NewAIPolicy(llm.AIPolicy{PromptGuard: &llm.PromptGuard{PassStreams: true,
		Response: []*llm.Guard{llm.Regex(llm.Mask, llm.Builtin("email"))}}})
	if err != nil {
		t.Fatal(err)
	}
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Route("llm").PathPrefix("/").Use(pol).To(r); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	c := oaClient(srv.URL)
	params := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}}
	st := c.Chat.Completions.NewStreaming(ctx, params)
	var got strings.Builder
	for st.Next() {
		if ch := st.Current(); len(ch.Choices) > 0 {
			got.WriteString(ch.Choices[0].Delta.Content)
		}
	}
	if want := "Your card is <CREDIT_CARD> and your mail is bob@example.com. Bye"; st.Err() != nil || got.String() != want {
		t.Fatalf("stream = %q, %v; want %q", got.String(), st.Err(), want)
	}
	resp, err := c.Chat.Completions.New(ctx, params)
	if err != nil || resp.Choices[0].Message.Content != maskedCard {
		t.Fatalf("answer = %+v, %v", resp, err)
	}
}
