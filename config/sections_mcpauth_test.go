package config_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/config"
)

// mcpAuthYAML is agentgateway's mcp-authentication example shape: the MCP path and its well-known
// metadata path on one route, cors and mcpAuthentication as its policies.
const mcpAuthYAML = `
binds:
- port: 3000
  listeners:
  - routes:
    - matches:
      - path: {exact: /stdio/mcp}
      - path: {exact: /.well-known/oauth-protected-resource/stdio/mcp}
      policies:
        cors:
          allowHeaders: [mcp-protocol-version, content-type, authorization]
          allowOrigins: ['*']
        mcpAuthorization:
          rules:
          - jwt.iss == "https://issuer.example" && mcp.tool.name == "echo"
        mcpAuthentication:
          issuer: https://issuer.example
          audiences: []
          jwks:
            url: $JWKS
          jwtValidationOptions:
            requiredClaims: [exp]
          resourceMetadata:
            scopesSupported: [read:all]
            bearerMethodsSupported: [header]
            resourceDocumentation: http://localhost:3000/stdio/docs
      backends:
      - mcp:
          targets:
          - name: one
            mcp: {host: $ONE}
`

func TestMCPAuthenticationFromYAML(t *testing.T) {
	jwksURL, token := issuerJWKS(t)
	url := serveConfig(t, mcpAuthYAML, map[string]string{"JWKS": jwksURL, "ONE": mcpUpstream(t, "one")})

	resp, err := http.Get(url + "/.well-known/oauth-protected-resource/stdio/mcp")
	require.NoError(t, err)
	var prm map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&prm))
	resp.Body.Close()
	assert.Equal(t, url+"/stdio/mcp", prm["resource"])
	assert.Equal(t, []any{"https://issuer.example"}, prm["authorization_servers"])
	assert.Equal(t, []any{"read:all"}, prm["scopes_supported"])
	assert.Equal(t, "http://localhost:3000/stdio/docs", prm["resource_documentation"])

	resp, err = http.Post(url+"/stdio/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "mode defaults to strict for mcpAuthentication")
	assert.Equal(t, `Bearer resource_metadata="`+url+`/.well-known/oauth-protected-resource/stdio/mcp"`, resp.Header.Get("WWW-Authenticate"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := &http.Client{Transport: bearer{token}}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "cfg", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: url + "/stdio/mcp", HTTPClient: hc, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	require.Len(t, res.Tools, 1, "the verified claims reach mcpAuthorization")
	assert.Equal(t, "echo", res.Tools[0].Name)
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func TestMCPAuthenticationConfigErrors(t *testing.T) {
	const at = "policies.mcpAuthentication."
	for name, c := range map[string]struct{ from, to, path string }{
		"bad mode":       {"audiences: []", "audiences: []\n          mode: lenient", at + "mode"},
		"two providers":  {"audiences: []", "audiences: []\n          provider: {okta: {}, auth0: {}}", at + "provider"},
		"unknown idp":    {"audiences: []", "audiences: []\n          provider: {ping: {}}", at + "provider"},
		"idp field":      {"audiences: []", "audiences: []\n          provider: {keycloak: {realm: x}}", at + "provider.keycloak"},
		"no jwks":        {"          jwks:\n            url: $JWKS\n", "", at + "jwks"},
		"bad claim":      {"requiredClaims: [exp]", "requiredClaims: [exp, colour]", at + "jwtValidationOptions.requiredClaims[1]"},
		"bad location":   {"audiences: []", "audiences: []\n          authorizationLocation: {header: {name: ''}}", at + "authorizationLocation.header.name"},
		"authentik id":   {"audiences: []", "audiences: []\n          provider: {authentik: {}}", at + "clientId"},
		"relay key":      {"audiences: []", "audiences: []\n          relaySigningKey: abc", at + "relaySigningKey: relaySigningKey (agentgateway's newer Keycloak mode"},
		"unknown field":  {"audiences: []", "audiences: []\n          relaySigningKeys: abc", at + "relaySigningKeys"},
		"bad resource":   {"scopesSupported: [read:all]", "resource: /relative", at + "resourceMetadata.resource"},
		"missing issuer": {"issuer: https://issuer.example", "", at + "issuer"},
	} {
		t.Run(name, func(t *testing.T) {
			y := strings.Replace(mcpAuthYAML, c.from, c.to, 1)
			require.NotEqual(t, mcpAuthYAML, y)
			f, err := config.Load([]byte(y), func(string) (string, bool) { return "http://127.0.0.1:1", true })
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
