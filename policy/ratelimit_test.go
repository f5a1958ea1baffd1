package policy_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func TestLocalRateLimit(t *testing.T) {
	p, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{MaxTokens: 3, TokensPerFill: 1, FillInterval: time.Hour}}})
	require.NoError(t, err)
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for i := range 3 {
		w := do(agentgateway.PolicyFunc(func(http.Handler) http.Handler { return h }), nil, req("GET", "/"))
		require.Equal(t, 200, w.Code, "request %d", i)
	}
	w := do(agentgateway.PolicyFunc(func(http.Handler) http.Handler { return h }), nil, req("GET", "/"))
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	retry, err := strconv.Atoi(w.Header().Get("Retry-After"))
	require.NoError(t, err)
	assert.InDelta(t, 3600, retry, 5)
	assert.Equal(t, `"local";q=1;w=3600`, w.Header().Get("RateLimit-Policy"))
	assert.Equal(t, `"local";r=0;t=`+w.Header().Get("Retry-After"), w.Header().Get("RateLimit"))
}

func TestLocalRateLimitRefills(t *testing.T) {
	p, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{MaxTokens: 1, TokensPerFill: 1, FillInterval: 20 * time.Millisecond}}})
	require.NoError(t, err)
	h := p.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	call := func() int {
		return do(agentgateway.PolicyFunc(func(http.Handler) http.Handler { return h }), nil, req("GET", "/")).Code
	}
	require.Equal(t, 200, call())
	require.Equal(t, 429, call())
	require.Eventually(t, func() bool { return call() == 200 }, 5*time.Second, 5*time.Millisecond)
}

func TestLocalRateLimitPerKeyAndConditional(t *testing.T) {
	p, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Conditional: []policy.ConditionalRateLimit{
		{Condition: `request.path.startsWith("/expensive")`, RateLimit: policy.RateLimit{MaxTokens: 1, TokensPerFill: 1, FillInterval: time.Hour, Key: `request.headers["x-user"]`}},
		{RateLimit: policy.RateLimit{MaxTokens: 2, TokensPerFill: 1, FillInterval: time.Hour}},
	}})
	require.NoError(t, err)
	h := p.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	call := func(path, user string) int {
		return do(agentgateway.PolicyFunc(func(http.Handler) http.Handler { return h }), nil, req("GET", path, "X-User", user)).Code
	}
	assert.Equal(t, 200, call("/expensive", "a"))
	assert.Equal(t, 429, call("/expensive", "a"), "a's bucket is empty")
	assert.Equal(t, 200, call("/expensive", "b"), "b has its own bucket")
	assert.Equal(t, 200, call("/cheap", "a"), "fallback bucket")
	assert.Equal(t, 200, call("/cheap", "a"))
	assert.Equal(t, 429, call("/cheap", "b"), "fallback is per route")
}

func TestLocalRateLimitTokens(t *testing.T) {
	p, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{MaxTokens: 100, TokensPerFill: 10, FillInterval: time.Hour, Type: policy.RateLimitTokens}}})
	require.NoError(t, err)
	llm := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := agentgateway.StateFrom(r.Context())
		st.LLM.InputTokens, st.LLM.OutputTokens = 40, 30
	}))
	call := func() int {
		return do(agentgateway.PolicyFunc(func(http.Handler) http.Handler { return llm }), nil, req("POST", "/v1/chat")).Code
	}
	assert.Equal(t, 200, call()) // 100 → 30
	assert.Equal(t, 200, call()) // 30 → -40: admitted while not empty, then paid for
	assert.Equal(t, 429, call())
}

func TestLocalRateLimitConfigErrors(t *testing.T) {
	ok := policy.RateLimit{MaxTokens: 1, TokensPerFill: 1, FillInterval: time.Second}
	cok := policy.ConditionalRateLimit{RateLimit: ok}
	cond := func(c string) policy.ConditionalRateLimit { x := cok; x.Condition = c; return x }
	for field, spec := range map[string]policy.LocalRateLimitConfig{
		"":                         {},
		"limits[0].fillInterval":   {Limits: []policy.RateLimit{{MaxTokens: 1, TokensPerFill: 1}}},
		"limits[1].maxTokens":      {Limits: []policy.RateLimit{ok, {TokensPerFill: 1, FillInterval: time.Second}}},
		"limits[0].tokensPerFill":  {Limits: []policy.RateLimit{{MaxTokens: 1, FillInterval: time.Second}}},
		"limits[0].type":           {Limits: []policy.RateLimit{{MaxTokens: 1, TokensPerFill: 1, FillInterval: time.Second, Type: policy.RateLimitType(5)}}},
		"limits[0].key":            {Limits: []policy.RateLimit{{MaxTokens: 1, TokensPerFill: 1, FillInterval: time.Second, Key: "nope("}}},
		"conditional":              {Limits: []policy.RateLimit{ok}, Conditional: []policy.ConditionalRateLimit{cok}},
		"conditional[0].maxTokens": {Conditional: []policy.ConditionalRateLimit{{RateLimit: policy.RateLimit{TokensPerFill: 1, FillInterval: time.Second}}}},
		"conditional[0].condition": {Conditional: []policy.ConditionalRateLimit{cok, cok}},
		"conditional[1].condition": {Conditional: []policy.ConditionalRateLimit{cond("true"), cond("1")}},
	} {
		_, err := policy.NewLocalRateLimit(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}

func BenchmarkLocalRateLimit(b *testing.B) {
	p, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{MaxTokens: 1 << 50, TokensPerFill: 1 << 50, FillInterval: time.Second}}})
	require.NoError(b, err)
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	h := p.Wrap(noop)
	r := req("GET", "/")
	w := &benchWriter{h: http.Header{}}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			noop.ServeHTTP(w, r)
		}
	})
	b.Run("ratelimit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, r)
		}
		if w.code != 0 {
			b.Fatal(w.code)
		}
	})
}
