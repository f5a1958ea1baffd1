package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDemoRoutes runs the curl lines' requests against the quickstart gateway.
func TestDemoRoutes(t *testing.T) {
	gw, lines, cleanup, err := newGateway(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer cleanup()
	require.NotEmpty(t, lines)
	srv := httptest.NewServer(gw)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/hello")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "hello from agentgateway\n", string(b))

	resp, err = http.Get(srv.URL + "/echo/anything?x=1")
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	require.Equal(t, "/anything", got["path"])
	require.Equal(t, "x=1", got["query"])
	require.Equal(t, "set-by-gateway", got["x-demo"])
	require.Equal(t, "127.0.0.1", got["x-forwarded-for"])
}
