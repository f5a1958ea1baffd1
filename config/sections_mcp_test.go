package config_test

import (
	"context"
	"fmt"
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
	for _, path := range []string{"/", "/any/path"} {
		names, _ = mcpToolNames(t, url+path)
		assert.Equal(t, []string{"echo"}, names, "the short form serves MCP on every path of its port: %s", path)
	}

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

// recordingMCPUpstream is mcpUpstream that also reports the Authorization of every request it gets.
func recordingMCPUpstream(t *testing.T, label string, auth chan<- string) string {
	s := sdk.NewServer(&sdk.Implementation{Name: label, Version: "1"}, nil)
	s.AddTool(&sdk.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: label + "/echo"}}}, nil
	})
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, &sdk.StreamableHTTPOptions{JSONResponse: true})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case auth <- r.Header.Get("Authorization") + "|" + r.Header.Get("X-Api-Key"):
		default:
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestMCPBackendAuthFromYAML: backendAuth on an MCP route reaches its targets, and a target's own
// backendAuth wins for that target.
func TestMCPBackendAuthFromYAML(t *testing.T) {
	oneSeen, twoSeen := make(chan string, 100), make(chan string, 100)
	const yaml = `
binds:
- port: 3000
  listeners:
  - routes:
    - matches:
      - path: {pathPrefix: /mcp}
      policies:
        backendAuth: {key: {value: route-secret}}
      backends:
      - mcp:
          targets:
          - name: one
            mcp: {host: $ONE}
          - name: two
            mcp: {host: $TWO}
            policies:
              backendAuth: {key: {value: two-secret, location: {header: {name: x-api-key}}}}
`
	url := serveConfig(t, yaml, map[string]string{"ONE": recordingMCPUpstream(t, "one", oneSeen), "TWO": recordingMCPUpstream(t, "two", twoSeen)})
	names, cs := mcpToolNames(t, url+"/mcp")
	assert.Equal(t, []string{"one_echo", "two_echo"}, names)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range names {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: n})
		require.NoError(t, err)
	}
	require.NotEmpty(t, oneSeen)
	for len(oneSeen) > 0 {
		assert.Equal(t, "Bearer route-secret|", <-oneSeen)
	}
	require.NotEmpty(t, twoSeen)
	for len(twoSeen) > 0 {
		assert.Equal(t, "|two-secret", <-twoSeen, "the target's own credential replaces the route's")
	}
}

// TestMCPBackendAuthPassthroughFromYAML: with jwtAuth and backendAuth passthrough on an MCP route, the
// client's verified token reaches the target (it did not before: the federation dropped it).
func TestMCPBackendAuthPassthroughFromYAML(t *testing.T) {
	jwksURL, tok := issuerJWKS(t)

	seen := make(chan string, 100)
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        jwtAuth: {mode: strict, issuer: https://issuer.example, jwks: {url: '` + jwksURL + `'}}
        backendAuth: {passthrough: {}}
      backends:
      - mcp:
          targets:
          - name: one
            mcp: {host: $ONE}
`
	url := serveConfig(t, yaml, map[string]string{"ONE": recordingMCPUpstream(t, "one", seen)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
		return http.DefaultTransport.RoundTrip(r)
	})}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "cfg", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url + "/", HTTPClient: hc}, nil)
	require.NoError(t, err)
	defer cs.Close()
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
	require.NoError(t, err)
	require.NotEmpty(t, seen)
	for len(seen) > 0 {
		assert.Equal(t, "Bearer "+tok+"|", <-seen)
	}
}

// TestMCPNamedBackendSharedByRoutes: a top-level named MCP backend referenced by two routes is one
// federation (one target definition, one set of upstream connections and sessions), and each route
// keeps its own authorization.
func TestMCPNamedBackendSharedByRoutes(t *testing.T) {
	const yaml = `
backends:
- name: shared
  mcp:
    targets:
    - name: one
      mcp: {host: $ONE}
binds:
- port: 3000
  listeners:
  - routes:
    - name: echo-only
      matches: [{path: {pathPrefix: /echo}}]
      policies:
        mcpAuthorization: {rules: ['mcp.tool.name == "echo"']}
      backends: [{backend: shared}]
    - name: admin-only
      matches: [{path: {pathPrefix: /admin}}]
      policies:
        mcpAuthorization: {rules: ['mcp.tool.name == "admin"']}
      backends: [{backend: shared}]
`
	env := map[string]string{"ONE": mcpUpstream(t, "one")}
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	routes := rt.Config.Listeners[0].Routes
	require.Len(t, routes, 2)
	assert.Same(t, routes[0].Backends[0].Handler, routes[1].Backends[0].Handler, "both routes share one federation")
	require.NoError(t, rt.Close())

	url := serveConfig(t, yaml, env)
	names, _ := mcpToolNames(t, url+"/echo")
	assert.Equal(t, []string{"echo"}, names)
	names, _ = mcpToolNames(t, url+"/admin")
	assert.Equal(t, []string{"admin"}, names)
}

// TestMCPTargetNamedHostBackend: an MCP target may name a top-level host backend; that backend's
// backendAuth authenticates the target.
func TestMCPTargetNamedHostBackend(t *testing.T) {
	seen := make(chan string, 100)
	const yaml = `
backends:
- name: up
  host: $ONE
  policies:
    backendAuth: {key: {value: named-secret}}
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - mcp:
          targets:
          - name: one
            mcp: {backend: up}
`
	url := serveConfig(t, yaml, map[string]string{"ONE": recordingMCPUpstream(t, "one", seen)})
	names, _ := mcpToolNames(t, url+"/mcp")
	assert.Equal(t, []string{"echo"}, names)
	require.NotEmpty(t, seen)
	for len(seen) > 0 {
		assert.Equal(t, "Bearer named-secret|", <-seen)
	}
}

func TestNamedBackendErrors(t *testing.T) {
	route := "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends: [{backend: %s}]\n"
	for name, c := range map[string]struct{ yaml, path string }{
		"missing":   {fmt.Sprintf(route, "nope"), "backends[0].backend: no backend named \"nope\""},
		"no name":   {"backends: [{host: 'a:1'}]\n", "backends[0].name"},
		"twice":     {"backends: [{name: a, host: 'a:1'}, {name: a, host: 'b:1'}]\n", "backends[1].name"},
		"chained":   {"backends: [{name: a, backend: b}]\n", "backends[0].backend"},
		"mcp to ai": {"backends: [{name: a, mcp: {targets: [{name: x, mcp: {host: 'h:1'}}]}}]\n" + "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends: [{mcp: {targets: [{name: y, mcp: {backend: a}}]}}]\n", "mcp.targets[0].mcp.backend: backend \"a\" is a mcp backend"},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := config.Load([]byte(c.yaml), nil)
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
