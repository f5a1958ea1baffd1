package mcp_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

// A plain-HTTP target's SSE answer streams through the gateway (progress arrives while the tool is
// still running), and cancelling the call stops the tool upstream.
func TestHTTPTargetStreamsAndCancels(t *testing.T) {
	started := make(chan struct{}, 1)
	stopped := make(chan struct{}, 1)
	s := demoServer("alpha")
	sdk.AddTool(s, &sdk.Tool{Name: "wait", Description: "progress, then waits to be cancelled"}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
		started <- struct{}{}
		_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1, Total: 2})
		<-ctx.Done()
		stopped <- struct{}{}
		return nil, nil, ctx.Err()
	})
	up := serveHTTP(t, s, nil)
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}}))

	progress := make(chan float64, 4)
	cs := connect(t, gw.URL+"/mcp", &sdk.ClientOptions{ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
		progress <- req.Params.Progress
	}})
	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	require.NoError(t, err)
	assert.Equal(t, "alpha:hi", text(t, res))

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		params := &sdk.CallToolParams{Name: "wait", Arguments: map[string]any{}}
		params.SetProgressToken("p1")
		_, err := cs.CallTool(ctx, params)
		done <- err
	}()
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(30 * time.Second): // hang guard
			t.Fatal(what)
		}
	}
	wait("the tool did not start", started)
	select {
	case p := <-progress:
		assert.Equal(t, 1.0, p)
	case <-time.After(30 * time.Second): // hang guard
		t.Fatal("progress did not stream while the tool runs")
	}
	cancel()
	wait("cancelling the call did not stop the tool upstream", stopped)
	require.Error(t, <-done)
}

// Calls to a plain-HTTP target reuse pooled connections.
func TestHTTPTargetPoolsConnections(t *testing.T) {
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return demoServer("alpha") }, &sdk.StreamableHTTPOptions{JSONResponse: true})
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(h)
	up.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}}))
	cs := connect(t, gw.URL+"/mcp", nil)
	for range 10 {
		res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
		require.NoError(t, err)
		assert.Equal(t, "alpha:hi", text(t, res))
	}
	// Besides the calls: initialize, notifications/initialized, the GET stream.
	assert.Less(t, conns.Load(), int32(6), "ten calls reuse pooled connections")
}

// A configured header value with CR LF is refused with a clear error; it never reaches the target as
// a second header.
func TestHTTPTargetRefusesHeaderInjection(t *testing.T) {
	var injected, requests atomic.Int32
	inner := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return demoServer("alpha") }, &sdk.StreamableHTTPOptions{JSONResponse: true})
	up := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Injected") != "" {
			injected.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	target := mcp.HTTPTarget("alpha", up.URL)
	target.Headers = http.Header{"X-Bad": {"a\r\nInjected: 1"}}
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{target}}))
	c := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "1.0.0"}, nil)
	cs, err := c.Connect(ctxT(t), &sdk.StreamableClientTransport{Endpoint: gw.URL + "/mcp", MaxRetries: -1}, nil)
	if err == nil {
		_ = cs.Close()
	}
	require.ErrorContains(t, err, `invalid header field value for "X-Bad"`)
	assert.Zero(t, injected.Load())
	assert.Zero(t, requests.Load(), "the request is refused before anything is sent")
}
