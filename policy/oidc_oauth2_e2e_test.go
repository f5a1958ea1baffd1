package policy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// tokenRecorder starts mockoidc, noting every access token its token endpoint issues.
func tokenRecorder(t *testing.T) (*mockoidc.MockOIDC, func() []string) {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	require.NoError(t, err)
	var mu sync.Mutex
	var issued []string
	require.NoError(t, m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/oidc/token" {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &tok)
			mu.Lock()
			issued = append(issued, tok.AccessToken)
			mu.Unlock()
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = io.Copy(w, bytes.NewReader(rec.Body.Bytes()))
		})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, m.Start(ln, nil))
	t.Cleanup(func() { _ = m.Shutdown() })
	return m, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), issued...) }
}

// authGateway serves, behind the oidc policy as edit shapes it, a backend that echoes the path and
// the Authorization header it receives.
func authGateway(t *testing.T, m *mockoidc.MockOIDC, edit func(*policy.OIDCConfig)) string {
	t.Helper()
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	cfg := policy.OIDCConfig{
		Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret,
		RedirectURI: srv.URL + "/oauth/callback", TokenEndpointAuth: policy.OIDCClientSecretPost,
	}
	if edit != nil {
		edit(&cfg)
	}
	require.NoError(t, gw.Route("app").PathPrefix("/").Policy(policy.NewOIDC(cfg)).
		To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "path=%s authorization=%q", r.URL.Path, r.Header.Get("Authorization"))
		})))
	return srv.URL
}

// With PassAccessToken the backend receives the access token of the login as a bearer token, in
// place of whatever Authorization the browser sent; without it, the token stays with the gateway.
func TestOIDCPassAccessToken(t *testing.T) {
	for _, pass := range []bool{true, false} {
		t.Run(fmt.Sprint(pass), func(t *testing.T) {
			m, issued := tokenRecorder(t)
			gw := authGateway(t, m, func(c *policy.OIDCConfig) { c.PassAccessToken = pass })
			m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
			b := newBrowser(t)
			status, body := b.get(t, gw+"/app", "Authorization", "Basic YnJvd3Nlcjp4")
			require.Equal(t, http.StatusOK, status, body)
			toks := issued()
			require.Len(t, toks, 1)
			require.NotEmpty(t, toks[0])
			if pass {
				require.Equal(t, fmt.Sprintf("path=/app authorization=%q", "Bearer "+toks[0]), body)
			} else {
				require.Equal(t, fmt.Sprintf("path=/app authorization=%q", "Basic YnJvd3Nlcjp4"), body)
				require.NotContains(t, body, toks[0])
			}
		})
	}
}

// LocalLogout clears the session without sending the browser to the provider's end_session_endpoint.
func TestOIDCLocalLogout(t *testing.T) {
	m := startOIDC(t)
	var ended bool
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ended = true }))
	t.Cleanup(idp.Close)
	doc, err := json.Marshal(map[string]any{
		"issuer": m.Issuer(), "authorization_endpoint": m.AuthorizationEndpoint(), "token_endpoint": m.TokenEndpoint(),
		"jwks_uri": m.JWKSEndpoint(), "end_session_endpoint": idp.URL + "/logout",
	})
	require.NoError(t, err)
	gw := authGateway(t, m, func(c *policy.OIDCConfig) {
		c.DiscoveryJSON = doc
		c.LogoutPath = "/logout"
		c.LocalLogout = true
	})
	m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	b := newBrowser(t)
	status, body := b.get(t, gw+"/app")
	require.Equal(t, http.StatusOK, status, body)
	status, body = b.get(t, gw+"/logout")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "logged out\n", body)
	require.False(t, ended, "the provider's end_session_endpoint is not visited")
	resp := noFollow(t, b.Jar, gw+"/app")
	require.Equal(t, http.StatusFound, resp.StatusCode, "logged out: back to the provider")
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), m.AuthorizationEndpoint()))
}

// NoLogoutPath leaves the default logout path to the backend.
func TestOIDCNoLogoutPath(t *testing.T) {
	m := startOIDC(t)
	gw := authGateway(t, m, func(c *policy.OIDCConfig) { c.NoLogoutPath = true })
	m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	b := newBrowser(t)
	status, body := b.get(t, gw+"/oauth/logout")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `path=/oauth/logout authorization=""`, body)
	status, body = b.get(t, gw+"/app")
	require.Equal(t, http.StatusOK, status, "still logged in")
	require.Contains(t, body, "path=/app")
}

// PassThroughPaths reach the backend without a session; DenyRedirectPaths get 401, not a redirect,
// even for a browser navigation. Both match whole path segments.
func TestOIDCPassThroughAndDenyRedirectPaths(t *testing.T) {
	m := startOIDC(t)
	gw := authGateway(t, m, func(c *policy.OIDCConfig) {
		c.PassThroughPaths = []string{"/public/"}
		c.DenyRedirectPaths = []string{"/api"}
	})
	for path, want := range map[string]int{
		"/public": http.StatusOK, "/public/a/b": http.StatusOK, "/publicity": http.StatusFound,
		"/api": http.StatusUnauthorized, "/api/v1/x": http.StatusUnauthorized, "/apis": http.StatusFound,
	} {
		resp := noFollow(t, nil, gw+path)
		require.Equal(t, want, resp.StatusCode, path)
	}
	_, err := policy.NewOIDC(policy.OIDCConfig{
		Issuer: m.Issuer(), ClientID: "c", ClientSecret: "s", RedirectURI: "https://a/cb", PassThroughPaths: []string{"public"},
	})
	require.ErrorContains(t, err, "passThroughPaths[0]")
	_, err = policy.NewOIDC(policy.OIDCConfig{
		Issuer: m.Issuer(), ClientID: "c", ClientSecret: "s", RedirectURI: "https://a/cb", NoLogoutPath: true, LogoutPath: "/x",
	})
	require.ErrorContains(t, err, "logoutPath")
}

// With PassAccessToken the session ends when its access token does, so the backend is never handed
// an expired token; without it, the session lasts SessionTTL.
func TestOIDCPassAccessTokenSessionEndsWithToken(t *testing.T) {
	for _, pass := range []bool{true, false} {
		t.Run(fmt.Sprint(pass), func(t *testing.T) {
			m, _ := tokenRecorder(t)
			m.AccessTTL = 60 // mockoidc writes the Duration as is: expires_in 60 (seconds)
			gw := authGateway(t, m, func(c *policy.OIDCConfig) { c.PassAccessToken = pass })
			m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
			b := newBrowser(t)
			status, body := b.get(t, gw+"/app")
			require.Equal(t, http.StatusOK, status, body)
			var maxAge int
			for _, line := range b.setCookies {
				if c, err := http.ParseSetCookie(line); err == nil && strings.HasPrefix(c.Name, "agw_oidc_") && !strings.Contains(c.Name, "_login_") && c.Value != "" {
					maxAge = c.MaxAge
				}
			}
			if pass {
				require.True(t, maxAge > 0 && maxAge <= 60, "session cookie Max-Age %d, want at most the token's 60s", maxAge)
			} else {
				require.Equal(t, 3600, maxAge)
			}
		})
	}
}
