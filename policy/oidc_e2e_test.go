package policy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
)

// These tests log in through a real OpenID Connect provider (mockoidc, run in the test) with a
// browser-like client: a cookie jar and redirects followed, as a browser does.

// oidcGateway serves an echo backend behind the oidc policy (plus a transformation that passes
// jwt.sub on as X-User, and authorization when rules are given) at the returned URL.
func oidcGateway(t *testing.T, m *mockoidc.MockOIDC, edit func(*policy.OIDCConfig), rules ...cel.Rule) string {
	t.Helper()
	return oidcGatewayWith(t, m, nil, edit, rules...)
}

func oidcGatewayWith(t *testing.T, m *mockoidc.MockOIDC, opts []agentgateway.Option, edit func(*policy.OIDCConfig), rules ...cel.Rule) string {
	t.Helper()
	gw := agentgateway.New(append([]agentgateway.Option{agentgateway.WithAccessLog(false)}, opts...)...)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	cfg := policy.OIDCConfig{
		Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret,
		RedirectURI: srv.URL + "/oauth/callback", Scopes: []string{"email"},
		// mockoidc reads client credentials from the form only (TestOIDCExplicitProvider covers Basic).
		TokenEndpointAuth: policy.OIDCClientSecretPost,
	}
	if edit != nil {
		edit(&cfg)
	}
	b := gw.Route("app").PathPrefix("/").
		Policy(policy.NewOIDC(cfg)).
		Policy(policy.NewTransformation(policy.TransformationConfig{Request: &policy.Transform{Set: map[string]string{"X-User": "jwt.sub"}}}))
	if len(rules) > 0 {
		b = b.Policy(policy.NewAuthorization(policy.AuthorizationConfig{Rules: rules}))
	}
	require.NoError(t, b.To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s uri=%s cookie=%q", r.Header.Get("X-User"), r.URL.RequestURI(), r.Header.Get("Cookie"))
	})))
	return srv.URL
}

// browser is an http.Client with a cookie jar that follows redirects and records every response's
// Set-Cookie lines.
type browser struct {
	*http.Client
	mu         sync.Mutex
	setCookies []string
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b := &browser{}
	b.Client = &http.Client{Jar: jar, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			b.mu.Lock()
			b.setCookies = append(b.setCookies, resp.Header.Values("Set-Cookie")...)
			b.mu.Unlock()
		}
		return resp, err
	})}
	t.Cleanup(b.CloseIdleConnections)
	return b
}

// get fetches u (navigation unless hdr says otherwise) and returns the final status and body.
func (b *browser) get(t *testing.T, u string, hdr ...string) (int, string) {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	r.Header.Set("Accept", "text/html,application/xhtml+xml")
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// noFollow returns the first response to a navigation to u, without following redirects.
func noFollow(t *testing.T, jar http.CookieJar, u string) *http.Response {
	t.Helper()
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := c.Do(r)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.CloseIdleConnections()
	return resp
}

func xhr() []string { return []string{"Sec-Fetch-Mode", "cors", "Accept", "*/*"} }

func TestOIDCBrowserLogin(t *testing.T) {
	m := startOIDC(t)
	gw := oidcGateway(t, m, nil)
	m.QueueUser(&mockoidc.MockUser{Subject: "alice", Email: "alice@example.com"})
	b := newBrowser(t)

	// Navigation without a session: to the provider, back through the callback, and on to the page
	// first asked for, with the claims reaching the backend and the session cookie not.
	status, body := b.get(t, gw+"/app/page?x=1&y=2")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "user=alice uri=/app/page?x=1&y=2 ")
	require.Contains(t, body, `cookie=""`)

	var session string
	for _, c := range b.setCookies {
		if strings.HasPrefix(c, "agw_oidc_") && !strings.Contains(c, "_login_") && !strings.Contains(c, "Max-Age=0") {
			session = c
		}
	}
	require.NotEmpty(t, session, "session cookie set: %q", b.setCookies)
	require.Contains(t, session, "HttpOnly")
	require.Contains(t, session, "SameSite=Lax")
	require.Contains(t, session, "Path=/;")
	require.NotContains(t, session, "Secure", "plain http redirect URI")
	require.NotContains(t, session, "alice", "claims are encrypted")

	// The session carries later requests, navigation or script, with no trip to the provider.
	resp := noFollow(t, b.Jar, gw+"/other")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	status, body = b.get(t, gw+"/api", xhr()...)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "user=alice uri=/api ")

	// Other cookies still reach the backend.
	u, _ := url.Parse(gw)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "app", Value: "v"}})
	_, body = b.get(t, gw+"/c")
	require.Contains(t, body, `cookie="app=v"`)
}

