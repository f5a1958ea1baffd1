package llm_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/llm"
)

// TestConditionalRouting: a conditional virtual model picks its target by a request header, by a JWT
// claim (set by the route's authentication, which runs before routing) and by the LLM request, first
// match winning, else the default; without a default an unmatched request is a 404.
func TestConditionalRouting(t *testing.T) {
	s := newStub(t, "openai")
	up := llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))
	r, err := llm.New(
		llm.Model("big", up, llm.As("large-model")), llm.Model("mid", up, llm.As("mid-model")),
		llm.Model("fast", up, llm.As("small-model")), llm.Model("stream-*", up),
		llm.Conditional("auto",
			llm.CondTarget{When: `request.headers["x-tier"] == "premium"`, Model: "big"},
			llm.CondTarget{When: `has(jwt.tier) && jwt.tier == "gold"`, Model: "mid"},
			llm.CondTarget{When: `llm.streaming`, Model: "stream-model"},
			llm.CondTarget{Model: "fast"}),
		llm.Conditional("strict", llm.CondTarget{When: `request.headers["x-tier"] == "premium"`, Model: "big"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	// Stands in for a JWT policy: the claims of the caller named by a header.
	claims := agentgateway.PolicyFunc(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if tier := req.Header.Get("X-Test-Claim-Tier"); tier != "" {
				agentgateway.StateFrom(req.Context()).Identity.JWT = map[string]any{"sub": "u", "tier": tier}
			}
			next.ServeHTTP(w, req)
		})
	})
	base := gatewayWith(t, r, claims)
	ctx := context.Background()
	call := func(model string, stream bool, hdr ...string) error {
		opts := []option.RequestOption{option.WithBaseURL(base + "/v1/"), option.WithAPIKey("c"), option.WithMaxRetries(0)}
		for i := 0; i+1 < len(hdr); i += 2 {
			opts = append(opts, option.WithHeader(hdr[i], hdr[i+1]))
		}
		c := openai.NewClient(opts...)
		params := openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
		if stream {
			st := c.Chat.Completions.NewStreaming(ctx, params)
			defer st.Close()
			for st.Next() {
			}
			return st.Err()
		}
		_, err := c.Chat.Completions.New(ctx, params)
		return err
	}
	for _, c := range []struct {
		hdr    []string
		stream bool
		want   string
	}{
		{[]string{"X-Tier", "premium"}, false, "large-model"},
		{[]string{"X-Tier", "premium", "X-Test-Claim-Tier", "gold"}, false, "large-model"}, // first match wins
		{[]string{"X-Test-Claim-Tier", "gold"}, false, "mid-model"},
		{[]string{"X-Test-Claim-Tier", "silver"}, false, "small-model"},
		{nil, true, "stream-model"},
		{nil, false, "small-model"},
	} {
		if err := call("auto", c.stream, c.hdr...); err != nil {
			t.Fatalf("%v: %v", c.hdr, err)
		}
		if got := s.last()["model"]; got != c.want {
			t.Errorf("%v stream=%v: upstream model %v, want %s", c.hdr, c.stream, got, c.want)
		}
	}
	if err := call("strict", false, "X-Tier", "premium"); err != nil {
		t.Fatal(err)
	}
	var oe *openai.Error
	if err := call("strict", false); !errors.As(err, &oe) || oe.StatusCode != 404 {
		t.Errorf("unmatched without default: %v, want 404", err)
	}
}

// TestConditionalErrors: configuration errors name the virtual model and the target.
func TestConditionalErrors(t *testing.T) {
	up := llm.OpenAI(llm.APIKey("k"))
	for want, opt := range map[string]llm.Option{
		`"auto": target[1].when`:                   llm.Conditional("auto", llm.CondTarget{When: "true", Model: "m"}, llm.CondTarget{When: "request.nope(", Model: "m"}),
		`target[0]: only the last target`:          llm.Conditional("auto", llm.CondTarget{Model: "m"}, llm.CondTarget{When: "true", Model: "m"}),
		`"auto": target[0] "zzz" matches no model`: llm.Conditional("auto", llm.CondTarget{When: "true", Model: "zzz"}),
		`target[0].when`:                           llm.Conditional("auto", llm.CondTarget{When: `"not a bool"`, Model: "m"}),
	} {
		_, err := llm.New(llm.Model("m", up), opt)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to mention %s", err, want)
		}
		if strings.Contains(want, "when") && !errors.Is(err, cel.ErrCompile) {
			t.Errorf("%v does not wrap cel.ErrCompile", err)
		}
	}
}
