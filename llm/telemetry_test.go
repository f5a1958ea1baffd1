package llm_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go/v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/oteltest"
	"github.com/agentgw/agentgateway/llm"
)

// A real LLM call (openai-go client -> gateway -> Anthropic-wire stub, streamed and not) reaches the
// GenAI metrics and the server span with its usage: what the llm package records in State.LLM is
// what telemetry reads.
func TestLLMCallTelemetry(t *testing.T) {
	env := oteltest.New(t)
	s := newStub(t, "anthropic")
	r, err := llm.New(llm.Model("m", llm.Anthropic(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k")), llm.As("upstream-model")))
	if err != nil {
		t.Fatal(err)
	}
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithTracerProvider(env.TP), agentgateway.WithMeterProvider(env.MP))
	if err := gw.Route("llm").PathPrefix("/").To(r); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	c := oaClient(srv.URL)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	if _, err := c.Chat.Completions.New(ctx, params); err != nil {
		t.Fatal(err)
	}
	stream := c.Chat.Completions.NewStreaming(ctx, params)
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	_ = stream.Close()
	srv.Close() // every request done before the figures are read

	model := map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "m"}
	in, ok := env.Find(t, "gen_ai.client.token.usage", merge(model, "gen_ai.token.type", "input"))
	if !ok || in.Count != 2 || in.Sum != 24 {
		t.Fatalf("input tokens: %+v %v\n%v", in, ok, env.Points(t, "gen_ai.client.token.usage"))
	}
	out, ok := env.Find(t, "gen_ai.client.token.usage", merge(model, "gen_ai.token.type", "output"))
	if !ok || out.Sum != 10 {
		t.Fatalf("output tokens: %+v %v", out, ok)
	}
	if d, ok := env.Find(t, "gen_ai.client.operation.duration", model); !ok || d.Count != 2 {
		t.Fatalf("operation duration: %+v %v", d, ok)
	}
	if ttft, ok := env.Find(t, "gen_ai.server.time_to_first_token", model); !ok || ttft.Count != 1 {
		t.Fatalf("time to first token (the streamed call only): %+v %v", ttft, ok)
	}
	if spans := env.Ended("chat m"); len(spans) != 2 || oteltest.SpanAttrs(spans[0])["gen_ai.usage.input_tokens"] != "12" {
		t.Fatalf("server spans: %s", env.Dump())
	}
}

func merge(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for k, v := range m {
		out[k] = v
	}
	return out
}
