package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func newMCPAuth(t testing.TB, cfg policy.MCPAuthConfig) agentgateway.Policy {
	t.Helper()
	keys(t)
	if cfg.Issuer == "" {
		cfg.Issuer = "https://issuer.example"
	}
	if cfg.Audiences == nil {
		cfg.Audiences = []string{"api"}
	}
	if cfg.JWKS.URL == "" && cfg.Provider == policy.MCPProviderNone {
		cfg.JWKS = policy.JWKS{JSON: []byte(jwks(t, rsaKey))}
	}
	p, err := policy.NewMCPAuthentication(cfg)
	require.NoError(t, err)
	return p
}

func decodeJSON(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc), w.Body.String())
	return doc
}

// The protected-resource metadata (RFC 9728) describes the MCP endpoint named by the path suffix;
// configured fields are written in the RFC's snake_case; browsers may read it from any origin.
func TestMCPAuthResourceMetadata(t *testing.T) {
	p := newMCPAuth(t, policy.MCPAuthConfig{ResourceMetadata: map[string]any{
		"scopesSupported": []string{"read:all"}, "resourcePolicyUri": "https://gw.example/policies", "resourceDocumentation": "https://gw.example/docs",
	}})
	var s seen
	w := do(p, s.Handler(200, ""), req("GET", "http://gw.example/.well-known/oauth-protected-resource/team/mcp"))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, 0, s.Calls, "the metadata is the policy's answer, not the backend's")
	assert.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	doc := decodeJSON(t, w)
	assert.Equal(t, "http://gw.example/team/mcp", doc["resource"])
	assert.Equal(t, []any{"https://issuer.example"}, doc["authorization_servers"])
	assert.Equal(t, []any{"read:all"}, doc["scopes_supported"])
	assert.Equal(t, "https://gw.example/policies", doc["resource_policy_uri"])
	assert.Equal(t, "https://gw.example/docs", doc["resource_documentation"])
	assert.NotContains(t, doc, "scopesSupported")

	// An escaped slash after the prefix is read as the slash it decodes to.
	w = do(p, s.Handler(200, ""), req("GET", "http://gw.example/.well-known/oauth-protected-resource%2Fteam/mcp"))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "http://gw.example/team/mcp", decodeJSON(t, w)["resource"])

	// The bare form describes the origin's root resource.
	w = do(p, s.Handler(200, ""), req("GET", "http://gw.example/.well-known/oauth-protected-resource"))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "http://gw.example", decodeJSON(t, w)["resource"])

	// A browser's preflight is answered; other methods are not allowed.
	w = do(p, s.Handler(200, ""), req("OPTIONS", "http://gw.example/.well-known/oauth-protected-resource/mcp",
		"Origin", "https://app.example", "Access-Control-Request-Method", "GET"))
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
	assert.Contains(t, w.Header().Get("Access-Control-Allow-Methods"), "GET")
	w = do(p, s.Handler(200, ""), req("POST", "http://gw.example/.well-known/oauth-protected-resource/mcp"))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, 0, s.Calls)

	// A configured resource wins, and its origin is the one the challenge points at.
	p = newMCPAuth(t, policy.MCPAuthConfig{ResourceMetadata: map[string]any{"resource": "https://public.example/mcp"}})
	w = do(p, s.Handler(200, ""), req("GET", "http://10.0.0.1:3000/.well-known/oauth-protected-resource/mcp"))
	assert.Equal(t, "https://public.example/mcp", decodeJSON(t, w)["resource"])
	w = do(p, s.Handler(200, ""), req("POST", "http://10.0.0.1:3000/mcp"))
	assert.Equal(t, `Bearer resource_metadata="https://public.example/.well-known/oauth-protected-resource/mcp"`, w.Header().Get("WWW-Authenticate"))
}

