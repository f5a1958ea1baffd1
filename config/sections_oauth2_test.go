package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// oauth2YAML is the route policy of agentgateway's published oauth2 example, with the client secret
// in a file, pointed at an in-test provider.
const oauth2YAML = `
binds:
- port: 3000
  listeners:
  - name: default
    protocol: HTTP
    routes:
    - name: oauth2
      policies:
        oauth2:
          issuer: $ISSUER
          clientId: $CLIENT_ID
          clientSecret:
            file: $SECRET_FILE
          redirectUri: "$GATEWAY/_gateway/callback"
          scopes:
          - openid
          - profile
          - email
          passAccessToken: $PASS
          signOutPath: "/logout"
          passThroughMatchers: [/healthz]
        transformations:
          request:
            set:
              x-user: jwt.sub
      backends:
      - host: $BACKEND
`

// oauth2Provider runs mockoidc, which reads client credentials from the form only: Basic
// credentials (the default client authentication) are moved there. It records the access tokens
// its token endpoint issues and the scopes each login asked for.
func oauth2Provider(t *testing.T) (m *mockoidc.MockOIDC, issued func() []string, scopes func() []string) {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	require.NoError(t, err)
	var mu sync.Mutex
	var toks, scs []string
	require.NoError(t, m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/oidc/authorize":
				mu.Lock()
				scs = append(scs, r.URL.Query().Get("scope"))
				mu.Unlock()
			case "/oidc/token":
				if err := r.ParseForm(); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				if id, secret, ok := r.BasicAuth(); ok {
					r.PostForm.Set("client_id", id)
					r.PostForm.Set("client_secret", secret)
					r.Form = r.PostForm
				}
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				_ = json.Unmarshal(rec.Body.Bytes(), &tok)
				mu.Lock()
				toks = append(toks, tok.AccessToken)
				mu.Unlock()
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = io.Copy(w, bytes.NewReader(rec.Body.Bytes()))
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, m.Start(ln, nil))
	t.Cleanup(func() { _ = m.Shutdown() })
	get := func(s *[]string) func() []string {
		return func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), *s...) }
	}
	return m, get(&toks), get(&scs)
}

// oauth2Gateway loads oauth2YAML (passAccessToken as pass) and serves it; the backend echoes the
// user, path and Authorization it receives.
func oauth2Gateway(t *testing.T, m *mockoidc.MockOIDC, pass bool) string {
	t.Helper()
	return oauth2GatewayYAML(t, m, pass, oauth2YAML)
}

// oauth2GatewayYAML is oauth2Gateway with another configuration in oauth2YAML's variables.
func oauth2GatewayYAML(t *testing.T, m *mockoidc.MockOIDC, pass bool, yaml string) string {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s path=%s authorization=%q", r.Header.Get("X-User"), r.URL.Path, r.Header.Get("Authorization"))
	}))
	t.Cleanup(backend.Close)
	secret := filepath.Join(t.TempDir(), "client-secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte(m.ClientSecret+"\n"), 0o600))
	srv := httptest.NewUnstartedServer(nil)
	gwURL := "http://" + srv.Listener.Addr().String()
	env := map[string]string{
		"ISSUER": m.Issuer(), "CLIENT_ID": m.ClientID, "SECRET_FILE": secret, "GATEWAY": gwURL,
		"BACKEND": backend.Listener.Addr().String(), "PASS": fmt.Sprint(pass),
	}
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Apply(rt.Config))
	srv.Config.Handler = gw.PortHandler(rt.Config.Listeners[0].Port)
	srv.Start()
	t.Cleanup(func() { _ = rt.Close(); srv.Close() })
	return gwURL
}

func oauth2Nav(t *testing.T, c *http.Client, u string, hdr ...string) *http.Response {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	r.Header.Set("Accept", "text/html")
	r.Header.Set("Sec-Fetch-Mode", "navigate")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(r)
	require.NoError(t, err)
	return resp
}

func oauth2Body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// The published oauth2 example, end to end: a navigation without a session is sent to the provider,
// the callback at redirectUri's path logs in and returns to the page, the session carries the next
// requests (claims as jwt.*), passAccessToken decides whether the backend sees the access token, and
// signOutPath clears the session so that the next request goes back to the provider.
func TestOAuth2FromYAML(t *testing.T) {
	for _, pass := range []bool{true, false} {
		t.Run(fmt.Sprintf("passAccessToken=%v", pass), func(t *testing.T) {
			m, issued, scopes := oauth2Provider(t)
			gw := oauth2Gateway(t, m, pass)
			jar, err := cookiejar.New(nil)
			require.NoError(t, err)
			stop := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			browser := &http.Client{Jar: jar}
			t.Cleanup(stop.CloseIdleConnections)
			t.Cleanup(browser.CloseIdleConnections)

			resp := oauth2Nav(t, stop, gw+"/docs")
			_ = oauth2Body(t, resp)
			require.Equal(t, http.StatusFound, resp.StatusCode, "login redirect")
			loc := resp.Header.Get("Location")
			require.True(t, strings.HasPrefix(loc, m.AuthorizationEndpoint()), loc)
			lu, err := url.Parse(loc)
			require.NoError(t, err)
			require.Equal(t, gw+"/_gateway/callback", lu.Query().Get("redirect_uri"))

			require.Equal(t, "user= path=/healthz authorization=\"\"", oauth2Body(t, oauth2Nav(t, browser, gw+"/healthz")), "passThroughMatchers need no session")

			m.QueueUser(&mockoidc.MockUser{Subject: "alice", Email: "alice@example.com"})
			resp = oauth2Nav(t, browser, gw+"/docs", "Authorization", "Basic YTpi")
			body := oauth2Body(t, resp)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			toks := issued()
			require.Len(t, toks, 1, "one code exchange")
			require.NotEmpty(t, toks[0])
			require.Equal(t, []string{"openid profile email"}, scopes())
			want := "Basic YTpi"
			if pass {
				want = "Bearer " + toks[0]
			}
			require.Equal(t, fmt.Sprintf("user=alice path=/docs authorization=%q", want), body)

			resp = oauth2Nav(t, stop, gw+"/other")
			require.Equal(t, http.StatusOK, resp.StatusCode, "the session carries later requests")
			require.Contains(t, oauth2Body(t, resp), "user=alice path=/other")

			resp = oauth2Nav(t, stop, gw+"/logout")
			require.Equal(t, http.StatusOK, resp.StatusCode, "signOutPath answers itself, no provider logout")
			require.NotContains(t, oauth2Body(t, resp), "user=")
			resp = oauth2Nav(t, stop, gw+"/docs")
			_ = oauth2Body(t, resp)
			require.Equal(t, http.StatusFound, resp.StatusCode, "signed out: the next request logs in again")
			require.True(t, strings.HasPrefix(resp.Header.Get("Location"), m.AuthorizationEndpoint()))
		})
	}
}

