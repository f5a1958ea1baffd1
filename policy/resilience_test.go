package policy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
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
	p, err := policy.NewTimeout(policy.TimeoutSpec{RequestTimeout: 30 * time.Millisecond})
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

	for field, spec := range map[string]policy.TimeoutSpec{
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
	to, err := policy.NewTimeout(policy.TimeoutSpec{BackendRequestTimeout: 50 * time.Millisecond, RequestTimeout: 10 * time.Second})
	require.NoError(t, err)
	rt, err := policy.NewRetry(policy.RetrySpec{Attempts: 3, Codes: []int{502, 504}})
	require.NoError(t, err)
	var attempts atomic.Int32
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) < 3 {
			waitCtx(w, r) // times out
			return
		}
		_, _ = io.WriteString(w, "third time lucky")
	})
	w := do(func(h http.Handler) http.Handler { return to(rt(h)) }, backend, req("GET", "/"))
	assert.Equal(t, 200, w.Code, "each attempt had its own backend deadline")
	assert.Equal(t, "third time lucky", w.Body.String())
	assert.Equal(t, int32(3), attempts.Load())
}

func TestRetry(t *testing.T) {
	p, err := policy.NewRetry(policy.RetrySpec{Attempts: 3, Codes: []int{503}, Backoff: time.Millisecond})
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
	p, err := policy.NewRetry(policy.RetrySpec{Attempts: 3, Codes: []int{503}, Condition: `response.code == 200 && response.headers["x-retry"] == "yes"`})
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
	srv := httptest.NewServer(p(streaming))
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
	p, err := policy.NewRetry(policy.RetrySpec{Attempts: 3, Codes: []int{503}, MaxBufferBytes: 4})
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
	p, err = policy.NewRetry(policy.RetrySpec{Attempts: 3, Codes: []int{503}, Precondition: `request.method == "GET"`})
	require.NoError(t, err)
	n = 0
	do(p, h, reqBody("POST", "/", "x"))
	assert.Equal(t, 1, n)
	n = 0
	do(p, h, req("GET", "/"))
	assert.Equal(t, 3, n)

	// An empty budget stops retries, and the failure is recorded.
	p, err = policy.NewRetry(policy.RetrySpec{Attempts: 3, Codes: []int{503}, Budget: &policy.RetryBudget{}})
	require.NoError(t, err)
	n = 0
	var s seen
	st := &agentgateway.State{}
	r := req("GET", "/").WithContext(agentgateway.WithState(context.Background(), st))
	w := httptest.NewRecorder()
	p(h).ServeHTTP(w, r)
	assert.Equal(t, 503, w.Code)
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, st.Err, policy.ErrRetryBudget)
	_ = s

	for field, spec := range map[string]policy.RetrySpec{
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

func TestMirror(t *testing.T) {
	var mu sync.Mutex
	var got []string
	release := make(chan struct{})
	target := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // a slow mirror backend
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		w.WriteHeader(500) // failures never surface
	})
	m, err := policy.NewMirror(policy.MirrorSpec{Percentage: 1, MaxConcurrent: 1}, target)
	require.NoError(t, err)
	var s seen
	w := do(m.Middleware, s.handler(200, "main"), reqBody("POST", "/a", "payload"))
	assert.Equal(t, 200, w.Code, "the main request finished while the mirror is blocked")
	assert.Equal(t, "payload", s.body, "the main request still gets its body")
	w = do(m.Middleware, s.handler(200, "main"), reqBody("POST", "/b", "second"))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, int64(1), m.Dropped(), "bounded: the second mirror was dropped")
	close(release)
	require.NoError(t, m.Close())
	assert.Equal(t, []string{"POST /a payload"}, got)

	none, err := policy.NewMirror(policy.MirrorSpec{Percentage: 0}, target)
	require.NoError(t, err)
	do(none.Middleware, s.handler(200, ""), req("GET", "/"))
	require.NoError(t, none.Close())
	assert.Len(t, got, 1)

	_, err = policy.NewMirror(policy.MirrorSpec{Percentage: 1.5}, target)
	var ce *agentgateway.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "percentage", ce.Path)
}

