package mcp_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

// countingListener counts the TCP connections a server accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// serveCounted serves h on 127.0.0.1, counting the connections it accepts.
func serveCounted(t testing.TB, h http.Handler) (*httptest.Server, *countingListener) {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	cl := &countingListener{Listener: ts.Listener}
	ts.Listener = cl
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, cl
}

// connectNoGET opens a go-sdk client session without the standalone GET stream, so that the only
// upstream traffic is the calls a test makes.
func connectNoGET(t testing.TB, url string) *sdk.ClientSession {
	t.Helper()
	c := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "1.0.0"}, nil)
	cs, err := c.Connect(ctxT(t), &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// A target that answers in SSE (the go-sdk default) ends each answer with the end of its chunked
// body; the gateway must read it, or the upstream connection is closed and every call dials anew.
func TestSSEAnswerReusesUpstreamConnection(t *testing.T) {
	s := demoServer("alpha")
	up, conns := serveCounted(t, sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}}))
	cs := connectNoGET(t, gw.URL+"/mcp")
	params := &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}}
	for range 3 { // warm-up
		_, err := cs.CallTool(ctxT(t), params)
		require.NoError(t, err)
	}
	before := conns.n.Load()
	const calls = 50
	for range calls {
		res, err := cs.CallTool(ctxT(t), params)
		require.NoError(t, err)
		require.Equal(t, "alpha:hi", text(t, res))
	}
	require.Zero(t, conns.n.Load()-before, "new upstream connections over %d calls", calls)
}

// blockingServer has a tool that runs until its context is cancelled, then reports it.
func blockingServer(started chan<- struct{}, cancelled chan<- struct{}) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "blocker", Version: "1.0.0"}, nil)
	s.AddTool(&sdk.Tool{Name: "block", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		started <- struct{}{}
		select {
		case <-ctx.Done():
			cancelled <- struct{}{}
		case <-time.After(time.Minute):
		}
		return &sdk.CallToolResult{}, nil
	})
	return s
}

// A client that disconnects in the middle of a tool call must not leave the tool running at the
// target: the gateway sends notifications/cancelled for the request it forwarded.
func TestClientDisconnectCancelsUpstreamCall(t *testing.T) {
	for _, mode := range []struct {
		name string
		json bool
	}{{"sse", false}, {"json", true}} {
		t.Run(mode.name, func(t *testing.T) {
			started, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
			up := serveHTTP(t, blockingServer(started, cancelled), &sdk.StreamableHTTPOptions{JSONResponse: mode.json})
			gw := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}}))
			url := gw.URL + "/mcp"
			sid := initSession(t, url)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"block","arguments":{}}}`))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", sid)
			errc := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			select {
			case <-started:
			case <-time.After(30 * time.Second):
				t.Fatal("the tool did not start")
			}
			cancel() // the client goes away
			<-errc
			select {
			case <-cancelled:
			case <-time.After(30 * time.Second):
				t.Fatal("the tool kept running after the client disconnected")
			}
		})
	}
}
