package llm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentgw/agentgateway/llm"
	"github.com/agentgw/agentgateway/policy"
)

// TestTokenBudget: a token budget per user (CEL key) runs out after a few calls — streamed calls
// count too — and answers 429 with Retry-After in the client's format, which each official SDK reports
// as its own error type; the budget refills afterwards. Each stub call uses 17 tokens.
func TestTokenBudget(t *testing.T) {
	s := newStub(t, "openai")
	r, err := llm.New(llm.Model("m", llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))))
	if err != nil {
		t.Fatal(err)
	}
	budget, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{
		MaxTokens: 40, TokensPerFill: 40, FillInterval: time.Second, Type: policy.RateLimitTokens, Key: `request.headers["x-user"]`}}})
	if err != nil {
		t.Fatal(err)
	}
	base := gatewayWith(t, r, budget)
	ctx := context.Background()

	oa := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("c"), option.WithMaxRetries(0), option.WithHeader("X-User", "openai-user"))
	oaParams := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	oaCall := func(stream bool) error {
		if !stream {
			_, err := oa.Chat.Completions.New(ctx, oaParams)
			return err
		}
		st := oa.Chat.Completions.NewStreaming(ctx, oaParams)
		defer st.Close()
		for st.Next() {
		}
		return st.Err()
	}
	an := anthropic.NewClient(anthropicoption.WithBaseURL(base+"/"), anthropicoption.WithAPIKey("c"), anthropicoption.WithMaxRetries(0), anthropicoption.WithHeader("X-User", "anthropic-user"))
	anParams := anthropic.MessageNewParams{Model: "m", MaxTokens: 16, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
	anCall := func(stream bool) error {
		if !stream {
			_, err := an.Messages.New(ctx, anParams)
			return err
		}
		st := an.Messages.NewStreaming(ctx, anParams)
		defer st.Close()
		for st.Next() {
		}
		return st.Err()
	}

	// drain calls (alternating plain and streamed) until the budget refuses one; a refill between
	// calls only delays that.
	drain := func(name string, call func(bool) error) error {
		for i := 0; i < 20; i++ {
			if err := call(i%2 == 1); err != nil {
				return err
			}
		}
		t.Fatalf("%s: the budget never ran out", name)
		return nil
	}

	err = drain("openai", func(bool) error { return oaCall(true) }) // streamed calls only: their usage counts
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 429 || oe.Type != "rate_limit_error" {
		t.Fatalf("openai: %v, want a 429 openai.Error of type rate_limit_error", err)
	}
	if ra := oe.Response.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("openai: Retry-After %q", ra)
	}

	err = drain("anthropic", anCall)
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 429 || !strings.Contains(ae.RawJSON(), `"rate_limit_error"`) {
		t.Fatalf("anthropic: %v, want a 429 anthropic.Error of type rate_limit_error", err)
	}
	if ra := ae.Response.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("anthropic: Retry-After %q", ra)
	}

	// The budget refills: calls succeed again.
	deadline := time.Now().Add(10 * time.Second)
	for oaCall(false) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the budget did not refill")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
