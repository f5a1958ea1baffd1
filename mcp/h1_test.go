package mcp

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestH1ClientReusesConnectionsAndRefusesBadHeaders(t *testing.T) {
	var conns atomic.Int32
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", r.Header.Get("X-Test"))
		_, _ = w.Write(append([]byte("echo:"), b...))
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	u, _ := url.Parse(ts.URL + "/mcp")
	c := newH1Client(u)
	defer c.closeIdle()
	for i := range 5 {
		resp, err := c.do(context.Background(), http.MethodPost, http.Header{"X-Test": {"ok"}, "X-Bad": {"a\r\nInjected: 1"}}, []byte("hi"))
		require.NoError(t, err, i)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "echo:hi", string(b))
		assert.Equal(t, "ok", resp.Header.Get("X-Got"))
	}
	assert.Equal(t, int32(1), conns.Load(), "one pooled connection")

	// A connection the server closed is noticed before reuse.
	ts.CloseClientConnections()
	resp, err := c.do(context.Background(), http.MethodGet, nil, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, int32(2), conns.Load())

	// Cancellation interrupts a request and does not poison the pool.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.do(ctx, http.MethodGet, nil, nil)
	assert.Error(t, err)
}
