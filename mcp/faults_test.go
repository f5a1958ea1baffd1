package mcp_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
)

// TestTargetKilledMidSession kills one of two HTTP targets after the session is set up.
func TestTargetKilledMidSession(t *testing.T) {
	for _, mode := range []agentgateway.FailureMode{agentgateway.FailOpen, agentgateway.FailClosed} {
		t.Run(mode.String(), func(t *testing.T) {
			alpha := serveHTTP(t, demoServer("alpha"), &sdk.StreamableHTTPOptions{JSONResponse: true})
			beta := serveHTTP(t, demoServer("beta"), &sdk.StreamableHTTPOptions{JSONResponse: true})
			f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", alpha.URL), mcp.HTTPTarget("beta", beta.URL)}, Failure: mode})
			gw := gateway(t, f)
			cs := connect(t, gw.URL+"/mcp", nil)
			require.Len(t, toolNames(t, cs), 8)

			beta.CloseClientConnections()
			beta.Close()

			ctx := ctxT(t)
			res, err := cs.ListTools(ctx, nil)
			if mode == agentgateway.FailOpen {
				require.NoError(t, err)
				for _, tool := range res.Tools {
					assert.True(t, strings.HasPrefix(tool.Name, "alpha_"), tool.Name)
				}
				assert.Len(t, res.Tools, 4)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "target beta")
			}
			// Calls to the live target keep working; calls to the dead one get a clear error.
			r, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "alpha_echo", Arguments: map[string]any{"text": "x"}})
			require.NoError(t, err)
			assert.Equal(t, "alpha:x", text(t, r))
			_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "beta_echo", Arguments: map[string]any{"text": "x"}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "beta")
		})
	}
}

// TestFailOpenAtInitialize starts a session while one target is down.
func TestFailOpenAtInitialize(t *testing.T) {
	alpha := serveHTTP(t, demoServer("alpha"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", alpha.URL), mcp.HTTPTarget("dead", dead.URL)}, Failure: agentgateway.FailOpen})
	gw := gateway(t, f)
	cs := connect(t, gw.URL+"/mcp", nil)
	assert.Len(t, toolNames(t, cs), 4)

	closed := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", alpha.URL), mcp.HTTPTarget("dead", dead.URL)}})
	gw2 := gateway(t, closed)
	r := do(t, http.MethodPost, gw2.URL+"/mcp", "", initBody)
	code, msg := r.rpcError(t)
	assert.Equal(t, -32603, code)
	assert.Contains(t, msg, "target dead")
}

// TestStdioTargetRestarted kills a stdio target's process; the next call starts a new one.
func TestStdioTargetRestarted(t *testing.T) {
	bin := everythingServer(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	f := mcp.Federate(mcp.StdioTarget("proc", "sh", "-c", fmt.Sprintf("echo $$ > %s; exec %s", pidFile, bin)))
	gw := gateway(t, f)
	cs := connect(t, gw.URL+"/mcp", nil)
	ctx := ctxT(t)
	call := func() error {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "test_simple_text"})
		return err
	}
	require.NoError(t, call())
	pid1 := readPid(t, pidFile)
	require.NoError(t, syscall.Kill(pid1, syscall.SIGKILL))
	require.Eventually(t, func() bool { return call() == nil }, 30*time.Second, 50*time.Millisecond, "the target comes back")
	assert.NotEqual(t, pid1, readPid(t, pidFile), "a new process")
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	return pid
}

// TestTwoReplicasShareSessions puts two gateways with one session key behind a round-robin
// balancer: the client's session continues on either, over one upstream session.
func TestTwoReplicasShareSessions(t *testing.T) {
	upstream := demoServer("alpha")
	up := serveHTTP(t, upstream, nil)
	key := []byte("0123456789abcdef0123456789abcdef")
	cfg := func() mcp.Config {
		return mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL), mcp.ServerTarget("beta", demoServer("beta"))}, SessionKey: key}
	}
	gw1, gw2 := gateway(t, mcp.New(cfg())), gateway(t, mcp.New(cfg()))
	var n, hits1, hits2 atomic.Int64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := gw1
		if n.Add(1)%2 == 0 {
			target, _ = gw2, hits2.Add(1)
		} else {
			hits1.Add(1)
		}
		proxy(w, r, target.URL)
	}))
	t.Cleanup(lb.Close)

	cs := connect(t, lb.URL+"/mcp", &sdk.ClientOptions{})
	ctx := ctxT(t)
	for i := range 6 {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "alpha_echo", Arguments: map[string]any{"text": fmt.Sprint(i)}})
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("alpha:%d", i), text(t, res))
		res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "beta_echo", Arguments: map[string]any{"text": "b"}})
		require.NoError(t, err)
		assert.Equal(t, "beta:b", text(t, res))
	}
	assert.Positive(t, hits1.Load())
	assert.Positive(t, hits2.Load())
	sessions := 0
	for range upstream.Sessions() {
		sessions++
	}
	assert.Equal(t, 1, sessions, "both replicas used the one upstream session")
}

