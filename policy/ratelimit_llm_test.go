package policy_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// TestLocalRateLimitTokensEstimate: a token bucket charges the LLM backend's estimate before the
// call (refusing a request whose estimate the bucket cannot cover), settles with the real usage
// after (refunding an over-estimate), and refuses in the client's format when the backend gave a
// writer for it.
func TestLocalRateLimitTokensEstimate(t *testing.T) {
	p, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{MaxTokens: 100, TokensPerFill: 10, FillInterval: time.Hour, Type: policy.RateLimitTokens}}})
	require.NoError(t, err)
	var estimate, used int64
	var backendCalls int
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendCalls++
		st := agentgateway.StateFrom(r.Context())
		st.LLM.InputTokens, st.LLM.OutputTokens = used, 0
	}))
	// What the LLM router's Inspect records before the policies run.
	inspect := agentgateway.PolicyFunc(func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := agentgateway.StateFrom(r.Context())
			st.LLM.InputTokensEstimate = estimate
			st.LLM.WriteError = func(w http.ResponseWriter, status int, msg string) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"type":"error","error":{"type":"rate_limit_error","message":"` + msg + `"}}`))
			}
			h.ServeHTTP(w, r)
		})
	})
	call := func(est, real int64) (int, string) {
		estimate, used = est, real
		w := do(inspect, nil, req("POST", "/v1/messages"))
		return w.Code, w.Body.String()
	}
	code, _ := call(60, 10) // 100 - 60 + 50 refunded = 90
	require.Equal(t, 200, code)
	code, body := call(95, 0) // 90 cannot cover 95: refused before the call
	assert.Equal(t, 429, code)
	assert.JSONEq(t, `{"type":"error","error":{"type":"rate_limit_error","message":"token rate limit exceeded"}}`, body)
	assert.Equal(t, 1, backendCalls, "a refused call never reaches the backend")
	code, _ = call(90, 150) // admitted on the estimate, then pays for the real 150: 90 - 150 = -60
	require.Equal(t, 200, code)
	code, _ = call(1, 0)
	assert.Equal(t, 429, code, "the over-use is paid for by later requests")
	// An estimate larger than the bucket asks for a full bucket, not the impossible.
	p2, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{MaxTokens: 10, TokensPerFill: 10, FillInterval: time.Hour, Type: policy.RateLimitTokens}}})
	require.NoError(t, err)
	h = p2.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	code, _ = call(1000, 0)
	assert.Equal(t, 200, code)
}

// BenchmarkTokenBudget measures the token budget's check and settlement around an LLM call against
// no policy: one route-wide bucket, and buckets keyed per user by a CEL expression.
func BenchmarkTokenBudget(b *testing.B) {
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := agentgateway.StateFrom(r.Context())
		st.LLM.InputTokens, st.LLM.OutputTokens = 120, 30
	})
	mk := func(key string) http.Handler {
		p, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{
			MaxTokens: 1 << 50, TokensPerFill: 1 << 50, FillInterval: time.Second, Type: policy.RateLimitTokens, Key: key}}})
		require.NoError(b, err)
		return p.Wrap(backend)
	}
	r := req("POST", "/v1/chat/completions", "X-User", "alice")
	st := &agentgateway.State{}
	r = r.WithContext(agentgateway.WithState(r.Context(), st))
	w := &benchWriter{h: http.Header{}}
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"none", backend}, {"tokens", mk("")}, {"tokens-keyed", mk(`request.headers["x-user"]`)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st.LLM = agentgateway.LLMState{InputTokensEstimate: 100}
				c.h.ServeHTTP(w, r)
			}
			if w.code != 0 {
				b.Fatal(w.code)
			}
		})
	}
}
