package config_test

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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// headerRoundTripper adds fixed headers to every request of an MCP client.
type headerRoundTripper struct{ hdr http.Header }

func (h headerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.hdr {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestTrustScoringSpellings: agentgateway's trust-scoring example writes an extAuthz entry as host
// plus port, protocol http, a CEL path and `headers`, and an MCP target as name, host and port
// beside each other. Served here: the authorizer is called at the path with the listed headers
// (and no others), its 403 denies, its 200 lets the MCP session reach the go-sdk server.
func TestTrustScoringSpellings(t *testing.T) {
	var sawURL, sawCookie atomic.Value
	var calls atomic.Int32
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/authorize" {
			w.WriteHeader(404)
			return
		}
		sawURL.Store(r.Header.Get("X-Mcp-Server-Url"))
		sawCookie.Store(r.Header.Get("Cookie"))
		if r.Header.Get("Authorization") != "Bearer trusted" {
			w.WriteHeader(403)
			return
		}
	}))
	t.Cleanup(authz.Close)
	ahost, aport, _ := net.SplitHostPort(strings.TrimPrefix(authz.URL, "http://"))
	mhost, mport, _ := net.SplitHostPort(strings.TrimPrefix(mcpUpstream(t, "up"), "http://"))
	yaml := `
binds:
- port: 3005
  listeners:
  - routes:
    - policies:
        extAuthz:
          conditional:
          - host: $AH
            port: $AP
            protocol: http
            path: '"/authorize"'
            headers: [authorization, x-mcp-server-url]
      backends:
      - mcp:
          targets:
          - name: upstream
            host: $MH
            port: $MP
            path: /mcp
`
	url := serveConfig(t, yaml, map[string]string{"AH": ahost, "AP": aport, "MH": mhost, "MP": mport})

	resp, err := http.Post(url+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 403, resp.StatusCode, "the authorizer's 403 denies")
	require.NotZero(t, calls.Load())

	hc := &http.Client{Transport: headerRoundTripper{http.Header{
		"Authorization":    {"Bearer trusted"},
		"X-Mcp-Server-Url": {"https://srv.example/mcp"},
		"Cookie":           {"secret=1"},
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url + "/mcp", HTTPClient: hc}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
	require.NoError(t, err)
	assert.Equal(t, "up/echo", res.Content[0].(*sdk.TextContent).Text)
	assert.Equal(t, "https://srv.example/mcp", sawURL.Load())
	assert.Equal(t, "", sawCookie.Load(), "only the listed headers reach the authorizer")

	for _, c := range []struct{ policies, backend, path string }{
		{"{extAuthz: {host: a:1, port: 2}}", "{host: h:1}", "policies.extAuthz.port"},
		{"{extAuthz: {port: 2}}", "{host: h:1}", "policies.extAuthz.port"},
		{"{extAuthz: {host: a, port: 70000}}", "{host: h:1}", "policies.extAuthz.port"},
		{"{extAuthz: {host: a:1, headers: [x], includeRequestHeaders: [y]}}", "{host: h:1}", "policies.extAuthz.headers"},
		{"{}", "{mcp: {targets: [{name: t, host: h, port: 1, mcp: {host: h:1}}]}}", "mcp.targets[0].host"},
		{"{}", "{mcp: {targets: [{name: t, port: 1}]}}", "mcp.targets[0].host"},
		{"{}", "{mcp: {targets: [{name: t, host: h, port: 70000}]}}", "mcp.targets[0].port"},
	} {
		_, err := build(t, "binds: [{port: 1, listeners: [{routes: [{backends: ["+c.backend+"], policies: "+c.policies+"}]}]}]", nil)
		require.Error(t, err, c.policies+c.backend)
		assert.Contains(t, err.Error(), c.path, c.policies+c.backend)
	}
}
