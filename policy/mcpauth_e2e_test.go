package policy_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
	"github.com/agentgw/agentgateway/policy"
)

// These tests run a real OpenID Connect provider (mockoidc: authorization-code flow with PKCE, RS256
// access tokens, a JWKS) in the test process, a gateway with mcpAuthentication in front of an MCP
// federation, and the go-sdk's own discovery helpers and client.

func startOIDC(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

func toolServer() *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "tools", Version: "1.0.0"}, nil)
	for _, name := range []string{"echo", "secret"} {
		sdk.AddTool(s, &sdk.Tool{Name: name}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: name + " ok"}}}, nil, nil
		})
	}
	return s
}

// startMCPGateway serves an MCP federation at /mcp behind cfg, with the well-known paths on the same
// route (as agentgateway's examples match them), and returns the gateway's URL.
func startMCPGateway(t *testing.T, cfg policy.MCPAuthConfig, rules *cel.RuleSet) string {
	t.Helper()
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("t", toolServer())}, Authorization: rules})
	t.Cleanup(func() { f.Close() })
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Route("mcp").Path("/mcp").Or().PathPrefix("/.well-known/").
		Policy(policy.NewMCPAuthentication(cfg)).To(f); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL
}

func oidcAuthConfig(m *mockoidc.MockOIDC, provider policy.MCPProvider) policy.MCPAuthConfig {
	return policy.MCPAuthConfig{
		Issuer:           m.Issuer(),
		Audiences:        []string{m.ClientID},
		JWKS:             policy.JWKS{URL: m.JWKSEndpoint()},
		Provider:         provider,
		ResourceMetadata: map[string]any{"scopesSupported": []string{"openid"}, "bearerMethodsSupported": []string{"header"}},
	}
}