// proxy forwards a request to base (a tiny load balancer for the replica test).
func proxy(w http.ResponseWriter, r *http.Request, base string) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_ = http.NewResponseController(w).Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
			http.NewResponseController(w).Flush()
		}
		if err != nil {
			return
		}
	}
}

// TestIdleSessionsExpire closes idle sessions and their stdio processes.
func TestIdleSessionsExpire(t *testing.T) {
	up := demoServer("alpha")
	ts := serveHTTP(t, up, nil)
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", ts.URL)}, SessionTimeout: 200 * time.Millisecond})
	gw := gateway(t, f)
	sid := initSession(t, gw.URL+"/mcp")
	count := func() int {
		n := 0
		for range up.Sessions() {
			n++
		}
		return n
	}
	require.Equal(t, 1, count())
	require.Eventually(t, func() bool { return count() == 0 }, 10*time.Second, 20*time.Millisecond, "the upstream session is deleted")
	assert.Equal(t, http.StatusNotFound, do(t, http.MethodPost, gw.URL+"/mcp", sid, `{"jsonrpc":"2.0","id":1,"method":"ping"}`).status)
}

// TestUpstreamSessionExpired: when a target has forgotten the session, the client gets the spec's 404
// and can start again.
func TestUpstreamSessionExpired(t *testing.T) {
	handler := func() http.Handler {
		return sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return demoServer("alpha") }, &sdk.StreamableHTTPOptions{JSONResponse: true})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	first := &http.Server{Handler: handler()}
	go func() { _ = first.Serve(ln) }()
	gw := gateway(t, mcp.Federate(mcp.HTTPTarget("alpha", "http://"+addr+"/mcp")))
	url := gw.URL + "/mcp"
	sid := initSession(t, url)

	// The target restarts and forgets its sessions.
	require.NoError(t, first.Close())
	ln2, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	second := &http.Server{Handler: handler()}
	go func() { _ = second.Serve(ln2) }()
	t.Cleanup(func() { _ = second.Close() })

	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`
	// The first call may meet the old server's closed keep-alive connection (an error, not retried:
	// a tools/call is not idempotent); then the new server answers 404 for the unknown session.
	require.Eventually(t, func() bool {
		return do(t, http.MethodPost, url, sid, call).status == http.StatusNotFound
	}, 10*time.Second, 10*time.Millisecond)
	sid2 := initSession(t, url)
	assert.Contains(t, string(do(t, http.MethodPost, url, sid2, call).body), "alpha:x")
}

// A config reload replaces the federation; HTTP sessions carry on through the new one, because the
// session id is self-contained and the retired federation leaves upstream sessions alive.
func TestSessionSurvivesConfigReload(t *testing.T) {
	upstream := demoServer("alpha")
	up := serveHTTP(t, upstream, nil)
	gw := agentgateway.New(agentgateway.WithAccessLog(testing.Verbose()), agentgateway.WithDrainTimeout(200*time.Millisecond))
	first := mcp.Federate(mcp.HTTPTarget("alpha", up.URL))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").To(first))
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = gw.Close() })

	// A client that reconnects its GET stream, as real clients do when the stream ends.
	ctx := ctxT(t)
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "reload", Version: "1"}, nil).
		Connect(ctx, &sdk.StreamableClientTransport{Endpoint: srv.URL + "/mcp"}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	call := func(i int) {
		t.Helper()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": fmt.Sprint(i)}})
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("alpha:%d", i), text(t, res))
	}
	call(1)
	// Reload: a new federation object for the same target, as a config file edit would build.
	second := mcp.Federate(mcp.HTTPTarget("alpha", up.URL))
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{Name: "default", Routes: []agentgateway.RouteConfig{{
		Name: "mcp", Matches: []agentgateway.Match{{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/mcp"}}},
		Backends: []agentgateway.WeightedBackend{{Handler: second, Weight: 1}},
	}}}}}))
	call(2)
	// The old federation is retired once its streams drain; the session keeps working.
	require.Eventually(t, func() bool {
		w := httptest.NewRecorder()
		first.ServeHTTP(w, httptest.NewRequest("POST", "/mcp", strings.NewReader(`{}`)))
		return w.Code == http.StatusServiceUnavailable
	}, 10*time.Second, 20*time.Millisecond, "the replaced federation is closed")
	call(3)
	sessions := 0
	for range upstream.Sessions() {
		sessions++
	}
	require.Equal(t, 1, sessions, "one upstream session across the reload")
}
