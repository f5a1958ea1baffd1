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

// pair builds a gateway routing the client model "m" to a stub of the given wire.
func pair(t *testing.T, wire string) (*stub, string, func() agentgateway.LLMState) {
	t.Helper()
	s := newStub(t, wire)
	var up *llm.Upstream
	if wire == "openai" {
		up = llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("sk-up"))
	} else {
		up = llm.Anthropic(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("sk-ant-up"))
	}
	r, err := llm.New(llm.Model("m", up, llm.As("upstream-model")))
	if err != nil {
		t.Fatal(err)
	}
	u, st := gateway(t, r)
	return s, u, func() agentgateway.LLMState { return st().LLM }
}

func oaClient(base string) openai.Client {
	return openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
}

func anClient(base string) anthropic.Client {
	return anthropic.NewClient(anthropicoption.WithBaseURL(base+"/"), anthropicoption.WithAPIKey("client-key"), anthropicoption.WithMaxRetries(0))
}

var weatherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name: "get_weather", Description: openai.String("Weather of a city"),
	Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
})

var anWeatherTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name: "get_weather", Description: anthropic.String("Weather of a city"),
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}},
}}

// TestOpenAIClient runs the official OpenAI SDK against OpenAI and Anthropic providers: a plain call,
// a stream, and a tool-call round trip (streamed and not), checking content, tool calls, the model
// sent upstream, and the usage in the State.
func TestOpenAIClient(t *testing.T) {
	for _, wire := range []string{"openai", "anthropic"} {
		t.Run(wire, func(t *testing.T) {
			s, base, st := pair(t, wire)
			c := oaClient(base)
			ctx := context.Background()
			want := "Hello from " + wire

			resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hi")}})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0].Message.Content; got != want {
				t.Errorf("content %q, want %q", got, want)
			}
			if resp.Choices[0].FinishReason != "stop" || resp.Usage.PromptTokens != 12 || resp.Usage.CompletionTokens != 5 {
				t.Errorf("finish %q usage %+v", resp.Choices[0].FinishReason, resp.Usage)
			}
			if got := s.last()["model"]; got != "upstream-model" {
				t.Errorf("upstream model %v", got)
			}
			if wire == "anthropic" {
				if s.last()["system"] != "be brief" || s.lastHeader().Get("x-api-key") != "sk-ant-up" || s.lastHeader().Get("anthropic-version") == "" {
					t.Errorf("anthropic request: system %v headers %v", s.last()["system"], s.lastHeader())
				}
			} else if s.lastHeader().Get("Authorization") != "Bearer sk-up" {
				t.Errorf("openai auth %q", s.lastHeader().Get("Authorization"))
			}
			if g := st(); g.Provider != wire || g.RequestModel != "m" || g.InputTokens != 12 || g.OutputTokens != 5 || g.CachedInputTokens != 2 || g.Operation != "chat" {
				t.Errorf("state %+v", g)
			}

			// streaming, with usage asked for
			stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m",
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
			acc := openai.ChatCompletionAccumulator{}
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if got := acc.Choices[0].Message.Content; got != want {
				t.Errorf("streamed content %q, want %q", got, want)
			}
			if acc.Usage.PromptTokens != 12 || acc.Usage.CompletionTokens != 5 {
				t.Errorf("streamed usage %+v", acc.Usage)
			}
			if g := st(); !g.Streaming || g.InputTokens != 12 || g.OutputTokens != 5 || g.FirstToken == 0 {
				t.Errorf("stream state %+v", g)
			}
			if wire == "openai" {
				so, _ := s.last()["stream_options"].(map[string]any)
				if so["include_usage"] != true {
					t.Errorf("usage not asked for upstream: %v", s.last())
				}
			}

			// tool round trip, streamed and not
			openaiToolRoundTrip(t, ctx, c, weatherTool)
			if wire == "anthropic" {
				// the tool result reached Anthropic as a tool_result block answering the tool_use
				msgs := s.last()["messages"].([]any)
				if len(msgs) != 3 {
					t.Fatalf("anthropic messages %v", msgs)
				}
				asst, _ := json.Marshal(msgs[1])
				user, _ := json.Marshal(msgs[2])
				if !strings.Contains(string(asst), `"type":"tool_use"`) || !strings.Contains(string(user), `"tool_use_id":"`) {
					t.Errorf("tool history %s / %s", asst, user)
				}
			}
		})
	}
}

