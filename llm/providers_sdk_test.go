package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

var provWeatherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name: "get_weather", Description: openai.String("Weather of a city"),
	Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
})

var provANWeatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name: "get_weather", Description: anthropic.String("Weather of a city"),
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
}}

// providerPair routes the client model "m" to a stub of wire ("gemini" or "bedrock") as the upstream
// model "up-model" (for Bedrock an ID with ':' that must be escaped in the path and the signature).
func providerPair(t *testing.T, wire string, opts ...llm.UpstreamOption) (*provStub, string, func() agentgateway.LLMState) {
	t.Helper()
	s := newProvStub(t, wire)
	var up *llm.Upstream
	model := "up-model"
	if wire == "gemini" {
		up = llm.Gemini(append([]llm.UpstreamOption{llm.BaseURL(s.srv.URL + "/v1beta"), llm.APIKey("gk-up")}, opts...)...)
	} else {
		model = "anthropic.claude-3-5-haiku-20241022-v1:0"
		if len(opts) == 0 {
			opts = []llm.UpstreamOption{staticCreds(testSecretKey)}
		}
		up = llm.Bedrock(testRegion, append([]llm.UpstreamOption{llm.BaseURL(s.srv.URL)}, opts...)...)
	}
	r, err := llm.New(llm.Model("m", up, llm.As(model)))
	if err != nil {
		t.Fatal(err)
	}
	base, st := serveLLM(t, r)
	return s, base, st
}

func provOAClient(base string) openai.Client {
	return openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
}

func provANClient(base string) anthropic.Client {
	return anthropic.NewClient(anthropicoption.WithBaseURL(base+"/"), anthropicoption.WithAPIKey("client-key"), anthropicoption.WithMaxRetries(0))
}

// TestOpenAIClientToProviders runs the official OpenAI SDK against Gemini and Bedrock stubs: a plain
// call, a stream, and a tool-call round trip streamed and not. It checks the content, the finish
// reason, the tool call and its arguments, the upstream path (model in the path, alt=sse for
// streams), the credential (x-goog-api-key; a SigV4 signature the stub verifies) and the
// normalised usage.
func TestOpenAIClientToProviders(t *testing.T) {
	for _, wire := range []string{"gemini", "bedrock"} {
		t.Run(wire, func(t *testing.T) {
			s, base, st := providerPair(t, wire)
			c := provOAClient(base)
			ctx := context.Background()
			want := "Hello from " + wire

			resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m", MaxCompletionTokens: openai.Int(64),
				Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hi")}})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0].Message.Content; got != want || resp.Choices[0].FinishReason != "stop" {
				t.Errorf("content %q finish %q, want %q", got, resp.Choices[0].FinishReason, want)
			}
			if resp.Usage.PromptTokens != 12 || resp.Usage.CompletionTokens != 5 || resp.Usage.PromptTokensDetails.CachedTokens != 2 {
				t.Errorf("usage %+v", resp.Usage)
			}
			body, path, hdr := s.last()
			switch wire {
			case "gemini":
				if path != "/v1beta/models/up-model:generateContent" || hdr.Get("x-goog-api-key") != "gk-up" {
					t.Errorf("gemini path %q key %q", path, hdr.Get("x-goog-api-key"))
				}
				sys, _ := json.Marshal(body["systemInstruction"])
				gc, _ := json.Marshal(body["generationConfig"])
				if string(sys) != `{"parts":[{"text":"be brief"}]}` || string(gc) != `{"maxOutputTokens":64}` {
					t.Errorf("gemini system %s generationConfig %s", sys, gc)
				}
			case "bedrock":
				if path != "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse" {
					t.Errorf("bedrock path %q", path)
				}
				sys, _ := json.Marshal(body["system"])
				inf, _ := json.Marshal(body["inferenceConfig"])
				if string(sys) != `[{"text":"be brief"}]` || string(inf) != `{"maxTokens":64}` {
					t.Errorf("bedrock system %s inferenceConfig %s", sys, inf)
				}
			}
			if g := st(); g.Provider != map[string]string{"gemini": "gcp.gemini", "bedrock": "aws.bedrock"}[wire] ||
				g.InputTokens != 12 || g.OutputTokens != 5 || g.CachedInputTokens != 2 || g.ResponseModel == "" {
				t.Errorf("state %+v", g)
			}

			stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m",
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
			acc := openai.ChatCompletionAccumulator{}
			chunks := 0
			for stream.Next() {
				acc.AddChunk(stream.Current())
				chunks++
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if got := acc.Choices[0].Message.Content; got != want || acc.Usage.PromptTokens != 12 || acc.Usage.CompletionTokens != 5 || chunks < 3 {
				t.Errorf("streamed %q usage %+v in %d chunks", got, acc.Usage, chunks)
			}
			if _, path, _ := s.last(); wire == "gemini" && path != "/v1beta/models/up-model:streamGenerateContent?alt=sse" ||
				wire == "bedrock" && !strings.HasSuffix(path, "/converse-stream") {
				t.Errorf("stream path %q", path)
			}
			if g := st(); !g.Streaming || g.InputTokens != 12 || g.OutputTokens != 5 {
				t.Errorf("stream state %+v", g)
			}

			openaiToolRoundTrip(t, ctx, c, provWeatherTool)
			body, _, _ = s.last()
			hist, _ := json.Marshal(body)
			switch wire {
			case "gemini":
				if !strings.Contains(string(hist), `"functionDeclarations":[{"description":"Weather of a city","name":"get_weather","parametersJsonSchema":{`) ||
					!strings.Contains(string(hist), `{"functionCall":{"args":{"city":"Paris"},"name":"get_weather"}}`) ||
					!strings.Contains(string(hist), `{"functionResponse":{"name":"get_weather","response":{"result":"sunny, 21C"}}}`) {
					t.Errorf("gemini tool history %s", hist)
				}
			case "bedrock":
				if !strings.Contains(string(hist), `"toolSpec":{"description":"Weather of a city","inputSchema":{"json":`) ||
					!strings.Contains(string(hist), `{"toolUse":{"input":{"city":"Paris"},"name":"get_weather","toolUseId":"tooluse_abc123"}}`) ||
					!strings.Contains(string(hist), `{"toolResult":{"content":[{"text":"sunny, 21C"}],"toolUseId":"tooluse_abc123"}}`) {
					t.Errorf("bedrock tool history %s", hist)
				}
			}
		})
	}
}