// Without signOutPath there is no logout path: /logout is the backend's.
func TestOAuth2WithoutSignOutPath(t *testing.T) {
	m, _, scopes := oauth2Provider(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend path=%s", r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	srv := httptest.NewUnstartedServer(nil)
	gwURL := "http://" + srv.Listener.Addr().String()
	y := fmt.Sprintf(`
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        oauth2: {issuer: %q, clientId: %q, clientSecret: %q, redirectUri: "%s/oauth/callback"}
      backends:
      - host: %s
`, m.Issuer(), m.ClientID, m.ClientSecret, gwURL, backend.Listener.Addr())
	f, err := config.Load([]byte(y), nil)
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Apply(rt.Config))
	srv.Config.Handler = gw.PortHandler(rt.Config.Listeners[0].Port)
	srv.Start()
	t.Cleanup(func() { _ = rt.Close(); srv.Close() })
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	t.Cleanup(browser.CloseIdleConnections)
	m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	for _, p := range []string{"/oauth/logout", "/logout"} {
		resp := oauth2Nav(t, browser, gwURL+p)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "backend path="+p, oauth2Body(t, resp))
	}
	require.Equal(t, []string{"openid profile email"}, scopes(), "the default scopes, one login")
}

func TestOAuth2YAMLErrors(t *testing.T) {
	base := "oauth2:\n          issuer: https://idp.example\n          clientId: c\n          clientSecret: s\n          redirectUri: https://a.example/cb\n          "
	for snippet, want := range map[string]string{
		"oauth2:\n          issuer: https://idp.example\n          clientId: c\n          clientSecret: s":           "policies.oauth2.redirectUri: required",
		"oauth2:\n          issuer: https://idp.example\n          clientId: c\n          redirectUri: https://a/cb": "policies.oauth2.clientSecret: required",
		"oauth2:\n          clientId: c\n          clientSecret: s\n          redirectUri: https://a/cb":             "policies.oauth2.issuer: required",
		base + "redirectUri: /cb": "policies.oauth2.redirectUri: want an absolute",
		base[:len(base)-len("          ")] + "          clientSecret: {file: /nope}": "policies.oauth2.clientSecret",
		base + "autoDetectRedirectUri: true":                                         "policies.oauth2.autoDetectRedirectUri: not supported",
		base + "trustedProxyCidrs: [10.0.0.0/8]":                                     "policies.oauth2.trustedProxyCidrs: not supported",
		base + "refreshableCookieMaxAgeSeconds: 0":                                   "policies.oauth2.refreshableCookieMaxAgeSeconds: want 1 to 2592000",
		base + "refreshableCookieMaxAgeSeconds: 2592001":                             "policies.oauth2.refreshableCookieMaxAgeSeconds",
		base + "signOutPath: logout":                                                 "policies.oauth2.signOutPath: want an absolute path",
		base + "signOutPath: ''":                                                     "policies.oauth2.signOutPath: want an absolute path",
		base + "signOutPath: /cb":                                                    "policies.oauth2.signOutPath: must differ from the callback path",
		base + "passThroughMatchers: [public]":                                       "policies.oauth2.passThroughMatchers[0]: want an absolute path",
		base + "denyRedirectMatchers: [/a, 'b?']":                                    "policies.oauth2.denyRedirectMatchers[1]",
		base + "scopes: [openid, ' ']":                                               "policies.oauth2.scopes[1]: empty scope",
		base + "cookieName: 'a b'":                                                   "policies.oauth2.cookieName",
		base + "passAccessToken: yes please":                                         "policies.oauth2.passAccessToken",
		base + "sessionKey: x":                                                       "sessionKey",
	} {
		y := "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - name: r\n      policies:\n        " + snippet + "\n      backends:\n      - host: 127.0.0.1:1\n"
		f, err := config.Load([]byte(y), func(string) (string, bool) { return "", false })
		if err == nil {
			var rt *config.Runtime
			rt, err = f.Build(slog.New(slog.DiscardHandler))
			if err == nil {
				rt.Close()
			}
		}
		require.Error(t, err, snippet)
		require.Contains(t, err.Error(), want, snippet)
	}
}