func TestOIDCScriptRequestsGet401(t *testing.T) {
	m := startOIDC(t)
	gw := oidcGateway(t, m, nil)
	for name, hdr := range map[string][]string{
		"fetch cors":        {"Sec-Fetch-Mode", "cors"},
		"fetch no-cors":     {"Sec-Fetch-Mode", "no-cors"},
		"fetch same-origin": {"Sec-Fetch-Mode", "same-origin"},
		"accept json":       {"Sec-Fetch-Mode", "", "Accept", "application/json"},
		"x-requested-with":  {"Sec-Fetch-Mode", "", "X-Requested-With", "XMLHttpRequest"},
	} {
		t.Run(name, func(t *testing.T) {
			b := newBrowser(t)
			b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			status, body := b.get(t, gw+"/api/data", hdr...)
			require.Equal(t, http.StatusUnauthorized, status, body)
			require.Contains(t, body, "authentication required")
			require.Empty(t, b.setCookies, "no login started")
		})
	}
	// A navigation without any Sec-Fetch header (an older browser, curl) is redirected.
	resp := noFollow(t, nil, gw+"/page")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), m.AuthorizationEndpoint()+"?"), resp.Header.Get("Location"))
}

// The authorization request carries what the flow relies on: PKCE S256, state, nonce, openid plus
// the configured scopes, and the registered redirect URI.
func TestOIDCAuthorizationRequest(t *testing.T) {
	m := startOIDC(t)
	gw := oidcGateway(t, m, nil)
	resp := noFollow(t, nil, gw+"/page")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	q := loc.Query()
	require.Equal(t, "code", q.Get("response_type"))
	require.Equal(t, m.ClientID, q.Get("client_id"))
	require.Equal(t, gw+"/oauth/callback", q.Get("redirect_uri"))
	require.Equal(t, "openid email", q.Get("scope"))
	require.Equal(t, "S256", q.Get("code_challenge_method"))
	require.Len(t, q.Get("code_challenge"), 43)
	require.GreaterOrEqual(t, len(q.Get("state")), 32)
	require.GreaterOrEqual(t, len(q.Get("nonce")), 32)
	require.NotEqual(t, q.Get("state"), q.Get("nonce"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	c := resp.Header.Get("Set-Cookie")
	require.Contains(t, c, "_login_")
	require.Contains(t, c, "Path=/oauth/callback")
	require.Contains(t, c, "HttpOnly")
}

func TestOIDCAuthorizationOnClaims(t *testing.T) {
	m := startOIDC(t)
	gw := oidcGateway(t, m, nil, cel.Allow(`jwt.sub == "alice" && jwt.email == "alice@example.com"`))
	m.QueueUser(&mockoidc.MockUser{Subject: "alice", Email: "alice@example.com"})
	status, body := newBrowser(t).get(t, gw+"/x")
	require.Equal(t, http.StatusOK, status, body)
	m.QueueUser(&mockoidc.MockUser{Subject: "bob", Email: "bob@example.com"})
	status, _ = newBrowser(t).get(t, gw+"/x")
	require.Equal(t, http.StatusForbidden, status)
}

// loggedIn runs a login and returns the browser holding the session and the session cookie.
func loggedIn(t *testing.T, m *mockoidc.MockOIDC, gw, user string) (*browser, *http.Cookie) {
	t.Helper()
	m.QueueUser(&mockoidc.MockUser{Subject: user})
	b := newBrowser(t)
	status, body := b.get(t, gw+"/")
	require.Equal(t, http.StatusOK, status, body)
	u, _ := url.Parse(gw)
	for _, c := range b.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "agw_oidc_") {
			return b, c
		}
	}
	t.Fatal("no session cookie")
	return nil, nil
}

