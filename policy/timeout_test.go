package policy_test

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
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
	p, err := policy.NewTimeout(policy.TimeoutConfig{RequestTimeout: 30 * time.Millisecond})
	require.NoError(t, err)
	w := do(p, waitCtx, req("GET", "/"))
	assert.Equal(t, http.StatusGatewayTimeout, w.Code)
	assert.Contains(t, w.Body.String(), "timeout")

	var s seen
	w = do(p, s.Handler(200, "fast"), req("GET", "/"))
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

// A connection the handler took over (a WebSocket tunnel) is not answered with a 504 when the request
// deadline ends it: net/http would reject the write and log it.
func TestTimeoutAfterHijack(t *testing.T) {
	p, err := policy.NewTimeout(policy.TimeoutConfig{RequestTimeout: 20 * time.Millisecond})
	require.NoError(t, err)
	var logs strings.Builder
	var mu sync.Mutex
	done := make(chan struct{})
	tunnel := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if !assert.NoError(t, err) {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		<-r.Context().Done() // the tunnel lasts until the request deadline
	}))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		tunnel.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = log.New(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(b)
	}), "", 0)
	srv.Start()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	rest, _ := io.ReadAll(conn) // until the handler closes the tunnel
	assert.Equal(t, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", string(rest))
	<-done
	srv.Close()
	mu.Lock()
	defer mu.Unlock()
	assert.NotContains(t, logs.String(), "hijacked connection")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// A route's timeout policy replaces the gateway's default backend timeout: an upstream slower than
// the default but within the policy's bound answers.
func TestTimeoutPolicyReplacesDefaultBackendTimeout(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond) // four times the default below
		_, _ = io.WriteString(w, "thought it over")
	}))
	t.Cleanup(up.Close)
	be, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Endpoints: []string{up.URL}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = be.Close() })
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithDefaultBackendTimeout(50*time.Millisecond))
	require.NoError(t, gw.Route("slow").PathPrefix("/slow").Policy(policy.NewTimeout(policy.TimeoutConfig{RequestTimeout: time.Minute})).To(be))
	require.NoError(t, gw.Route("default").To(be))
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)

	resp, err := front.Client().Get(front.URL + "/slow")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "thought it over", string(body))

	resp, err = front.Client().Get(front.URL + "/other")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode, "routes without the policy keep the default")
}