func TestTransformations(t *testing.T) {
	p, err := policy.NewTransformation(policy.TransformationSpec{
		Request: &policy.Transform{
			Set:        map[string]string{"x-user": `identity`, "x-path": `request.path`},
			Add:        map[string]string{"x-tag": `"gw"`},
			Remove:     []string{"x-secret"},
			JSONSet:    map[string]string{"metadata.user": `identity`, "model": `json.model + "-mini"`},
			JSONRemove: []string{"debug"},
		},
		Response: &policy.Transform{
			Set:    map[string]string{"x-status": `string(response.code)`},
			Remove: []string{"server"},
			Body:   `{"wrapped": json, "len": size(body)}`,
		},
	})
	require.NoError(t, err)
	var s seen
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.req = r
		b, _ := io.ReadAll(r.Body)
		s.body = string(b)
		w.Header().Set("Server", "upstream")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	st := &agentgateway.State{}
	st.Identity.Subject = "alice"
	r := reqBody("POST", "/v1/chat", `{"model":"gpt","debug":true}`, "X-Secret", "s", "X-Tag", "client")
	r = r.WithContext(agentgateway.WithState(r.Context(), st))
	w := httptest.NewRecorder()
	p(backend).ServeHTTP(w, r)

	assert.Equal(t, "alice", s.req.Header.Get("X-User"))
	assert.Equal(t, "/v1/chat", s.req.Header.Get("X-Path"))
	assert.Equal(t, []string{"client", "gw"}, s.req.Header.Values("X-Tag"))
	assert.Empty(t, s.req.Header.Get("X-Secret"))
	assert.JSONEq(t, `{"model":"gpt-mini","metadata":{"user":"alice"}}`, s.body)

	assert.Equal(t, "200", w.Header().Get("X-Status"))
	assert.Empty(t, w.Header().Get("Server"))
	assert.JSONEq(t, `{"wrapped":{"ok":true},"len":11}`, w.Body.String())
	assert.Equal(t, strconv.Itoa(w.Body.Len()), w.Header().Get("Content-Length"))

	_, err = policy.NewTransformation(policy.TransformationSpec{Request: &policy.Transform{Set: map[string]string{"x": "nope("}}})
	var ce *agentgateway.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "request.set.x", ce.Path)
	_, err = policy.NewTransformation(policy.TransformationSpec{Response: &policy.Transform{Remove: []string{"bad header"}}})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "response.remove[0]", ce.Path)
}

func TestTransformReplace(t *testing.T) {
	p, err := policy.NewTransformation(policy.TransformationSpec{Request: &policy.Transform{
		Replace: `{"x-only": "1", "x-list": ["a", "b"], ":path": "/ignored"}`,
		Set:     map[string]string{"x-after": `"set"`},
	}})
	require.NoError(t, err)
	var s seen
	do(p, s.handler(200, ""), req("GET", "/", "X-Old", "gone"))
	assert.Equal(t, http.Header{"X-Only": {"1"}, "X-List": {"a", "b"}, "X-After": {"set"}}, s.req.Header)

	_, err = policy.NewTransformation(policy.TransformationSpec{Request: &policy.Transform{Metadata: map[string]string{"a": "1"}}})
	var ce *agentgateway.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "request.metadata", ce.Path)
}

func TestTransformHeadersOnlyStreams(t *testing.T) {
	p, err := policy.NewTransformation(policy.TransformationSpec{Response: &policy.Transform{Add: map[string]string{"x-route": `"r1"`}}})
	require.NoError(t, err)
	srv := httptest.NewServer(p(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "chunk")
		w.(http.Flusher).Flush()
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "chunk", string(b))
	assert.Equal(t, "r1", resp.Header.Get("X-Route"))
	assert.True(t, strings.Contains(resp.TransferEncoding[0], "chunked"))
}
