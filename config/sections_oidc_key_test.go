package config_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// keyOAuth2YAML is an oauth2 route whose client, secret and config.session.key vary per test; the
// cookie name is fixed so that only the key decides whether a cookie is accepted.
const keyOAuth2YAML = `
$SESSION
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        oauth2:
          issuer: $ISSUER
          clientId: $CLIENT_ID
          clientSecret: $SECRET
          redirectUri: "$GATEWAY/_gateway/callback"
          cookieName: agw_test_session
        transformations:
          request:
            set:
              x-user: jwt.sub
      backends:
      - host: $BACKEND
`

// keyOIDCYAML is the schema's oidc policy, its cookie name the default (a hash of issuer and client).
const keyOIDCYAML = `
$SESSION
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        oidc:
          issuer: $ISSUER
          clientId: $CLIENT_ID
          clientSecret: $SECRET
          redirectURI: $GATEWAY/oauth/callback
          tokenEndpointAuth: clientSecretPost
        transformations:
          request:
            set:
              x-user: jwt.sub
      backends:
      - host: $BACKEND
`

// keyGateway builds and serves its own gateway from yaml (a separate build: another replica, or the
// same one after a restart). vars override ISSUER, CLIENT_ID, SECRET and SESSION (a config block).
func keyGateway(t *testing.T, m *mockoidc.MockOIDC, yaml string, vars map[string]string) string {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s", r.Header.Get("X-User"))
	}))
	t.Cleanup(backend.Close)
	srv := httptest.NewUnstartedServer(nil)
	gwURL := "http://" + srv.Listener.Addr().String()
	env := map[string]string{
		"ISSUER": m.Issuer(), "CLIENT_ID": m.ClientID, "SECRET": m.ClientSecret, "SESSION": "",
		"GATEWAY": gwURL, "BACKEND": backend.Listener.Addr().String(),
	}
	for k, v := range vars {
		env[k] = v
	}
	for k, v := range env {
		yaml = strings.ReplaceAll(yaml, "$"+k, v)
	}
	f, err := config.Load([]byte(yaml), func(string) (string, bool) { return "", false })
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

// keyLogin logs alice in at gw and returns the session cookie.
func keyLogin(t *testing.T, m *mockoidc.MockOIDC, gw string) *http.Cookie {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	t.Cleanup(browser.CloseIdleConnections)
	m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	resp := oauth2Nav(t, browser, gw+"/docs")
	body := oauth2Body(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "user=alice", body)
	u, err := url.Parse(gw)
	require.NoError(t, err)
	var sess *http.Cookie
	for _, c := range jar.Cookies(u) {
		if !strings.Contains(c.Name, "login") && (sess == nil || len(c.Value) > len(sess.Value)) {
			sess = c
		}
	}
	require.NotNil(t, sess, "no session cookie")
	return sess
}

// keyAccepts presents the session cookie to gw: true when the backend is reached as alice, false
// when gw sends the browser to log in.
func keyAccepts(t *testing.T, m *mockoidc.MockOIDC, gw string, sess *http.Cookie) bool {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(c.CloseIdleConnections)
	resp := oauth2Nav(t, c, gw+"/docs", "Cookie", sess.Name+"="+sess.Value)
	body := oauth2Body(t, resp)
	switch resp.StatusCode {
	case http.StatusOK:
		require.Equal(t, "user=alice", body)
		return true
	case http.StatusFound:
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), m.AuthorizationEndpoint()), resp.Header.Get("Location"))
		return false
	}
	t.Fatalf("status %d: %s", resp.StatusCode, body)
	return false
}

func sessionBlock(key string) string { return "config:\n  session:\n    key: " + key + "\n" }

// Sessions of the oauth2 policy survive restarts and span replicas: their key is derived from the
// client secret (or config.session.key), not generated per process. Another secret, session key or
// client refuses them, so that a leaked cookie of one client does not open another's routes.
func TestOAuth2SessionKeyFromYAML(t *testing.T) {
	m, _, _ := oauth2Provider(t)
	t.Run("clientSecret", func(t *testing.T) {
		sess := keyLogin(t, m, keyGateway(t, m, keyOAuth2YAML, nil))
		require.True(t, keyAccepts(t, m, keyGateway(t, m, keyOAuth2YAML, nil), sess), "another replica (or a restart) built from the same YAML")
		require.False(t, keyAccepts(t, m, keyGateway(t, m, keyOAuth2YAML, map[string]string{"SECRET": "rotated-secret"}), sess), "another client secret")
		require.False(t, keyAccepts(t, m, keyGateway(t, m, keyOAuth2YAML, map[string]string{"CLIENT_ID": "other-client"}), sess), "another client on the same secret")
		require.False(t, keyAccepts(t, m, keyGateway(t, m, keyOAuth2YAML, map[string]string{"SESSION": sessionBlock(strings.Repeat("ab", 32))}), sess),
			"config.session.key replaces the client secret")
	})
	t.Run("sessionKey", func(t *testing.T) {
		k1 := map[string]string{"SESSION": sessionBlock(strings.Repeat("ab", 32))}
		sess := keyLogin(t, m, keyGateway(t, m, keyOAuth2YAML, k1))
		require.True(t, keyAccepts(t, m, keyGateway(t, m, keyOAuth2YAML, k1), sess), "another replica with the same session key")
		require.True(t, keyAccepts(t, m, keyGateway(t, m, keyOAuth2YAML, map[string]string{"SESSION": k1["SESSION"], "SECRET": "rotated-secret"}), sess),
			"with a session key, sessions outlive a client secret rotation")
		require.False(t, keyAccepts(t, m, keyGateway(t, m, keyOAuth2YAML, map[string]string{"SESSION": sessionBlock(strings.Repeat("cd", 32))}), sess), "another session key")
		require.False(t, keyAccepts(t, m, keyGateway(t, m, keyOAuth2YAML, map[string]string{"SESSION": k1["SESSION"], "CLIENT_ID": "other-client"}), sess),
			"another client on the same session key")
	})
}

// The oidc policy's sessions are keyed the same way.
func TestOIDCSessionKeyFromYAML(t *testing.T) {
	m, _, _ := oauth2Provider(t)
	sess := keyLogin(t, m, keyGateway(t, m, keyOIDCYAML, nil))
	require.True(t, keyAccepts(t, m, keyGateway(t, m, keyOIDCYAML, nil), sess), "another replica built from the same YAML")
	require.False(t, keyAccepts(t, m, keyGateway(t, m, keyOIDCYAML, map[string]string{"SECRET": "rotated-secret"}), sess), "another client secret")
	k := map[string]string{"SESSION": sessionBlock(strings.Repeat("ab", 32))}
	sess = keyLogin(t, m, keyGateway(t, m, keyOIDCYAML, k))
	require.True(t, keyAccepts(t, m, keyGateway(t, m, keyOIDCYAML, k), sess), "another replica with the same session key")
	require.False(t, keyAccepts(t, m, keyGateway(t, m, keyOIDCYAML, map[string]string{"SESSION": sessionBlock(strings.Repeat("cd", 32))}), sess), "another session key")
}
