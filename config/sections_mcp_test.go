package config_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

func mcpUpstream(t *testing.T, label string) string {
	s := sdk.NewServer(&sdk.Implementation{Name: label, Version: "1"}, nil)
	for _, name := range []string{"echo", "admin"} {
		s.AddTool(&sdk.Tool{Name: name, InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: label + "/" + name}}}, nil
		})
	}
	ts := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(ts.Close)
	return ts.URL
}

// serveConfig loads, builds and serves a config; it returns the gateway's URL.
func serveConfig(t *testing.T, yaml string, env map[string]string) string {
	t.Helper()
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Apply(rt.Config))
	srv := httptest.NewServer(gw.PortHandler(rt.Config.Listeners[0].Port)) // the port the file binds
	t.Cleanup(func() {
		_ = rt.Close() // ends MCP sessions, so open streams finish
		srv.Close()
	})
	return srv.URL
}

func mcpToolNames(t *testing.T, url string) ([]string, *sdk.ClientSession) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "cfg", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	res, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	sort.Strings(names)
	return names, cs
}

const mcpRouteYAML = `
binds:
- port: 3000
  listeners:
  - routes:
    - name: mcp
      matches:
      - path: {pathPrefix: /mcp}
      policies:
        mcpAuthorization:
          rules:
          - mcp.tool.name == "echo"
          - allow: 'mcp.tool.target == "two" && request.headers["x-role"] == "admin"'
      backends:
      - mcp:
          prefixMode: always
          failureMode: failOpen
          targets:
          - name: one
            mcp: {host: $ONE}
          - name: two
            mcp: {host: $TWO}
            policies:
              requestHeaderModifier: {set: {x-from: gateway}}
`

func TestMCPBackendFromYAML(t *testing.T) {
	url := serveConfig(t, mcpRouteYAML, map[string]string{"ONE": mcpUpstream(t, "one"), "TWO": mcpUpstream(t, "two")})
	names, cs := mcpToolNames(t, url+"/mcp")
	assert.Equal(t, []string{"one_echo", "two_echo"}, names, "mcpAuthorization filters the list")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "two_echo"})
	require.NoError(t, err)
	assert.Equal(t, "two/echo", res.Content[0].(*sdk.TextContent).Text)
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "two_admin"})
	assert.ErrorContains(t, err, `unknown tool "two_admin"`)
}

const mcpShortYAML = `
mcp:
  port: 0
  statefulMode: stateful
  targets:
  - name: one
    mcp: {host: $ONE}
  policies:
    mcpAuthorization:
      rules:
      - deny: mcp.tool.name == "admin"
`

func TestMCPShortFormFromYAML(t *testing.T) {
	url := serveConfig(t, mcpShortYAML, map[string]string{"ONE": mcpUpstream(t, "one")})
	names, _ := mcpToolNames(t, url+"/mcp")
	assert.Equal(t, []string{"echo"}, names, "one target: bare names; the short form's policies apply")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "old", Version: "1"}, nil).Connect(ctx, &sdk.SSEClientTransport{Endpoint: url + "/sse"}, nil)
	require.NoError(t, err, "the short form serves legacy SSE at /sse")
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	assert.Len(t, res.Tools, 1)
}

func TestMCPConfigErrors(t *testing.T) {
	for name, c := range map[string]struct{ yaml, path string }{
		"underscore": {strings.Replace(mcpRouteYAML, "name: one", "name: my_one", 1), "backends[0].mcp.targets[0].name"},
		"bad rule":   {strings.Replace(mcpRouteYAML, `mcp.tool.name == "echo"`, `mcp.tool.name ==`, 1), "policies.mcpAuthorization.rules[0]"},
		"two kinds":  {strings.Replace(mcpRouteYAML, "mcp: {host: $ONE}", "mcp: {host: $ONE}\n            stdio: {cmd: x}", 1), "backends[0].mcp.targets[0]"},
		"bad mode":   {strings.Replace(mcpRouteYAML, "prefixMode: always", "prefixMode: sometimes", 1), "backends[0].mcp.prefixMode"},
		"unknown":    {strings.Replace(mcpShortYAML, "port: 0", "port: 0\n  colour: blue", 1), "mcp.colour"},
		"short bad":  {strings.Replace(mcpShortYAML, "name: one", "name: a_b", 1), "mcp.targets[0].name"},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := config.Load([]byte(c.yaml), func(string) (string, bool) { return "127.0.0.1:1", true })
			if err == nil {
				var rt *config.Runtime
				rt, err = f.Build(slog.New(slog.DiscardHandler))
				if rt != nil {
					_ = rt.Close()
				}
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.path)
		})
	}
}
