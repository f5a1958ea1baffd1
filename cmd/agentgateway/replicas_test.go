package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

// switchHost sends every request to the host it currently holds: one client, several replicas.
type switchHost struct{ to atomic.Pointer[string] }

func (s *switchHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host = *s.to.Load()
	r.Host = r.URL.Host
	return http.DefaultTransport.RoundTrip(r)
}

// Two binaries given the same config.session.key continue one MCP session: a go-sdk client opens it
// on the first and calls a tool on the second with the same session id; a third binary with another
// key does not know the session.
func TestTwoBinariesShareMCPSessions(t *testing.T) {
	s := sdk.NewServer(&sdk.Implementation{Name: "up", Version: "1"}, nil)
	sdk.AddTool(s, &sdk.Tool{Name: "echo"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "pong"}}}, nil, nil
	})
	up := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(up.Close) // after the gateways stop (cleanups run last first): they end their upstream sessions
	cfg := func(key string, port int) string {
		return fmt.Sprintf(`
config:
  session: {key: "%s"}
binds:
- port: %d
  listeners:
  - routes:
    - backends:
      - mcp:
          targets:
          - name: one
            mcp: {host: "%s/mcp"}
`, key, port, up.URL)
	}
	key := strings.Repeat("1f", 32)
	pa, pb, pc := freePort(t), freePort(t), freePort(t)
	a := start(t, cfg(key, pa), pa)
	b := start(t, cfg(key, pb), pb)
	other := start(t, cfg(strings.Repeat("2e", 32), pc), pc)

	sw := &switchHost{}
	host := func(g *gateway) *string { h := fmt.Sprintf("127.0.0.1:%d", g.port); return &h }
	sw.to.Store(host(a))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: a.url("/mcp"), HTTPClient: &http.Client{Transport: sw}, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer func() {
		sw.to.Store(host(a)) // end the session where it is known, which ends it at the target too
		_ = cs.Close()
	}()
	call := func() error {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
		if err == nil && res.Content[0].(*sdk.TextContent).Text != "pong" {
			err = fmt.Errorf("unexpected answer %+v", res.Content)
		}
		return err
	}
	require.NoError(t, call())
	resp, body := get(t, http.DefaultClient, "http://"+a.admin+"/stats")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `"mcpSessions":{"open":1,`, "/stats counts the open MCP session")
	sw.to.Store(host(b))
	require.NoError(t, call(), "the second binary continues the session the first opened")
	sw.to.Store(host(other))
	require.Error(t, call(), "a binary with another key does not open the session id")
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}
