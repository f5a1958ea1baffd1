package mcp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

// A config reload replaces the federation and so cuts the clients' GET streams. A go-sdk client
// reconnects, and gives the session up after a few reconnections "without progress" (no new event
// id). The gateway primes every GET stream with a fresh event id, so that reloads, however many,
// never make a client give up (found by the soak suite: after about six reloads every go-sdk client
// failed).
func TestGetStreamSurvivesManyReloads(t *testing.T) {
	up := serveHTTP(t, demoServer("one"), nil)
	key := []byte("0123456789abcdef0123456789abcdef")
	newFed := func() *mcp.Federation {
		return mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("one", up.URL)}, SessionKey: key})
	}
	var cur atomic.Pointer[mcp.Federation]
	cur.Store(newFed())
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
		}
		cur.Load().ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer func() { _ = cur.Load().Close() }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: srv.URL, MaxRetries: 2}, nil) // standalone GET stream on; gives up after 3 cuts without progress
	require.NoError(t, err)
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	require.NotEmpty(t, tools.Tools)
	for i := range 5 {
		before := gets.Load()
		old := cur.Swap(newFed()) // a reload: the replaced federation releases its sessions
		require.NoError(t, old.Close())
		// The client notices and reconnects its GET stream (after its back-off).
		require.Eventually(t, func() bool { return gets.Load() > before }, 20*time.Second, 20*time.Millisecond,
			"the client did not reconnect its GET stream after reload %d", i+1)
		_, err := cs.ListTools(ctx, nil)
		require.NoError(t, err, "after reload %d", i+1)
	}
}