// TestAnthropicClient runs the official Anthropic SDK against Anthropic and OpenAI providers.
func TestAnthropicClient(t *testing.T) {
	for _, wire := range []string{"anthropic", "openai"} {
		t.Run(wire, func(t *testing.T) {
			s, base, st := pair(t, wire)
			c := anClient(base)
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
			if got := s.last()["model"]; got != "upstream-model" {
				t.Errorf("upstream model %v", got)
			}
			if wire == "openai" {
				msgs := s.last()["messages"].([]any)
				if m0 := msgs[0].(map[string]any); m0["role"] != "system" || m0["content"] != "be brief" {
					t.Errorf("system prompt %v", msgs[0])
				}
				if s.last()["max_completion_tokens"] != float64(100) {
					t.Errorf("max tokens %v", s.last())
				}
			}
			g := st()
			if g.Provider != wire || g.InputTokens == 0 || g.OutputTokens != 5 || g.CachedInputTokens != 2 {
				t.Errorf("state %+v", g)
			}
			// Anthropic counts input without the cached tokens.
			if wire == "anthropic" && (msg.Usage.InputTokens != 10 || msg.Usage.CacheReadInputTokens != 2) {
				t.Errorf("usage %+v", msg.Usage)
			}
			if wire == "openai" && (msg.Usage.InputTokens != 10 || msg.Usage.CacheReadInputTokens != 2) {
				t.Errorf("usage from openai %+v", msg.Usage)
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
			if g := st(); !g.Streaming || g.OutputTokens != 5 || g.InputTokens == 0 {
				t.Errorf("stream state %+v", g)
			}

			anthropicToolRoundTrip(t, ctx, c, anWeatherTool)
			if wire == "openai" {
				msgs := s.last()["messages"].([]any)
				last := msgs[len(msgs)-1].(map[string]any)
				asst := msgs[len(msgs)-2].(map[string]any)
				if last["role"] != "tool" || last["tool_call_id"] == "" || asst["tool_calls"] == nil {
					t.Errorf("openai tool history %v", msgs)
				}
			}

			// count_tokens: forwarded to Anthropic, estimated for OpenAI
			n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: "m",
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there, how are you"))}})
			if err != nil {
				t.Fatal(err)
			}
			if wire == "anthropic" && n.InputTokens != 42 || wire == "openai" && n.InputTokens < 1 {
				t.Errorf("count_tokens %d", n.InputTokens)
			}
		})
	}
}

// TestClientErrors: bad input and unknown models answered in each client's format with the right
// status, as the SDKs parse them.
func TestClientErrors(t *testing.T) {
	_, base, _ := pair(t, "openai")
	ctx := context.Background()
	oc, ac := oaClient(base), anClient(base)
	_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nope",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 404 || oe.Code != "model_not_found" || !strings.Contains(oe.Message, "nope") {
		t.Errorf("openai unknown model: %v", err)
	}
	_, err = ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "nope", MaxTokens: 10,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 404 || !strings.Contains(ae.RawJSON(), `"not_found_error"`) {
		t.Errorf("anthropic unknown model: %v", err)
	}
}

// openaiToolRoundTrip runs a tool call through the gateway with an OpenAI client, streamed and not:
// the model asks for get_weather{"city":"Paris"}, the tool's result goes back, the final answer quotes it.
func openaiToolRoundTrip(t *testing.T, ctx context.Context, c openai.Client, tool openai.ChatCompletionToolUnionParam) {
	t.Helper()
	for _, streamed := range []bool{false, true} {
		params := openai.ChatCompletionNewParams{Model: "m", Tools: []openai.ChatCompletionToolUnionParam{tool},
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")}}
		var msg openai.ChatCompletionMessage
		var finish string
		if streamed {
			stream := c.Chat.Completions.NewStreaming(ctx, params)
			acc := openai.ChatCompletionAccumulator{}
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			msg, finish = acc.Choices[0].Message, acc.Choices[0].FinishReason
		} else {
			resp, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			msg, finish = resp.Choices[0].Message, resp.Choices[0].FinishReason
		}
		if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_weather" || finish != "tool_calls" || msg.ToolCalls[0].ID == "" {
			t.Fatalf("streamed=%v: tool calls %+v finish %q", streamed, msg.ToolCalls, finish)
		}
		var args map[string]string
		if err := json.Unmarshal([]byte(msg.ToolCalls[0].Function.Arguments), &args); err != nil || args["city"] != "Paris" {
			t.Fatalf("streamed=%v: arguments %q", streamed, msg.ToolCalls[0].Function.Arguments)
		}
		params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("sunny, 21C", msg.ToolCalls[0].ID))
		resp, err := c.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != "Weather: sunny, 21C" {
			t.Errorf("streamed=%v: final answer %q", streamed, got)
		}
	}
}

// anthropicToolRoundTrip is openaiToolRoundTrip with an Anthropic client.
func anthropicToolRoundTrip(t *testing.T, ctx context.Context, c anthropic.Client, tool anthropic.ToolUnionParam) {
	t.Helper()
	for _, streamed := range []bool{false, true} {
		params := anthropic.MessageNewParams{Model: "m", MaxTokens: 100, Tools: []anthropic.ToolUnionParam{tool},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("weather in Paris?"))}}
		var m anthropic.Message
		if streamed {
			stream := c.Messages.NewStreaming(ctx, params)
			for stream.Next() {
				if err := m.Accumulate(stream.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
		} else {
			mp, err := c.Messages.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			m = *mp
		}
		var use *anthropic.ToolUseBlock
		for _, b := range m.Content {
			if b.Type == "tool_use" {
				tu := b.AsToolUse()
				use = &tu
			}
		}
		if use == nil || use.Name != "get_weather" || m.StopReason != "tool_use" {
			t.Fatalf("streamed=%v: no tool call: %+v", streamed, m)
		}
		var args map[string]string
		if err := json.Unmarshal(use.Input, &args); err != nil || args["city"] != "Paris" {
			t.Fatalf("streamed=%v: input %s", streamed, use.Input)
		}
		params.Messages = append(params.Messages, m.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "sunny, 21C", false)))
		final, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(final.Content) == 0 || final.Content[len(final.Content)-1].Text != "Weather: sunny, 21C" {
			t.Errorf("streamed=%v: final %+v", streamed, final.Content)
		}
	}
}