func TestOIDCTamperedCookieRefused(t *testing.T) {
	m := startOIDC(t)
	gw := oidcGateway(t, m, nil)
	_, sess := loggedIn(t, m, gw, "alice")
	raw := []byte(sess.Value)
	for i, tamper := range []string{
		string(append(append([]byte{}, raw[:len(raw)/2]...), append([]byte{raw[len(raw)/2] ^ 1}, raw[len(raw)/2+1:]...)...)),
		sess.Value[:len(sess.Value)-4],
		sess.Value + "AAAA",
		"",
		"!!!",
		strings.Repeat("A", 5000),
	} {
		r, _ := http.NewRequest(http.MethodGet, gw+"/api", nil)
		r.Header.Set("Sec-Fetch-Mode", "cors")
		r.Header.Set("Cookie", sess.Name+"="+tamper)
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "tampered cookie %d", i)
	}
	// A cookie sealed under another key (another gateway, or another client) is refused too.
	gw2 := oidcGateway(t, m, func(c *policy.OIDCConfig) { c.CookieKey = make([]byte, 32) })
	r, _ := http.NewRequest(http.MethodGet, gw2+"/api", nil)
	r.Header.Set("Sec-Fetch-Mode", "cors")
	r.Header.Set("Cookie", sess.Name+"="+sess.Value)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

// startLogin leaves for the provider without following redirects and returns the callback URL the
// provider sends the browser to.
func startLogin(t *testing.T, m *mockoidc.MockOIDC, jar http.CookieJar, gw, user string) *url.URL {
	t.Helper()
	m.QueueUser(&mockoidc.MockUser{Subject: user})
	resp := noFollow(t, jar, gw+"/page")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	resp = noFollow(t, jar, resp.Header.Get("Location"))
	require.Equal(t, http.StatusFound, resp.StatusCode)
	cb, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.NotEmpty(t, cb.Query().Get("code"))
	return cb
}

func TestOIDCStateChecked(t *testing.T) {
	m := startOIDC(t)
	gw := oidcGateway(t, m, nil)

	check := func(t *testing.T, jar http.CookieJar, u string, want int, msg string) {
		t.Helper()
		b := &browser{Client: &http.Client{Jar: jar}}
		status, body := b.get(t, u)
		require.Equal(t, want, status, body)
		require.Contains(t, body, msg)
	}
	t.Run("state mismatch", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		cb := startLogin(t, m, jar, gw, "alice")
		q := cb.Query()
		q.Set("state", q.Get("state")[:16]+"tampered-state-value-00000000")
		cb.RawQuery = q.Encode()
		check(t, jar, cb.String(), http.StatusBadRequest, "state mismatch")
	})
	t.Run("another browser", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		cb := startLogin(t, m, jar, gw, "alice")
		other, _ := cookiejar.New(nil) // login CSRF: the victim's browser never started this login
		check(t, other, cb.String(), http.StatusBadRequest, "no login in progress")
	})
	t.Run("foreign state", func(t *testing.T) {
		check(t, nil, gw+"/oauth/callback?code=x&state=a%3Bb%3Dc", http.StatusBadRequest, "state mismatch")
	})
	t.Run("missing state", func(t *testing.T) {
		check(t, nil, gw+"/oauth/callback?code=x", http.StatusBadRequest, "missing state")
	})
	t.Run("replayed callback", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		cb := startLogin(t, m, jar, gw, "alice")
		check(t, jar, cb.String(), http.StatusOK, "user=alice")
		check(t, jar, cb.String(), http.StatusBadRequest, "no login in progress")
	})
	t.Run("provider error", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		cb := startLogin(t, m, jar, gw, "alice")
		q := url.Values{"state": {cb.Query().Get("state")}, "error": {"access_denied"}, "error_description": {`User "cancelled"`}}
		cb.RawQuery = q.Encode()
		check(t, jar, cb.String(), http.StatusForbidden, `login failed at the identity provider: access_denied: User 'cancelled'`)
	})
	t.Run("bad code", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		cb := startLogin(t, m, jar, gw, "alice")
		q := cb.Query()
		q.Set("code", "not-a-code")
		cb.RawQuery = q.Encode()
		check(t, jar, cb.String(), http.StatusBadGateway, "refused the code exchange")
	})
}

