package llm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"golang.org/x/oauth2"

	"github.com/agentgw/agentgateway/llm"
)

// recorder is a stub that records the request and answers with fn.
type recorder struct {
	mu   sync.Mutex
	uri  string
	hdr  http.Header
	body map[string]any
}

func newRecorder(t *testing.T, fn func(w http.ResponseWriter, r *http.Request, body map[string]any)) (*recorder, string) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		rec.mu.Lock()
		rec.uri, rec.hdr, rec.body = r.URL.RequestURI(), r.Header.Clone(), m
		rec.mu.Unlock()
		fn(w, r, m)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func (r *recorder) get() (string, http.Header, map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uri, r.hdr, r.body
}

// openaiStubAnswer answers an OpenAI chat request, streamed or not.
func openaiStubAnswer(w http.ResponseWriter, _ *http.Request, body map[string]any) {
	if body["stream"] == true {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range []string{
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello "},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Azure"},"finish_reason":"stop"}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}`,
			`[DONE]`} {
			fmt.Fprintf(w, "data: %s\n\n", c)
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello Azure"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}`)
}

// TestAzureOpenAI: the OpenAI SDK reaches Azure OpenAI (deployments path with api-version, the v1
// path without one) and Foundry (project path) with the key as api-key, plain and streamed.
func TestAzureOpenAI(t *testing.T) {
	cases := []struct {
		name             string
		typ              llm.AzureResourceType
		version, project string
		wantURI          string
	}{
		{"deployments", llm.AzureOpenAIResource, "2024-10-21", "", "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21"},
		{"v1", llm.AzureOpenAIResource, "", "", "/openai/v1/chat/completions"},
		{"foundry", llm.AzureFoundry, "", "proj1", "/api/projects/proj1/openai/v1/chat/completions"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, url := newRecorder(t, openaiStubAnswer)
			up := llm.AzureOpenAI("res", tc.typ, tc.version, tc.project, llm.BaseURL(url), llm.APIKey("az-key"))
			r, err := llm.New(llm.Model("m", up, llm.As("my-gpt4o")))
			if err != nil {
				t.Fatal(err)
			}
			base, st := serveLLM(t, r)
			c := provOAClient(base)
			resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "m",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
			if err != nil {
				t.Fatal(err)
			}
			uri, hdr, body := rec.get()
			if resp.Choices[0].Message.Content != "Hello Azure" || uri != tc.wantURI || hdr.Get("api-key") != "az-key" || hdr.Get("Authorization") != "" || body["model"] != "my-gpt4o" {
				t.Errorf("content %q uri %q api-key %q body %v", resp.Choices[0].Message.Content, uri, hdr.Get("api-key"), body)
			}
			stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "m",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
			text := ""
			for stream.Next() {
				for _, ch := range stream.Current().Choices {
					text += ch.Delta.Content
				}
			}
			if stream.Err() != nil || text != "Hello Azure" {
				t.Errorf("stream %q %v", text, stream.Err())
			}
			if g := st(); g.Provider != "azure.ai.openai" || g.InputTokens != 7 || g.OutputTokens != 2 {
				t.Errorf("state %+v", g)
			}
		})
	}
	if _, err := llm.New(llm.Model("m", llm.AzureOpenAI("res", llm.AzureFoundry, "", ""))); err == nil || !strings.Contains(err.Error(), "projectName") {
		t.Errorf("foundry without a project: %v", err)
	}
}

// TestVertex: the Anthropic SDK reaches Claude on Vertex (rawPredict / streamRawPredict, the
// Anthropic body without model and with anthropic_version) and the OpenAI SDK reaches Gemini on
// Vertex (publishers/google), both with the OAuth2 access token from the token source.
func TestVertex(t *testing.T) {
	claude, claudeURL := newRecorder(t, anthropicStubAnswer)
	gm := newProvStub(t, "gemini")
	ts := llm.GoogleTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.test-token"}))
	r, err := llm.New(
		llm.Model("claude", llm.Vertex("proj", "us-east5", llm.BaseURL(claudeURL+"/v1/projects/proj/locations/us-east5"), ts), llm.As("claude-sonnet-4@20250514")),
		llm.Model("gem", llm.Vertex("proj", "", llm.BaseURL(gm.srv.URL+"/v1/projects/proj/locations/global"), ts), llm.As("gemini-2.5-flash")),
	)
	if err != nil {
		t.Fatal(err)
	}
	base, st := serveLLM(t, r)
	ac := provANClient(base)
	msg, err := ac.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "claude", MaxTokens: 50,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	if err != nil {
		t.Fatal(err)
	}
	uri, _, body := claude.get()
	if msg.Content[0].Text != "Hello Vertex" || uri != "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict" ||
		body["model"] != nil || body["anthropic_version"] != "vertex-2023-10-16" {
		t.Errorf("claude on vertex: %q uri %q body %v", msg.Content[0].Text, uri, body)
	}
	stream := ac.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{Model: "claude", MaxTokens: 50,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	acc := anthropic.Message{}
	for stream.Next() {
		_ = acc.Accumulate(stream.Current())
	}
	if stream.Err() != nil || len(acc.Content) != 1 || acc.Content[0].Text != "Hello Vertex" || acc.Usage.OutputTokens != 3 {
		t.Errorf("claude stream %+v %v", acc, stream.Err())
	}
	if g := st(); g.Provider != "gcp.vertex_ai" || g.InputTokens != 9 || g.OutputTokens != 3 {
		t.Errorf("state %+v", g)
	}
	// OpenAI client to Gemini on Vertex, streamed (the decoder is chosen from the stream itself).
	oc := provOAClient(base)
	os := oc.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "gem",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	text := ""
	for os.Next() {
		for _, ch := range os.Current().Choices {
			text += ch.Delta.Content
		}
	}
	_, path, _ := gm.last()
	if os.Err() != nil || text != "Hello from gemini" || path != "/v1/projects/proj/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse" {
		t.Errorf("gemini on vertex: %q %v path %q", text, os.Err(), path)
	}
}

// anthropicStubAnswer answers an Anthropic Messages request (or Vertex rawPredict) with "Hello
// Vertex", streamed when the path or body asks for it; it wants the bearer token ya29.test-token.
func anthropicStubAnswer(w http.ResponseWriter, r *http.Request, body map[string]any) {
	if r.Header.Get("Authorization") != "Bearer ya29.test-token" {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`)
		return
	}
	if strings.HasSuffix(r.URL.Path, ":streamRawPredict") || body["stream"] == true {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range [][2]string{
			{"message_start", `{"type":"message_start","message":{"id":"msg_v","type":"message","role":"assistant","model":"claude-sonnet-4","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}`},
			{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
			{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello Vertex"}}`},
			{"content_block_stop", `{"type":"content_block_stop","index":0}`},
			{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}`},
			{"message_stop", `{"type":"message_stop"}`}} {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e[0], e[1])
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"msg_v","type":"message","role":"assistant","model":"claude-sonnet-4","content":[{"type":"text","text":"Hello Vertex"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":3}}`)
}