// TestAnthropicClientToProviders runs the official Anthropic SDK against Bedrock and Gemini stubs:
// plain, streamed, and a tool-call round trip streamed and not.
func TestAnthropicClientToProviders(t *testing.T) {
	for _, wire := range []string{"bedrock", "gemini"} {
		t.Run(wire, func(t *testing.T) {
			_, base, st := providerPair(t, wire)
			c := provANClient(base)
			ctx := context.Background()
			want := "Hello from " + wire

			msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 100,
				System:   []anthropic.TextBlockParam{{Text: "be brief"}},
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Text != want || msg.StopReason != "end_turn" {
				t.Fatalf("message %+v", msg)
			}
			// Anthropic counts input without the cached tokens: 12 in all, 2 of them cached.
			if msg.Usage.InputTokens != 10 || msg.Usage.CacheReadInputTokens != 2 || msg.Usage.OutputTokens != 5 {
				t.Errorf("usage %+v", msg.Usage)
			}

			stream := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
			acc := anthropic.Message{}
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if len(acc.Content) != 1 || acc.Content[0].Text != want || acc.StopReason != "end_turn" || acc.Usage.OutputTokens != 5 {
				t.Fatalf("streamed %+v", acc)
			}
			if g := st(); !g.Streaming || g.OutputTokens != 5 || g.InputTokens != 12 {
				t.Errorf("stream state %+v", g)
			}

			anthropicToolRoundTrip(t, ctx, c, provANWeatherTool)
		})
	}
}

// TestBedrockBadSignature: requests signed with the wrong secret are refused by the stub's SigV4
// check, and the client gets the provider's 403 as its own error object.
func TestBedrockBadSignature(t *testing.T) {
	s, base, _ := providerPair(t, "bedrock", staticCreds("wrong-secret"))
	c := provANClient(base)
	_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "m", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 || !strings.Contains(ae.Error(), "signature") {
		t.Fatalf("error %v", err)
	}
	if s.failSig != 1 {
		t.Errorf("stub rejected %d signatures", s.failSig)
	}
}

// TestProviderMidStreamError: a provider failing mid-stream (a Gemini error event, a Bedrock
// throttlingException) reaches an OpenAI client as an error after the text already sent, and an
// Anthropic client as its error event.
func TestProviderMidStreamError(t *testing.T) {
	for _, wire := range []string{"gemini", "bedrock"} {
		t.Run(wire, func(t *testing.T) {
			s, base, _ := providerPair(t, wire)
			s.midStreamError = true
			oc, ac := provOAClient(base), provANClient(base)
			stream := oc.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "m",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
			text := ""
			for stream.Next() {
				for _, ch := range stream.Current().Choices {
					text += ch.Delta.Content
				}
			}
			if stream.Err() == nil || text != "Hello fro" && text != "Hello fr" {
				t.Errorf("openai: text %q err %v", text, stream.Err())
			}
			as := ac.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{Model: "m", MaxTokens: 10,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
			for as.Next() {
			}
			wantMsg := map[string]string{"gemini": "overloaded", "bedrock": "Too many tokens"}[wire]
			if as.Err() == nil || !strings.Contains(as.Err().Error(), wantMsg) {
				t.Errorf("anthropic: err %v", as.Err())
			}
		})
	}
}

// TestProviderErrors: a provider's error answer reaches the client with its status and message.
func TestProviderErrors(t *testing.T) {
	_, base, _ := providerPair(t, "gemini", llm.APIKey("wrong"))
	oc := provOAClient(base)
	_, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 401 || !strings.Contains(oe.Message, "API key not valid") {
		t.Fatalf("error %v", err)
	}
}