// discover does what an MCP client does after a 401: read the challenge, fetch the protected-resource
// metadata it names, then the authorization server's metadata.
func discover(t *testing.T, gwURL string) (*oauthex.ProtectedResourceMetadata, *oauthex.AuthServerMeta) {
	t.Helper()
	ctx := context.Background()
	resp, err := http.Post(gwURL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status without a token = %d, want 401", resp.StatusCode)
	}
	chs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(chs) != 1 || chs[0].Scheme != "bearer" {
		t.Fatalf("challenge %q: %v", resp.Header.Values("WWW-Authenticate"), err)
	}
	prmURL := chs[0].Params["resource_metadata"]
	if want := gwURL + "/.well-known/oauth-protected-resource/mcp"; prmURL != want {
		t.Fatalf("resource_metadata = %q, want %q", prmURL, want)
	}
	prm, err := oauthex.GetProtectedResourceMetadata(ctx, prmURL, gwURL+"/mcp", http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if len(prm.AuthorizationServers) != 1 {
		t.Fatalf("authorization_servers = %v", prm.AuthorizationServers)
	}
	asm, err := auth.GetAuthServerMetadata(ctx, prm.AuthorizationServers[0], http.DefaultClient)
	if err != nil || asm == nil {
		t.Fatalf("authorization server metadata at %s: %v", prm.AuthorizationServers[0], err)
	}
	return prm, asm
}

// obtainToken runs the authorization-code flow with PKCE against the discovered endpoints with
// golang.org/x/oauth2, logging in as user (mockoidc answers the authorization request at once).
func obtainToken(t *testing.T, m *mockoidc.MockOIDC, asm *oauthex.AuthServerMeta, user string) (*oauth2.Config, *oauth2.Token) {
	t.Helper()
	m.QueueUser(&mockoidc.MockUser{Subject: user, Email: user + "@example.com"})
	conf := &oauth2.Config{
		ClientID: m.ClientID, ClientSecret: m.ClientSecret, RedirectURL: "http://127.0.0.1/callback",
		Scopes:   []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: asm.AuthorizationEndpoint, TokenURL: asm.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st4te" {
		t.Fatalf("authorization response %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return conf, tok
}

func connect(t *testing.T, endpoint string, hc *http.Client) *sdk.ClientSession {
	t.Helper()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1.0.0"}, nil).Connect(context.Background(),
		&sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

// A client that knows only the MCP URL discovers the authorization server from the 401, gets a token
// from it and lists tools: with a spec-compliant server (listed as is) and with a provider adapter
// (the gateway serves the adapted metadata and lists itself).
func TestMCPAuthDiscoveryThenToolsList(t *testing.T) {
	m := startOIDC(t)
	for _, p := range []policy.MCPProvider{policy.MCPProviderNone, policy.MCPProviderKeycloak} {
		t.Run("provider="+string(p), func(t *testing.T) {
			gwURL := startMCPGateway(t, oidcAuthConfig(m, p), nil)
			prm, asm := discover(t, gwURL)
			wantAS := m.Issuer()
			if p != policy.MCPProviderNone {
				wantAS = gwURL + "/mcp"
			}
			if prm.AuthorizationServers[0] != wantAS || !slices.Equal(prm.ScopesSupported, []string{"openid"}) {
				t.Fatalf("resource metadata %+v, want authorization server %s", prm, wantAS)
			}
			if asm.TokenEndpoint != m.TokenEndpoint() || asm.Issuer != wantAS {
				t.Fatalf("authorization server metadata issuer %q token %q", asm.Issuer, asm.TokenEndpoint)
			}
			conf, tok := obtainToken(t, m, asm, "alice")
			cs := connect(t, gwURL+"/mcp", conf.Client(context.Background(), tok))
			if got := toolNames(t, cs); !slices.Equal(got, []string{"echo", "secret"}) {
				t.Fatalf("tools = %v", got)
			}
		})
	}
}

// The claims of the verified token reach mcpAuthorization: jwt.sub decides who sees and calls the
// "secret" tool.
func TestMCPAuthClaimsReachMCPAuthorization(t *testing.T) {
	m := startOIDC(t)
	rules, err := cel.CompileRules(cel.Allow(`mcp.tool.name == "echo" || jwt.sub == "admin"`))
	if err != nil {
		t.Fatal(err)
	}
	gwURL := startMCPGateway(t, oidcAuthConfig(m, policy.MCPProviderNone), rules)
	_, asm := discover(t, gwURL)
	ctx := context.Background()

	conf, tok := obtainToken(t, m, asm, "alice")
	alice := connect(t, gwURL+"/mcp", conf.Client(ctx, tok))
	if got := toolNames(t, alice); !slices.Equal(got, []string{"echo"}) {
		t.Fatalf("alice sees %v, want [echo]", got)
	}
	if res, err := alice.CallTool(ctx, &sdk.CallToolParams{Name: "secret"}); err == nil && !res.IsError {
		t.Fatalf("alice called secret: %+v", res)
	}

	conf, tok = obtainToken(t, m, asm, "admin")
	admin := connect(t, gwURL+"/mcp", conf.Client(ctx, tok))
	if got := toolNames(t, admin); !slices.Equal(got, []string{"echo", "secret"}) {
		t.Fatalf("admin sees %v", got)
	}
	res, err := admin.CallTool(ctx, &sdk.CallToolParams{Name: "secret"})
	if err != nil || res.IsError || res.Content[0].(*sdk.TextContent).Text != "secret ok" {
		t.Fatalf("admin calling secret: %+v %v", res, err)
	}
}

// Tokens the provider did not issue for this resource, or no longer valid, are refused with 401 and
// a challenge that still leads to the metadata, so the client can start over.
func TestMCPAuthRefusesBadTokens(t *testing.T) {
	m := startOIDC(t)
	gwURL := startMCPGateway(t, oidcAuthConfig(m, policy.MCPProviderNone), nil)
	now := time.Now()
	sign := func(c jwt.MapClaims) string {
		base := jwt.MapClaims{"iss": m.Issuer(), "aud": m.ClientID, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range c {
			base[k] = v
		}
		s, err := m.Keypair.SignJWT(base)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	unsigned := func() string {
		enc := base64.RawURLEncoding.EncodeToString
		claims, _ := json.Marshal(map[string]any{"iss": m.Issuer(), "aud": m.ClientID, "sub": "alice", "exp": now.Add(time.Hour).Unix()})
		return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(claims) + "."
	}
	for name, tok := range map[string]string{
		"expired":        sign(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}),
		"wrong audience": sign(jwt.MapClaims{"aud": "another-client"}),
		"wrong issuer":   sign(jwt.MapClaims{"iss": "http://127.0.0.1:1/evil"}),
		"alg none":       unsigned(),
		"garbage":        "not-a-jwt",
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, gwURL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			chs, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
			if resp.StatusCode != http.StatusUnauthorized || err != nil || len(chs) != 1 {
				t.Fatalf("status %d, challenge %q (%v)", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), err)
			}
			if chs[0].Params["error"] != "invalid_token" || chs[0].Params["resource_metadata"] != gwURL+"/.well-known/oauth-protected-resource/mcp" {
				t.Fatalf("challenge params %v", chs[0].Params)
			}
		})
	}
	// The same token, properly signed, passes: the refusals above are about the token alone.
	req, _ := http.NewRequest(http.MethodPost, gwURL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`))
	req.Header.Set("Authorization", "Bearer "+sign(nil))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("valid token: status %d", resp.StatusCode)
	}
}

// The go-sdk client's own OAuth support (auth.AuthorizationCodeHandler) completes the flow against the
// gateway unaided: it reacts to the 401, discovers both metadata documents, runs the code flow with
// PKCE and RFC 8707's resource parameter, and retries with the token. The only stand-in is the
// "browser", which follows the authorization redirect.
func TestMCPAuthGoSDKOAuthHandler(t *testing.T) {
	m := startOIDC(t)
	for _, p := range []policy.MCPProvider{policy.MCPProviderNone, policy.MCPProviderKeycloak} {
		t.Run("provider="+string(p), func(t *testing.T) {
			gwURL := startMCPGateway(t, oidcAuthConfig(m, p), nil)
			browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
				PreregisteredClient: &oauthex.ClientCredentials{ClientID: m.ClientID, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: m.ClientSecret}},
				RedirectURL:         "http://127.0.0.1/callback",
				AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
					resp, err := browser.Get(args.URL)
					if err != nil {
						return nil, err
					}
					resp.Body.Close()
					loc, err := url.Parse(resp.Header.Get("Location"))
					if err != nil {
						return nil, err
					}
					return &auth.AuthorizationResult{Code: loc.Query().Get("code"), State: loc.Query().Get("state")}, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1.0.0"}, nil).Connect(context.Background(),
				&sdk.StreamableClientTransport{Endpoint: gwURL + "/mcp", OAuthHandler: h, DisableStandaloneSSE: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if got := toolNames(t, cs); !slices.Equal(got, []string{"echo", "secret"}) {
				t.Fatalf("tools = %v", got)
			}
		})
	}
}
