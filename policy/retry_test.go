package policy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func TestRetry(t *testing.T) {
	p, err := policy.NewRetry(policy.RetryConfig{Attempts: 3, Codes: []int{503}, Backoff: time.Millisecond})
	require.NoError(t, err)
	var bodies []string
	var n int
	flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		n++
		if n < 3 {
			w.Header().Set("X-Attempt", "failed")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, "busy")
			return
		}
		w.Header().Set("X-Ok", "1")
		_, _ = io.WriteString(w, "done")
	})
	w := do(p, flaky, reqBody("POST", "/", `{"q":1}`))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "done", w.Body.String())
	assert.Empty(t, w.Header().Get("X-Attempt"), "a retried attempt's headers never reach the client")
	assert.Equal(t, []string{`{"q":1}`, `{"q":1}`, `{"q":1}`}, bodies, "body replayed")

	// Out of attempts: the last response is returned as it is.
	n = -10
	w = do(p, flaky, reqBody("POST", "/", "x"))
	assert.Equal(t, 503, w.Code)
	assert.Equal(t, "busy", w.Body.String())
}

func TestRetryNeverAfterStreaming(t *testing.T) {
	p, err := policy.NewRetry(policy.RetryConfig{Attempts: 3, Codes: []int{503}, Condition: `response.code == 200 && response.headers["x-retry"] == "yes"`})
	require.NoError(t, err)
	var n atomic.Int32
	streaming := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		// The upstream then fails mid-stream: nothing can be retried now.
	})
	srv := httptest.NewServer(p.Wrap(streaming))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "data: 1\n\n", string(b))
	assert.Equal(t, int32(1), n.Load())

	// The condition sees the response: a 200 marked x-retry is retried.
	n.Store(0)
	marked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("X-Retry", "yes")
		}
		w.WriteHeader(200)
	})
	assert.Equal(t, 200, do(p, marked, req("GET", "/")).Code)
	assert.Equal(t, int32(2), n.Load())
}

func TestRetryLimits(t *testing.T) {
	// Bodies above the buffer limit are streamed once, never retried.
	p, err := policy.NewRetry(policy.RetryConfig{Attempts: 3, Codes: []int{503}, MaxBufferBytes: 4})
	require.NoError(t, err)
	var n int
	var got string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		w.WriteHeader(503)
	})
	assert.Equal(t, 503, do(p, h, reqBody("POST", "/", "0123456789")).Code)
	assert.Equal(t, 1, n)
	assert.Equal(t, "0123456789", got, "the whole body still reaches the backend")

	// Precondition false: no retries.
	p, err = policy.NewRetry(policy.RetryConfig{Attempts: 3, Codes: []int{503}, Precondition: `request.method == "GET"`})
	require.NoError(t, err)
	n = 0
	do(p, h, reqBody("POST", "/", "x"))
	assert.Equal(t, 1, n)
	n = 0
	do(p, h, req("GET", "/"))
	assert.Equal(t, 3, n)

	// An empty budget stops retries, and the failure is recorded.
	p, err = policy.NewRetry(policy.RetryConfig{Attempts: 3, Codes: []int{503}, Budget: &policy.RetryBudget{}})
	require.NoError(t, err)
	n = 0
	var s seen
	st := &agentgateway.State{}
	r := req("GET", "/").WithContext(agentgateway.WithState(context.Background(), st))
	w := httptest.NewRecorder()
	p.Wrap(h).ServeHTTP(w, r)
	assert.Equal(t, 503, w.Code)
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, st.Err, policy.ErrRetryBudget)
	_ = s

	for field, spec := range map[string]policy.RetryConfig{
		"attempts":     {Attempts: 300, Codes: []int{503}},
		"codes":        {Attempts: 2},
		"codes[1]":     {Codes: []int{503, 42}},
		"backoff":      {Codes: []int{503}, Backoff: -1},
		"precondition": {Codes: []int{503}, Precondition: "1 +"},
		"condition":    {Codes: []int{503}, Condition: "nope == 1"},
		"budget":       {Codes: []int{503}, Budget: &policy.RetryBudget{Ratio: -1}},
	} {
		_, err := policy.NewRetry(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}

func TestRetrySkipsUpgrades(t *testing.T) {
	p, err := policy.NewRetry(policy.RetryConfig{Attempts: 3, Codes: []int{503}})
	require.NoError(t, err)
	var n int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n++; w.WriteHeader(503) })
	assert.Equal(t, 503, do(p, h, req("GET", "/ws", "Connection", "Upgrade", "Upgrade", "websocket")).Code)
	assert.Equal(t, 1, n)
}

// TestRetryGoesToAnotherBackend: on a route that splits traffic over several backends, a retried
// attempt goes to a backend other than the one that just failed, so a stopped upstream costs no
// request while another is up (with two equal backends a random second pick would fail one request
// in four).
func TestRetryGoesToAnotherBackend(t *testing.T) {
	var downHits, upHits atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		downHits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upHits.Add(1)
		_, _ = io.WriteString(w, "up")
	}))
	t.Cleanup(up.Close)
	rp, err := policy.NewRetry(policy.RetryConfig{Attempts: 2, Codes: []int{503}, Budget: &policy.RetryBudget{Ratio: 1}})
	require.NoError(t, err)
	// Ejection off: the down backend keeps being picked first, so every request exercises the retry.
	downBackend, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Endpoints: []string{down.URL}, EjectAfter: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = downBackend.Close() })
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Route("split").PathPrefix("/").Use(rp).ToWeighted(
		agentgateway.WeightedBackend{Name: "down", Handler: downBackend, Weight: 1},
		agentgateway.WeightedBackend{Name: "up", Handler: agentgateway.HTTP(up.URL), Weight: 1},
		agentgateway.WeightedBackend{Name: "idle", Handler: agentgateway.HTTP(down.URL), Weight: 0}))
	for range 200 {
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		require.Equal(t, http.StatusOK, w.Code)
	}
	assert.Greater(t, downHits.Load(), int32(50), "first attempts still split by weight")
	assert.Equal(t, int32(200), upHits.Load())
}