// A crafted link cannot make the login flow end on another site: only same-origin paths are
// returned to.
func TestOIDCNoOpenRedirect(t *testing.T) {
	m := startOIDC(t)
	// Without path normalization the paths reach the policy as written (by default the gateway merges
	// the slashes first, which is a second line of defence, not the one tested here).
	gw := oidcGatewayWith(t, m, []agentgateway.Option{agentgateway.WithPathNormalization(agentgateway.PathNormalization{Off: true})}, nil)
	for _, p := range []string{"//evil.example/x", `/\evil.example/x`, "/%2F%2Fevil.example", "//evil.example/oauth/callback", "///evil.example"} {
		t.Run(p, func(t *testing.T) {
			m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
			b := newBrowser(t)
			var visited []string
			b.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
				visited = append(visited, r.URL.String())
				return nil
			}
			r, err := http.NewRequest(http.MethodGet, gw+"/", nil)
			require.NoError(t, err)
			r.URL.Opaque = "//" + r.URL.Host + p // the path exactly as written
			r.Header.Set("Sec-Fetch-Mode", "navigate")
			resp, err := b.Do(r)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			for _, v := range visited {
				require.NotContains(t, v, "://evil.example")
			}
			last := visited[len(visited)-1]
			require.True(t, strings.HasPrefix(last, gw+"/"), last)
		})
	}
}

func TestOIDCLogout(t *testing.T) {
	m := startOIDC(t)
	gw := oidcGateway(t, m, nil)
	b, _ := loggedIn(t, m, gw, "alice")
	status, body := b.get(t, gw+"/oauth/logout")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "logged out\n", body)
	resp := noFollow(t, b.Jar, gw+"/page")
	require.Equal(t, http.StatusFound, resp.StatusCode, "logged out: back to the provider")
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), m.AuthorizationEndpoint()))
}

// With an end_session_endpoint in the provider's metadata, logout continues there (RP-initiated
// logout) with the ID token as hint.
func TestOIDCRPInitiatedLogout(t *testing.T) {
	m := startOIDC(t)
	var ended url.Values
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ended = r.URL.Query()
		_, _ = io.WriteString(w, "provider session ended")
	}))
	t.Cleanup(idp.Close)
	doc, err := json.Marshal(map[string]any{
		"issuer": m.Issuer(), "authorization_endpoint": m.AuthorizationEndpoint(), "token_endpoint": m.TokenEndpoint(),
		"jwks_uri": m.JWKSEndpoint(), "end_session_endpoint": idp.URL + "/logout?realm=r",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post"},
	})
	require.NoError(t, err)
	gw := oidcGateway(t, m, func(c *policy.OIDCConfig) {
		c.DiscoveryJSON = doc
		c.PostLogoutRedirectURI = "https://app.example/bye"
	})
	b, _ := loggedIn(t, m, gw, "alice")
	status, body := b.get(t, gw+"/oauth/logout")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "provider session ended", body)
	require.Equal(t, m.ClientID, ended.Get("client_id"))
	require.Equal(t, "r", ended.Get("realm"))
	require.Equal(t, "https://app.example/bye", ended.Get("post_logout_redirect_uri"))
	require.Equal(t, 3, len(strings.Split(ended.Get("id_token_hint"), ".")), "the ID token as hint")
	resp := noFollow(t, b.Jar, gw+"/page")
	require.Equal(t, http.StatusFound, resp.StatusCode)
}

// Explicit mode: no discovery, the endpoints and JWKS from the config, and the client authenticated
// with HTTP Basic (the explicit-mode default).
func TestOIDCExplicitProvider(t *testing.T) {
	m, err := mockoidc.NewServer(nil)
	require.NoError(t, err)
	var basic, inForm bool
	// mockoidc reads client credentials from the form: move Basic credentials there, noting both.
	require.NoError(t, m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oidc/token" {
				require.NoError(t, r.ParseForm())
				inForm = r.PostForm.Has("client_secret")
				id, secret, ok := r.BasicAuth()
				if ok && id == m.ClientID && secret == m.ClientSecret {
					basic = true
					r.PostForm.Set("client_id", id)
					r.PostForm.Set("client_secret", secret)
					r.Form = r.PostForm
				}
			}
			next.ServeHTTP(w, r)
		})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, m.Start(ln, nil))
	t.Cleanup(func() { _ = m.Shutdown() })
	gw := oidcGateway(t, m, func(c *policy.OIDCConfig) {
		c.AuthorizationEndpoint = m.AuthorizationEndpoint()
		c.TokenEndpoint = m.TokenEndpoint()
		c.TokenEndpointAuth = ""
		c.JWKS = policy.JWKS{URL: m.JWKSEndpoint()}
	})
	m.QueueUser(&mockoidc.MockUser{Subject: "carol"})
	status, body := newBrowser(t).get(t, gw+"/")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "user=carol")
	require.True(t, basic, "client_secret_basic")
	require.False(t, inForm, "the secret is not also in the form")
}

