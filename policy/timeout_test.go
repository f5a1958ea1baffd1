package policy_test

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// waitCtx is a backend that answers only when its context ends (as the reverse proxy does: a 502

// after the upstream call is cancelled).

var waitCtx = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
	agentgateway.WriteError(w, http.StatusBadGateway, "upstream: "+r.Context().Err().Error())
})

func TestTimeout(t *testing.T) {
	p, err := policy.NewTimeout(policy.TimeoutConfig{RequestTimeout: 30 * time.Millisecond})
	require.NoError(t, err)
	w := do(p, waitCtx, req("GET", "/"))
	assert.Equal(t, http.StatusGatewayTimeout, w.Code)
	assert.Contains(t, w.Body.String(), "timeout")

	var s seen
	w = do(p, s.handler(200, "fast"), req("GET", "/"))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "fast", w.Body.String())

	// A handler that writes nothing before the deadline passes also yields 504.
	silent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	assert.Equal(t, http.StatusGatewayTimeout, do(p, silent, req("GET", "/")).Code)

	for field, spec := range map[string]policy.TimeoutConfig{
		"":                      {},
		"requestTimeout":        {RequestTimeout: -1},
		"backendRequestTimeout": {BackendRequestTimeout: -1},
	} {
		_, err := policy.NewTimeout(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, field, ce.Path)
	}
}

func TestBackendTimeoutPerAttempt(t *testing.T) {
	to, err := policy.NewTimeout(policy.TimeoutConfig{BackendRequestTimeout: 50 * time.Millisecond, RequestTimeout: 10 * time.Second})
	require.NoError(t, err)
	rt, err := policy.NewRetry(policy.RetryConfig{Attempts: 3, Codes: []int{502, 504}})
	require.NoError(t, err)
	var attempts atomic.Int32
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) < 3 {
			waitCtx(w, r) // times out
			return
		}
		_, _ = io.WriteString(w, "third time lucky")
	})
	w := do(agentgateway.PolicyFunc(func(h http.Handler) http.Handler { return to.Wrap(rt.Wrap(h)) }), backend, req("GET", "/"))
	assert.Equal(t, 200, w.Code, "each attempt had its own backend deadline")
	assert.Equal(t, "third time lucky", w.Body.String())
	assert.Equal(t, int32(3), attempts.Load())
}
