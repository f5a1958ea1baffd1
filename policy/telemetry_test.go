package policy_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/internal/oteltest"
	"github.com/agentgw/agentgateway/policy"
)

// The built-in policies record their decisions in State.Policy, which the gateway turns into the
// retries, rate-limit decisions and denials counters.
func TestPolicyTelemetryCounters(t *testing.T) {
	env := oteltest.New(t)
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithMeterProvider(env.MP))

	var calls atomic.Int32
	flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	retry, err := policy.NewRetry(policy.RetryConfig{Attempts: 3, Codes: []int{503}})
	require.NoError(t, err)
	require.NoError(t, gw.Route("retry").Path("/retry").Use(retry).To(flaky))

	limit, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{MaxTokens: 1, TokensPerFill: 1, FillInterval: time.Hour}}})
	require.NoError(t, err)
	require.NoError(t, gw.Route("limited").Path("/limited").Use(limit).To(http.NotFoundHandler()))

	authz, err := policy.NewAuthorization(policy.AuthorizationConfig{Rules: []cel.Rule{cel.Allow(`request.headers["x-ok"] == "1"`)}})
	require.NoError(t, err)
	require.NoError(t, gw.Route("guarded").Path("/guarded").Use(authz).To(http.NotFoundHandler()))

	serve := func(path string) int {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	require.Equal(t, 200, serve("/retry"))
	require.Equal(t, 404, serve("/limited"))
	require.Equal(t, 429, serve("/limited"))
	require.Equal(t, 403, serve("/guarded"))

	p, ok := env.Find(t, "agentgateway.retries", map[string]string{"http.route": "retry"})
	require.True(t, ok, "%v", env.Points(t, "agentgateway.retries"))
	require.EqualValues(t, 1, p.Value)
	for _, d := range []string{"allowed", "denied"} {
		p, ok := env.Find(t, "agentgateway.ratelimit.decisions", map[string]string{"http.route": "limited", "agentgateway.ratelimit.decision": d})
		require.True(t, ok, "%v", env.Points(t, "agentgateway.ratelimit.decisions"))
		require.EqualValues(t, 1, p.Value)
	}
	p, ok = env.Find(t, "agentgateway.authz.denials", map[string]string{"http.route": "guarded", "agentgateway.policy": "authz"})
	require.True(t, ok, "%v", env.Points(t, "agentgateway.authz.denials"))
	require.EqualValues(t, 1, p.Value)
}