// An ID token from another issuer (discovery says one issuer, the token another) ends the login
// with 401, and a provider that cannot be reached with 502, never a redirect loop.
func TestOIDCProviderFailures(t *testing.T) {
	m := startOIDC(t)
	gw := oidcGateway(t, m, func(c *policy.OIDCConfig) {
		doc, _ := json.Marshal(map[string]any{
			"issuer": "https://other.example", "authorization_endpoint": m.AuthorizationEndpoint(),
			"token_endpoint": m.TokenEndpoint(), "jwks_uri": m.JWKSEndpoint(),
		})
		c.Issuer = "https://other.example"
		c.DiscoveryJSON = doc
	})
	m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	status, body := newBrowser(t).get(t, gw+"/")
	require.Equal(t, http.StatusUnauthorized, status, body)
	require.Contains(t, body, "wrong issuer")

	down := oidcGateway(t, m, func(c *policy.OIDCConfig) { c.DiscoveryURL = "http://127.0.0.1:1/.well-known/openid-configuration" })
	status, body = newBrowser(t).get(t, down+"/")
	require.Equal(t, http.StatusBadGateway, status, body)
	require.Contains(t, body, "identity provider unavailable")
}

func TestOIDCConfigErrors(t *testing.T) {
	base := policy.OIDCConfig{Issuer: "https://idp.example", ClientID: "c", ClientSecret: "s", RedirectURI: "https://app.example/cb"}
	for _, tc := range []struct {
		edit func(*policy.OIDCConfig)
		path string
	}{
		{func(c *policy.OIDCConfig) { c.Issuer = "" }, "issuer"},
		{func(c *policy.OIDCConfig) { c.ClientSecret = "" }, "clientSecret"},
		{func(c *policy.OIDCConfig) { c.RedirectURI = "/cb" }, "redirectURI"},
		{func(c *policy.OIDCConfig) { c.AuthorizationEndpoint = "https://idp.example/auth" }, "tokenEndpoint"},
		{func(c *policy.OIDCConfig) {
			c.AuthorizationEndpoint, c.TokenEndpoint = "https://idp.example/auth", "https://idp.example/token"
		}, "jwks"},
		{func(c *policy.OIDCConfig) { c.CookieKey = []byte("short") }, "cookieKey"},
		{func(c *policy.OIDCConfig) { c.Scopes = []string{"a b"} }, "scopes[0]"},
		{func(c *policy.OIDCConfig) { c.TokenEndpointAuth = "privateKeyJwt" }, "tokenEndpointAuth"},
		{func(c *policy.OIDCConfig) { c.LogoutPath = "/cb" }, "logoutPath"},
	} {
		cfg := base
		tc.edit(&cfg)
		_, err := policy.NewOIDC(cfg)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, tc.path)
		require.Equal(t, tc.path, ce.Path)
	}
	_, err := policy.NewOIDC(base)
	require.NoError(t, err, "discovery waits for the first request")
}

// A discovery document given in the config is checked at startup.
func TestOIDCInlineDiscoveryCheckedAtStartup(t *testing.T) {
	base := policy.OIDCConfig{Issuer: "https://idp.example", ClientID: "c", ClientSecret: "s", RedirectURI: "https://app.example/cb"}
	for doc, msg := range map[string]string{
		`{`: "invalid discovery document",
		`{"issuer":"https://other.example","authorization_endpoint":"https://idp.example/a","token_endpoint":"https://idp.example/t","jwks_uri":"https://idp.example/k"}`: `names issuer "https://other.example"`,
		`{"issuer":"https://idp.example","token_endpoint":"https://idp.example/t","jwks_uri":"https://idp.example/k"}`:                                                    "invalid authorization_endpoint",
		`{"issuer":"https://idp.example","authorization_endpoint":"https://idp.example/a","token_endpoint":"https://idp.example/t"}`:                                      "invalid jwks_uri",
	} {
		cfg := base
		cfg.DiscoveryJSON = []byte(doc)
		_, err := policy.NewOIDC(cfg)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, doc)
		require.Equal(t, "discovery", ce.Path)
		require.Contains(t, err.Error(), msg)
	}
}
