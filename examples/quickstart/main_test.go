package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
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

// demoCurls starts the quickstart gateway and returns its address and the printed curl lines that
// contain marker, with {base} filled in, so a test can run them exactly as a user would.
func demoCurls(t *testing.T, marker string) (base string, lines []string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	gw, all, cleanup, err := newGateway(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(cleanup)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	for _, l := range all {
		if strings.Contains(l, marker) {
			lines = append(lines, strings.ReplaceAll(l, "{base}", srv.URL))
		}
	}
	return srv.URL, lines
}