// The challenge names this endpoint's metadata; forwarded scheme and host count only from a trusted
// proxy; a challenge for a hostile path still parses.
func TestMCPAuthChallenge(t *testing.T) {
	p := newMCPAuth(t, policy.MCPAuthConfig{})
	var s seen
	run := func(trusted bool, r *http.Request) *httptest.ResponseRecorder {
		st := &agentgateway.State{TrustedProxy: trusted}
		w := httptest.NewRecorder()
		p.Wrap(s.Handler(200, "")).ServeHTTP(w, r.WithContext(agentgateway.WithState(r.Context(), st)))
		return w
	}
	fwd := func() *http.Request {
		return req("POST", "http://internal:8080/a/mcp", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "mcp.example.com")
	}
	w := run(true, fwd())
	require.Equal(t, 401, w.Code)
	assert.Equal(t, `Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/a/mcp"`, w.Header().Get("WWW-Authenticate"))
	assert.Contains(t, w.Body.String(), "missing")
	w = run(false, fwd())
	assert.Equal(t, `Bearer resource_metadata="http://internal:8080/.well-known/oauth-protected-resource/a/mcp"`, w.Header().Get("WWW-Authenticate"))

	w = run(false, req("POST", `http://gw/a%22b\c/mcp`, "Authorization", "Bearer x"))
	require.Equal(t, 401, w.Code)
	chs, err := oauthex.ParseWWWAuthenticate(w.Header().Values("WWW-Authenticate"))
	require.NoError(t, err)
	require.Len(t, chs, 1)
	assert.Equal(t, "invalid_token", chs[0].Params["error"])
	assert.Equal(t, "http://gw/.well-known/oauth-protected-resource/a%22b%5Cc/mcp", chs[0].Params["resource_metadata"])
	assert.Equal(t, 0, s.Calls)

	// With CORS allowed by the cors policy in front, a browser client may read the challenge.
	cors, err := policy.NewCORS(policy.CORSConfig{AllowOrigins: []string{"*"}})
	require.NoError(t, err)
	h := cors.Wrap(p.Wrap(s.Handler(200, "")))
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req("POST", "http://gw/mcp", "Origin", "https://app.example"))
	require.Equal(t, 401, rw.Code)
	assert.Contains(t, rw.Header().Values("Access-Control-Expose-Headers"), "WWW-Authenticate")
}

// A valid token passes with its claims in State (jwt.* in CEL) and is not forwarded; modes decide
// what happens without one; missing scopes are 403 insufficient_scope.
func TestMCPAuthModesAndScopes(t *testing.T) {
	good := mint(t, rsaKeyOf(t), claims(map[string]any{"scope": "openid tools:read"}))
	bad := mint(t, rsaKeyOf(t), claims(map[string]any{"aud": "other"}))
	for _, tc := range []struct {
		mode            policy.Mode
		none, invalid   int
		scopeless, good int
	}{
		{policy.ModeStrict, 401, 401, 403, 200},
		{policy.ModeOptional, 200, 401, 403, 200},
		{policy.ModePermissive, 200, 200, 200, 200},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			p := newMCPAuth(t, policy.MCPAuthConfig{Mode: tc.mode, RequiredScopes: []string{"tools:read"}})
			var s seen
			code := func(hdr ...string) int { return do(p, s.Handler(200, ""), req("POST", "http://gw/mcp", hdr...)).Code }
			assert.Equal(t, tc.none, code())
			assert.Equal(t, tc.invalid, code("Authorization", "Bearer "+bad))
			assert.Equal(t, tc.scopeless, code("Authorization", "Bearer "+mint(t, rsaKeyOf(t), claims(nil))))
			s = seen{}
			assert.Equal(t, tc.good, code("Authorization", "Bearer "+good))
			require.Equal(t, 1, s.Calls)
			assert.Equal(t, "alice", s.State.Identity.Subject)
			assert.Equal(t, "o1", s.State.Identity.JWT["org"].(map[string]any)["id"])
			assert.Empty(t, s.Req.Header.Get("Authorization"), "the gateway's token is not the target's")
			assert.Equal(t, good, policy.TokenFrom(s.Req.Context()), "backendAuth passthrough can forward it")
		})
	}
	p := newMCPAuth(t, policy.MCPAuthConfig{RequiredScopes: []string{"tools:read", "tools:call"}})
	var s seen
	w := do(p, s.Handler(200, ""), req("POST", "http://gw/mcp"))
	require.Equal(t, 401, w.Code)
	assert.Equal(t, `Bearer resource_metadata="http://gw/.well-known/oauth-protected-resource/mcp", scope="tools:read tools:call"`, w.Header().Get("WWW-Authenticate"),
		"the first challenge already says which scopes to ask for")
	w = do(p, s.Handler(200, ""), req("POST", "http://gw/mcp", "Authorization", "Bearer "+good))
	require.Equal(t, 403, w.Code)
	chs, err := oauthex.ParseWWWAuthenticate(w.Header().Values("WWW-Authenticate"))
	require.NoError(t, err)
	assert.Equal(t, "insufficient_scope", chs[0].Params["error"])
	assert.Equal(t, "tools:read tools:call", chs[0].Params["scope"])
	// scp as a list (Entra, Okta) counts too.
	w = do(p, s.Handler(200, ""), req("POST", "http://gw/mcp", "Authorization", "Bearer "+mint(t, rsaKeyOf(t), claims(map[string]any{"scp": []string{"tools:call", "tools:read"}}))))
	assert.Equal(t, 200, w.Code)
}

