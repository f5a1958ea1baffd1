package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPinsFlagAndAdmin: --pins pins the tools of an MCP backend that names no pin file; a changed tool
// is hidden (the config's pinning: hide), listed at the admin listener's /mcp/pins, and accepted there
// with a JSON POST (a form POST, which a web page could send cross-site, is refused).
func TestPinsFlagAndAdmin(t *testing.T) {
	srv := sdk.NewServer(&sdk.Implementation{Name: "up", Version: "1"}, nil)
	setEcho := func(desc string) {
		srv.AddTool(&sdk.Tool{Name: "echo", Description: desc, InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: desc}}}, nil
		})
	}
	setEcho("v1")
	up := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	t.Cleanup(up.Close)

	dir := t.TempDir()
	cfg, pins := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "pins.json")
	port := freePort(t)
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
mcp:
  port: %d
  pinning: hide
  targets:
  - name: up
    mcp: {host: %s/}
`, port, up.URL)), 0o600))
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	stderr := &syncBuffer{}
	go func() {
		done <- run(ctx, []string{"-f", cfg, "--pins", pins, "--bind-address", "127.0.0.1", "--admin-addr", admin, "--stats-addr", "off", "--readiness-addr", "off", "--drain-timeout", "1s"}, io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			assert.Equal(t, 0, code, stderr.String())
		case <-time.After(10 * time.Second):
			t.Error("gateway did not shut down")
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + admin + "/healthz/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond, "gateway never became ready: %s", stderr)

	cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ccancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(cctx, &sdk.StreamableClientTransport{Endpoint: fmt.Sprintf("http://127.0.0.1:%d/", port)}, nil)
	require.NoError(t, err)
	defer cs.Close()
	names := func() []string {
		res, err := cs.ListTools(cctx, nil)
		require.NoError(t, err)
		var out []string
		for _, tool := range res.Tools {
			out = append(out, tool.Name)
		}
		return out
	}
	require.Equal(t, []string{"echo"}, names())
	b, err := os.ReadFile(pins)
	require.NoError(t, err)
	require.Contains(t, string(b), `"up"`)

	setEcho("v2")
	require.Empty(t, names())
	resp, body := get(t, http.DefaultClient, "http://"+admin+"/mcp/pins")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var pending []struct{ Target, Tool string }
	require.NoError(t, json.Unmarshal([]byte(body), &pending), body)
	require.Equal(t, []struct{ Target, Tool string }{{"up", "echo"}}, pending)

	form, err := http.Post("http://"+admin+"/mcp/pins", "application/x-www-form-urlencoded", strings.NewReader(`{"target":"up","tool":"echo"}`))
	require.NoError(t, err)
	form.Body.Close()
	require.Equal(t, http.StatusUnsupportedMediaType, form.StatusCode)
	require.Empty(t, names())

	ok, err := http.Post("http://"+admin+"/mcp/pins", "application/json", strings.NewReader(`{"target":"up","tool":"echo"}`))
	require.NoError(t, err)
	ok.Body.Close()
	require.Equal(t, http.StatusNoContent, ok.StatusCode)
	require.Equal(t, []string{"echo"}, names())
}
