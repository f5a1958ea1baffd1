package llm_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// testCatalog prices the stubs' upstream model under both providers, with distinct rates for every
// token kind so that a misattributed token shows in the total.
const testCatalog = `
providers:
  openai:
    models:
      upstream-model:
        rates: {input: "2.50", output: "10", cacheRead: "1.25", reasoning: "20"}
  anthropic:
    models:
      upstream-model:
        rates: {input: 3, output: 15, cacheRead: "0.30", cacheWrite: "3.75"}
`

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

// pricedPair is pair with a catalog.
func pricedPair(t *testing.T, wire string, cat *llm.Catalog) (string, func() agentgateway.LLMState) {
	t.Helper()
	s := newStub(t, wire)
	up := llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))
	if wire == "anthropic" {
		up = llm.Anthropic(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))
	}
	r, err := llm.New(llm.Model("m", up, llm.As("upstream-model")), llm.ModelCatalog(cat))
	if err != nil {
		t.Fatal(err)
	}
	u, st := gateway(t, r)
	return u, func() agentgateway.LLMState { return st().LLM }
}

// TestCatalogCost checks that State.LLM.Cost is price × usage for streamed and non-streamed calls
// from the official SDKs, with the usage shapes of OpenAI (prompt 12 of which 2 cached, completion 5
// of which 1 reasoning) and Anthropic (input 10 + cache read 2, output 5).
func TestCatalogCost(t *testing.T) {
	cat, err := llm.ParseCatalog([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wantOpenAI := (10*2.50 + 2*1.25 + 4*10 + 1*20) / 1e6
	wantAnthropic := (10*3 + 2*0.30 + 5*15) / 1e6

	t.Run("openai", func(t *testing.T) {
		base, st := pricedPair(t, "openai", cat)
		c := oaClient(base)
		params := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
		if _, err := c.Chat.Completions.New(ctx, params); err != nil {
			t.Fatal(err)
		}
		if got := st().Cost; !near(got, wantOpenAI) {
			t.Errorf("non-streamed cost %v, want %v", got, wantOpenAI)
		}
		stream := c.Chat.Completions.NewStreaming(ctx, params)
		for stream.Next() {
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		stream.Close()
		if got := st().Cost; !near(got, wantOpenAI) {
			t.Errorf("streamed cost %v, want %v", got, wantOpenAI)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		base, st := pricedPair(t, "anthropic", cat)
		c := anClient(base)
		params := anthropic.MessageNewParams{Model: "m", MaxTokens: 64, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
		if _, err := c.Messages.New(ctx, params); err != nil {
			t.Fatal(err)
		}
		if got := st().Cost; !near(got, wantAnthropic) {
			t.Errorf("non-streamed cost %v, want %v", got, wantAnthropic)
		}
		stream := c.Messages.NewStreaming(ctx, params)
		for stream.Next() {
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		stream.Close()
		if got := st().Cost; !near(got, wantAnthropic) {
			t.Errorf("streamed cost %v, want %v", got, wantAnthropic)
		}
	})
	t.Run("translated", func(t *testing.T) {
		// An OpenAI client reaching Anthropic is priced at Anthropic's rates.
		base, st := pricedPair(t, "anthropic", cat)
		params := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
		c := oaClient(base)
		if _, err := c.Chat.Completions.New(ctx, params); err != nil {
			t.Fatal(err)
		}
		if got := st().Cost; !near(got, wantAnthropic) {
			t.Errorf("cost %v, want %v", got, wantAnthropic)
		}
	})
}

// TestCatalogUnknownModel: a model the catalog does not price is served normally at no cost.
func TestCatalogUnknownModel(t *testing.T) {
	cat, err := llm.ParseCatalog([]byte(`providers: {openai: {models: {other: {rates: {input: "1"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	base, st := pricedPair(t, "openai", cat)
	c := oaClient(base)
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	if l := st(); l.Cost != 0 || l.InputTokens != 12 {
		t.Errorf("cost %v tokens %d, want 0 and 12", l.Cost, l.InputTokens)
	}
}

// TestSetCatalog: a catalog swapped while serving prices the next call.
func TestSetCatalog(t *testing.T) {
	s := newStub(t, "openai")
	r, err := llm.New(llm.Model("m", llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k")), llm.As("upstream-model")))
	if err != nil {
		t.Fatal(err)
	}
	base, st := gateway(t, r)
	c := oaClient(base)
	call := func() float64 {
		if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
			t.Fatal(err)
		}
		return st().LLM.Cost
	}
	if c := call(); c != 0 {
		t.Fatalf("cost %v without a catalog", c)
	}
	cat, _ := llm.ParseCatalog([]byte(`{"providers": {"openai": {"models": {"upstream-model": {"rates": {"input": "1", "output": "1"}}}}}}`))
	r.SetCatalog(cat)
	if c := call(); !near(c, 17/1e6) {
		t.Fatalf("cost %v, want %v", c, 17/1e6)
	}
}

// TestModelPriceCost covers the rules of the price: cache writes, fallbacks of unset rates, and
// context tiers (highest threshold exceeded wins, overlaid on the base rates).
func TestModelPriceCost(t *testing.T) {
	cat, err := llm.ParseCatalog([]byte(`
providers:
  anthropic:
    models:
      claude:
        rates: {input: "3", output: "15"}
        tiers:
          - {contextOver: 200000, rates: {input: "6", output: "22.5"}}
          - {contextOver: 100, rates: {input: "4"}}
        tags: [long-context]
  aws.bedrock:
    models:
      nova: {rates: {output: "1"}}
  gemini:
    models:
      flash: {rates: {input: "0.1", output: "0.4"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		provider, model string
		u               llm.Usage
		want            float64
		ok              bool
	}{
		// Unset cache rates fall back to the input rate, unset reasoning to the output rate.
		{"anthropic", "claude", llm.Usage{InputTokens: 100, CachedInputTokens: 20, CacheCreationTokens: 30, OutputTokens: 10, ReasoningTokens: 4}, (100*3 + 10*15) / 1e6, true},
		// Over 100 prompt tokens: input 4, output still 15.
		{"anthropic", "claude", llm.Usage{InputTokens: 101, OutputTokens: 10}, (101*4 + 10*15) / 1e6, true},
		{"anthropic", "claude", llm.Usage{InputTokens: 200001, OutputTokens: 10}, (200001*6 + 10*22.5) / 1e6, true},
		// Unset input: only the output is priced.
		{"aws.bedrock", "nova", llm.Usage{InputTokens: 1000, OutputTokens: 1000}, 1000 / 1e6, true},
		// The router's gen_ai name finds the schema's kind name.
		{"gcp.gemini", "flash", llm.Usage{InputTokens: 1e6, OutputTokens: 1e6}, 0.5, true},
		// Any provider listing the model prices it.
		{"openrouter", "claude", llm.Usage{InputTokens: 1, OutputTokens: 1}, 18 / 1e6, true},
		{"openai", "nope", llm.Usage{InputTokens: 1}, 0, false},
		// Inconsistent usage never makes a negative cost.
		{"anthropic", "claude", llm.Usage{InputTokens: 1, CachedInputTokens: 50, OutputTokens: 1, ReasoningTokens: 9}, (50*3 + 1*15) / 1e6, true},
	}
	for i, c := range cases {
		got, ok := cat.Cost(c.provider, c.model, c.u)
		if ok != c.ok || !near(got, c.want) {
			t.Errorf("case %d (%s/%s): cost %v %v, want %v %v", i, c.provider, c.model, got, ok, c.want, c.ok)
		}
	}
	if p, _ := cat.Price("anthropic", "claude"); len(p.Tags) != 1 || p.Tiers[0].ContextOver != 100 {
		t.Errorf("price %+v: tiers not sorted or tags lost", p)
	}
}

// TestMergeCatalogs: later catalogs win model by model; others are kept.
func TestMergeCatalogs(t *testing.T) {
	a, _ := llm.ParseCatalog([]byte(`providers: {openai: {models: {a: {rates: {input: "1"}}, b: {rates: {input: "1"}}}}}`))
	b, _ := llm.ParseCatalog([]byte(`providers: {openai: {models: {b: {rates: {input: "2"}}}}}`))
	m := llm.MergeCatalogs(nil, a, b)
	for model, want := range map[string]float64{"a": 1, "b": 2} {
		if got, _ := m.Cost("openai", model, llm.Usage{InputTokens: 1e6}); got != want {
			t.Errorf("%s: %v, want %v", model, got, want)
		}
	}
	if llm.MergeCatalogs(nil) != nil {
		t.Error("merge of nothing is not nil")
	}
}

// TestParseCatalogErrors: malformed catalogs are rejected with ErrCatalog and a reason.
func TestParseCatalogErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`providers: {openai: {models: {m: {rates: {input: "-1"}}}}}`:                                              "non-negative decimal",
		`providers: {openai: {models: {m: {rates: {input: "1e3"}}}}}`:                                             "non-negative decimal",
		`providers: {openai: {models: {m: {rates: {input: ".inf"}}}}}`:                                            "non-negative decimal",
		`providers: {openai: {models: {m: {rates: {input: [1]}}}}}`:                                               "decimal number",
		`providers: {openai: {models: {m: {rates: {inptu: "1"}}}}}`:                                               "inptu",
		`providers: {openai: {models: {m: {tiers: [{rates: {input: "1"}}]}}}}`:                                    "contextOver and rates",
		`providers: {openai: {models: {m: {tiers: [{contextOver: -1, rates: {}}]}}}}`:                             "must not be negative",
		`providers: {openai: {models: {m: {tiers: [{contextOver: 5, rates: {}}, {contextOver: 5, rates: {}}]}}}}`: "two tiers",
		`[1, 2]`:                                                   "cannot unmarshal",
		`{"providers":{"":{"models":{"m":{}}}}}`:                   "empty provider name",
		`{"providers":{"a":{"models":{"":{}}}}}`:                   "empty model name",
		`providers: {openai: {models: {m: {rates: {input: "1"}}}}`: "did not find",
	} {
		_, err := llm.ParseCatalog([]byte(doc))
		if !errors.Is(err, llm.ErrCatalog) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want ErrCatalog mentioning %q", doc, err, want)
		}
	}
	if c, err := llm.ParseCatalog(nil); err != nil || c == nil {
		t.Errorf("empty catalog: %v", err)
	}
}
