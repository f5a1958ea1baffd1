package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

const mcpAuthConfig = `
binds:
- port: %d
  listeners:
  - routes:
    - matches:
      - path: {exact: /keycloak/mcp}
      - path: {exact: /.well-known/oauth-protected-resource/keycloak/mcp}
      - path: {exact: /.well-known/oauth-authorization-server/keycloak/mcp}
      policies:
        cors:
          allowHeaders: [mcp-protocol-version, content-type]
          allowOrigins: ['*']
        mcpAuthorization:
          rules:
          - jwt.sub == "alice"
        mcpAuthentication:
          mode: strict
          issuer: %s
          audiences: [%s]
          provider:
            keycloak: {}
          jwks:
            url: %s
          resourceMetadata:
            scopesSupported: [openid]
            bearerMethodsSupported: [header]
      backends:
      - mcp:
          targets:
          - name: tools
            mcp: {host: %s}
`

// TestMCPAuthenticationThroughTheBinary: the binary, given agentgateway's Keycloak-style
// mcpAuthentication config, leads a client from the 401 to a real OIDC provider (mockoidc) through
// the metadata it serves, and accepts the token the provider issues.
func TestMCPAuthenticationThroughTheBinary(t *testing.T) {
	m, err := mockoidc.Run()
	require.NoError(t, err)
	defer func() { _ = m.Shutdown() }()

	s := sdk.NewServer(&sdk.Implementation{Name: "up", Version: "1"}, nil)
	s.AddTool(&sdk.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "ok"}}}, nil
	})
	up := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, &sdk.StreamableHTTPOptions{JSONResponse: true}))
	defer up.Close()

	port := freePort(t)
	g := start(t, fmt.Sprintf(mcpAuthConfig, port, m.Issuer(), m.ClientID, m.JWKSEndpoint(), up.URL), port)
	endpoint := g.url("/keycloak/mcp")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	resp, err := http.Post(endpoint, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	chs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	require.NoError(t, err)
	require.Len(t, chs, 1)
	prm, err := oauthex.GetProtectedResourceMetadata(ctx, chs[0].Params["resource_metadata"], endpoint, http.DefaultClient)
	require.NoError(t, err)
	require.Equal(t, []string{endpoint}, prm.AuthorizationServers, "with a provider the gateway is the clients' authorization server")
	asm, err := auth.GetAuthServerMetadata(ctx, prm.AuthorizationServers[0], http.DefaultClient)
	require.NoError(t, err)
	require.NotNil(t, asm)
	assert.Equal(t, m.TokenEndpoint(), asm.TokenEndpoint)

	m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	conf := &oauth2.Config{ClientID: m.ClientID, ClientSecret: m.ClientSecret, RedirectURL: "http://127.0.0.1/cb", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: asm.AuthorizationEndpoint, TokenURL: asm.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Get(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	require.NoError(t, err)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)

	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: conf.Client(ctx, tok), DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	require.Len(t, res.Tools, 1)
	assert.Equal(t, "echo", res.Tools[0].Name)
}