func rsaKeyOf(t testing.TB) testKey { keys(t); return rsaKey }

// fakeIdP is a provider's HTTP surface; every request the policy makes, whatever its host, reaches it
// (so the URLs the policy derives for Entra and Descope are observable without a network).
type fakeIdP struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []string // method + original URL
	form url.Values
	auth string
	body string
	meta map[string]any
}

func newFakeIdP(t *testing.T) *fakeIdP {
	f := &fakeIdP{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.auth, f.body = r.Header.Get("Authorization"), string(b)
		f.form, _ = url.ParseQuery(string(b))
		switch {
		case strings.HasSuffix(r.URL.Path, "openid-configuration"):
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(f.meta)
		case strings.HasSuffix(r.URL.Path, "/token"):
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"t","token_type":"Bearer"}`)
		case r.Method == http.MethodPost:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"client_id":"dyn"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIdP) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.hits = append(f.hits, r.Method+" "+r.URL.String())
	f.mu.Unlock()
	u, _ := url.Parse(f.srv.URL)
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
	return http.DefaultTransport.RoundTrip(r)
}

func (f *fakeIdP) client() *http.Client { return &http.Client{Transport: f} }

func (f *fakeIdP) lastHit() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[len(f.hits)-1]
}

// Each provider's metadata is fetched where it publishes it and adapted as agentgateway adapts it;
// the served issuer is the URL it is served at (RFC 8414 §3.3).
func TestMCPAuthProviderMetadata(t *testing.T) {
	const self = "http://gw.example/.well-known/oauth-authorization-server/mcp"
	for _, tc := range []struct {
		provider policy.MCPProvider
		issuer   string
		clientID string
		fetched  string
		check    func(t *testing.T, doc map[string]any)
	}{
		{provider: policy.MCPProviderKeycloak, issuer: "https://kc.example/realms/mcp", fetched: "https://kc.example/realms/mcp/.well-known/openid-configuration",
			check: func(t *testing.T, doc map[string]any) {
				assert.Equal(t, self+"/client-registration", doc["registration_endpoint"])
				assert.Equal(t, "https://idp.example/authorize", doc["authorization_endpoint"])
			}},
		{provider: policy.MCPProviderAuth0, issuer: "https://tenant.auth0.com/", fetched: "https://tenant.auth0.com/.well-known/oauth-authorization-server",
			check: func(t *testing.T, doc map[string]any) {
				assert.Equal(t, "https://idp.example/authorize?audience=urn%3Aapi", doc["authorization_endpoint"])
				assert.Equal(t, "https://idp.example/register", doc["registration_endpoint"], "Auth0's own registration has CORS")
			}},
		{provider: policy.MCPProviderOkta, issuer: "https://org.okta.com/oauth2/default", fetched: "https://org.okta.com/oauth2/default/.well-known/openid-configuration",
			check: func(t *testing.T, doc map[string]any) {
				assert.Equal(t, "https://idp.example/authorize?audience=urn%3Aapi", doc["authorization_endpoint"])
				assert.Equal(t, self+"/client-registration", doc["registration_endpoint"])
			}},
		{provider: policy.MCPProviderAuthentik, issuer: "https://ak.example/application/o/mcp/", clientID: "pre", fetched: "https://ak.example/application/o/mcp/.well-known/openid-configuration",
			check: func(t *testing.T, doc map[string]any) {
				assert.Equal(t, self+"/client-registration", doc["registration_endpoint"])
			}},
		{provider: policy.MCPProviderEntra, issuer: "https://sts.windows.net/tid/", clientID: "app", fetched: "https://login.microsoftonline.com/tid/v2.0/.well-known/openid-configuration",
			check: func(t *testing.T, doc map[string]any) {
				assert.Equal(t, self+"/authorize", doc["authorization_endpoint"])
				assert.Equal(t, self+"/token", doc["token_endpoint"])
				assert.Equal(t, []any{"S256"}, doc["code_challenge_methods_supported"], "Entra omits it; MCP clients require PKCE")
			}},
		{provider: policy.MCPProviderNone, issuer: "https://as.example/tenant", fetched: "https://as.example/.well-known/oauth-authorization-server/tenant",
			check: func(t *testing.T, doc map[string]any) {
				assert.Equal(t, "https://as.example/tenant", doc["issuer"], "a spec-compliant server's metadata passes unchanged")
				assert.Equal(t, true, doc["authorization_response_iss_parameter_supported"])
			}},
	} {
		t.Run(string(tc.provider), func(t *testing.T) {
			f := newFakeIdP(t)
			f.meta = map[string]any{"issuer": tc.issuer, "authorization_endpoint": "https://idp.example/authorize",
				"token_endpoint": "https://idp.example/token", "registration_endpoint": "https://idp.example/register",
				"authorization_response_iss_parameter_supported": true}
			p := newMCPAuth(t, policy.MCPAuthConfig{Issuer: tc.issuer, Provider: tc.provider, ClientID: tc.clientID,
				Audiences: []string{"urn:api"}, HTTPClient: f.client(), JWKS: policy.JWKS{URL: "https://keys.example/jwks"}})
			var s seen
			w := do(p, s.Handler(200, ""), req("GET", self))
			require.Equal(t, 200, w.Code, w.Body.String())
			assert.Equal(t, "GET "+tc.fetched, f.hits[0])
			if tc.provider == policy.MCPProviderNone || tc.provider == policy.MCPProviderAuth0 {
				// The fake has nothing at the RFC 8414 path: the policy falls back to OIDC discovery.
				assert.Len(t, f.hits, 2)
				assert.Contains(t, f.lastHit(), "/.well-known/openid-configuration")
			}
			assert.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
			doc := decodeJSON(t, w)
			if tc.provider != policy.MCPProviderNone {
				assert.Equal(t, "http://gw.example/mcp", doc["issuer"])
				assert.NotContains(t, doc, "authorization_response_iss_parameter_supported")
			}
			tc.check(t, doc)
			// The protected-resource metadata lists the gateway as the authorization server when it
			// adapts a provider.
			w = do(p, s.Handler(200, ""), req("GET", "http://gw.example/.well-known/oauth-protected-resource/mcp"))
			as := decodeJSON(t, w)["authorization_servers"]
			if tc.provider == policy.MCPProviderNone {
				assert.Equal(t, []any{tc.issuer}, as)
			} else {
				assert.Equal(t, []any{"http://gw.example/mcp"}, as)
			}
			assert.Equal(t, 0, s.Calls)
		})
	}
}

// An unreachable or broken provider is a 502 with a JSON error, never a panic or an empty 200.
func TestMCPAuthProviderMetadataUnavailable(t *testing.T) {
	f := newFakeIdP(t)
	f.srv.Close()
	p := newMCPAuth(t, policy.MCPAuthConfig{Issuer: "https://kc.example/realms/mcp", Provider: policy.MCPProviderKeycloak, HTTPClient: f.client()})
	var s seen
	w := do(p, s.Handler(200, ""), req("GET", "http://gw/.well-known/oauth-authorization-server/mcp"))
	assert.Equal(t, http.StatusBadGateway, w.Code)
	assert.Contains(t, w.Body.String(), "authorization server metadata")
	// Requests right after a failure get the same answer without each waiting on the provider.
	w = do(p, s.Handler(200, ""), req("GET", "http://gw/.well-known/oauth-authorization-server/mcp"))
	assert.Equal(t, http.StatusBadGateway, w.Code)
	assert.Len(t, f.hits, 1)
	assert.Equal(t, 0, s.Calls)
}

// Registration: answered with the pre-registered client, or proxied to the provider's endpoint with
// the caller's token (Okta needs one) and CORS headers on the answer.
func TestMCPAuthClientRegistration(t *testing.T) {
	const path = "http://gw/.well-known/oauth-authorization-server/mcp/client-registration"
	body := `{"redirect_uris":["http://127.0.0.1:5555/cb"],"client_name":"c"}`
	var s seen

	p := newMCPAuth(t, policy.MCPAuthConfig{Issuer: "https://ak.example/application/o/mcp/", Provider: policy.MCPProviderAuthentik, ClientID: "pre-registered",
		JWKS: policy.JWKS{URL: "https://ak.example/jwks"}})
	w := do(p, s.Handler(200, ""), reqBody("POST", path, body, "Content-Type", "application/json"))
	require.Equal(t, http.StatusCreated, w.Code)
	doc := decodeJSON(t, w)
	assert.Equal(t, "pre-registered", doc["client_id"])
	assert.Equal(t, "none", doc["token_endpoint_auth_method"])
	assert.Equal(t, []any{"http://127.0.0.1:5555/cb"}, doc["redirect_uris"])
	assert.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))

	for _, tc := range []struct {
		provider policy.MCPProvider
		issuer   string
		want     string
	}{
		{policy.MCPProviderKeycloak, "https://kc.example/realms/mcp/", "POST https://kc.example/realms/mcp/clients-registrations/openid-connect"},
		{policy.MCPProviderOkta, "https://org.okta.com/oauth2/default", "POST https://org.okta.com/oauth2/v1/clients"},
		{policy.MCPProviderDescope, "https://api.descope.com/v1/apps/agentic/P1/S1", "POST https://api.descope.com/v1/mgmt/mcp/client/P1/S1/register"},
	} {
		t.Run(string(tc.provider), func(t *testing.T) {
			f := newFakeIdP(t)
			p := newMCPAuth(t, policy.MCPAuthConfig{Issuer: tc.issuer, Provider: tc.provider, HTTPClient: f.client(), JWKS: policy.JWKS{URL: "https://keys.example/jwks"}})
			w := do(p, s.Handler(200, ""), reqBody("POST", path, body, "Content-Type", "application/json", "Authorization", "SSWS operator-token"))
			require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
			assert.JSONEq(t, `{"client_id":"dyn"}`, w.Body.String())
			assert.Equal(t, tc.want, f.lastHit())
			assert.Equal(t, body, f.body)
			assert.Equal(t, "SSWS operator-token", f.auth)
			assert.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
		})
	}
	// Entra has no registration: without a clientId it is refused, not forwarded.
	f := newFakeIdP(t)
	p = newMCPAuth(t, policy.MCPAuthConfig{Issuer: "https://login.microsoftonline.com/tid/v2.0", Provider: policy.MCPProviderEntra, HTTPClient: f.client()})
	w = do(p, s.Handler(200, ""), reqBody("POST", path, body))
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), "clientId")
	assert.Empty(t, f.hits)
	assert.Equal(t, 0, s.Calls)
}

// Entra: the authorize redirect and the proxied token request drop RFC 8707's `resource` (Entra's
// v2.0 endpoints refuse it); the secret is added for the configured client's code and refresh grants
// only; the key set is derived from the tenant.
func TestMCPAuthEntraAdapter(t *testing.T) {
	f := newFakeIdP(t)
	f.meta = map[string]any{"issuer": "https://login.microsoftonline.com/tid/v2.0",
		"authorization_endpoint": "https://login.microsoftonline.com/tid/oauth2/v2.0/authorize",
		"token_endpoint":         "https://login.microsoftonline.com/tid/oauth2/v2.0/token"}
	p := newMCPAuth(t, policy.MCPAuthConfig{Issuer: "https://login.microsoftonline.com/tid/v2.0", Provider: policy.MCPProviderEntra,
		ClientID: "app", ClientSecret: "s3cret", HTTPClient: f.client()})
	base := "http://gw/.well-known/oauth-authorization-server/mcp"
	var s seen

	w := do(p, s.Handler(200, ""), req("GET", base+"/authorize?client_id=app&resource=http%3A%2F%2Fgw%2Fmcp&code_challenge=x&state=s"))
	require.Equal(t, http.StatusFound, w.Code)
	loc, err := url.Parse(w.Header().Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "login.microsoftonline.com", loc.Host)
	assert.Equal(t, "/tid/oauth2/v2.0/authorize", loc.Path)
	assert.False(t, loc.Query().Has("resource"))
	assert.Equal(t, "x", loc.Query().Get("code_challenge"))

	token := func(form string) {
		t.Helper()
		w := do(p, s.Handler(200, ""), reqBody("POST", base+"/token", form, "Content-Type", "application/x-www-form-urlencoded"))
		require.Equal(t, 200, w.Code, w.Body.String())
		assert.Equal(t, "POST https://login.microsoftonline.com/tid/oauth2/v2.0/token", f.lastHit())
		assert.False(t, f.form.Has("resource"))
	}
	token("grant_type=authorization_code&client_id=app&code=c&code_verifier=v&resource=http%3A%2F%2Fgw%2Fmcp")
	assert.Equal(t, "s3cret", f.form.Get("client_secret"))
	token("grant_type=client_credentials&client_id=app")
	assert.False(t, f.form.Has("client_secret"), "the secret is never lent to other grants")
	token("grant_type=refresh_token&client_id=someone-else&refresh_token=r")
	assert.False(t, f.form.Has("client_secret"), "nor to other clients")

	// The key set is fetched from the tenant's discovery keys when a token is checked.
	_ = do(p, s.Handler(200, ""), req("POST", "http://gw/mcp", "Authorization", "Bearer "+mint(t, rsaKeyOf(t), claims(nil))))
	assert.Equal(t, "GET https://login.microsoftonline.com/tid/discovery/v2.0/keys", f.lastHit())
	assert.Equal(t, 0, s.Calls)
}

// Derived key sets per provider, and configuration errors that name the field.
func TestMCPAuthConfig(t *testing.T) {
	for provider, want := range map[policy.MCPProvider]string{
		policy.MCPProviderKeycloak:  "https://idp.example/realms/r/protocol/openid-connect/certs",
		policy.MCPProviderAuth0:     "https://idp.example/realms/r/.well-known/jwks.json",
		policy.MCPProviderOkta:      "https://idp.example/realms/r/.well-known/jwks.json",
		policy.MCPProviderAuthentik: "https://idp.example/realms/r/jwks/",
	} {
		f := newFakeIdP(t)
		p := newMCPAuth(t, policy.MCPAuthConfig{Issuer: "https://idp.example/realms/r/", Provider: provider, ClientID: "c", HTTPClient: f.client()})
		var s seen
		_ = do(p, s.Handler(200, ""), req("POST", "http://gw/mcp", "Authorization", "Bearer "+mint(t, rsaKeyOf(t), claims(nil))))
		assert.Equal(t, "GET "+want, f.lastHit(), provider)
	}
	f := newFakeIdP(t)
	p := newMCPAuth(t, policy.MCPAuthConfig{Issuer: "https://api.descope.com/v1/apps/agentic/P1/S1", Provider: policy.MCPProviderDescope, HTTPClient: f.client()})
	_ = do(p, http.NotFoundHandler(), req("POST", "http://gw/mcp", "Authorization", "Bearer "+mint(t, rsaKeyOf(t), claims(nil))))
	assert.Equal(t, "GET https://api.descope.com/P1/.well-known/jwks.json", f.lastHit())

	for _, tc := range []struct {
		cfg   policy.MCPAuthConfig
		field string
	}{
		{policy.MCPAuthConfig{}, "issuer"},
		{policy.MCPAuthConfig{Issuer: "not a url"}, "issuer"},
		{policy.MCPAuthConfig{Issuer: "https://i.example"}, "jwks"},
		{policy.MCPAuthConfig{Issuer: "https://i.example", Provider: "ping"}, "provider"},
		{policy.MCPAuthConfig{Issuer: "https://i.example", Provider: policy.MCPProviderAuthentik}, "clientId"},
		{policy.MCPAuthConfig{Issuer: "https://i.example", Provider: policy.MCPProviderEntra}, "jwks"},
		{policy.MCPAuthConfig{Issuer: "https://i.example", JWKS: policy.JWKS{JSON: []byte("{}")}}, "jwks"},
		{policy.MCPAuthConfig{Issuer: "https://i.example", JWKS: policy.JWKS{URL: "https://k"}, ResourceMetadata: map[string]any{"resource": "/relative"}}, "resourceMetadata.resource"},
		{policy.MCPAuthConfig{Issuer: "https://i.example", JWKS: policy.JWKS{URL: "https://k"}, RequiredScopes: []string{"a b"}}, "requiredScopes[0]"},
		{policy.MCPAuthConfig{Issuer: "https://i.example", JWKS: policy.JWKS{URL: "https://k"}, RequiredClaims: []string{"foo"}}, "requiredClaims[0]"},
	} {
		_, err := policy.NewMCPAuthentication(tc.cfg)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, "%+v", tc.cfg)
		assert.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
		assert.Equal(t, tc.field, ce.Path, err.Error())
	}
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in this test")
}

// FuzzMCPAuthRequest: whatever the path and Authorization header, the policy answers with a status it
// documents, never panics, and every challenge it writes parses and points at the metadata.
func FuzzMCPAuthRequest(f *testing.F) {
	for _, s := range [][2]string{
		{"/mcp", ""}, {"/mcp", "Bearer a.b.c"}, {"/.well-known/oauth-protected-resource/mcp", ""},
		{"/.well-known/oauth-authorization-server/mcp", ""}, {"/.well-known/oauth-authorization-server/mcp/client-registration", "x"},
		{`/a"b\c/mcp`, "Bearer \"\\"}, {"/mcp\x00\r\n", "Bearer eyJhbGciOiJub25lIn0.e30."}, {"/.well-known/oauth-protected-resourcex", ""},
	} {
		f.Add(s[0], s[1])
	}
	keys(f)
	p, err := policy.NewMCPAuthentication(policy.MCPAuthConfig{Issuer: "https://issuer.example", Audiences: []string{"api"},
		JWKS: policy.JWKS{JSON: []byte(jwks(f, rsaKey))}, RequiredScopes: []string{"s"}, HTTPClient: &http.Client{Transport: failingTransport{}}})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, path, authz string) {
		r := httptest.NewRequest("GET", "http://gw.example/", nil)
		r.URL.Path = "/" + strings.TrimPrefix(path, "/")
		r.Header["Authorization"] = []string{authz}
		w := do(p, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), r)
		switch w.Code {
		case 200, 405, 502:
		case 401, 403:
			chs, err := oauthex.ParseWWWAuthenticate(w.Header().Values("WWW-Authenticate"))
			if err != nil || len(chs) != 1 || !strings.HasPrefix(chs[0].Params["resource_metadata"], "http://gw.example"+policy.ProtectedResourcePath+"/") {
				t.Fatalf("challenge %q for path %q: %v", w.Header().Values("WWW-Authenticate"), r.URL.Path, err)
			}
		default:
			t.Fatalf("status %d for %q %q", w.Code, path, authz)
		}
	})
}

// BenchmarkMCPAuthCachedToken: a request with an already-verified token costs what jwtAuth's cached
// path costs (compare BenchmarkJWTVerifyRS256/cached).
func BenchmarkMCPAuthCachedToken(b *testing.B) {
	p := newMCPAuth(b, policy.MCPAuthConfig{RequiredScopes: []string{"tools:read"}})
	tok := "Bearer " + mint(b, rsaKeyOf(b), claims(map[string]any{"scope": "openid tools:read"}))
	h := p.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := &benchWriter{h: http.Header{}}
	st := &agentgateway.State{}
	r := req("POST", "/mcp").WithContext(agentgateway.WithState(context.Background(), st))
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"] = []string{tok}
		*st = agentgateway.State{}
		h.ServeHTTP(w, r)
		if w.code != 0 {
			b.Fatal(w.code)
		}
	}
}
