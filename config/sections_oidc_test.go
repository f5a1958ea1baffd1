package config_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// oidcYAML is the schema's LocalOidcConfig on a route, with the client secret read from a file and
// the subject passed to the backend by a transformation.
const oidcYAML = `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        oidc:
          issuer: $ISSUER
          clientId: $CLIENT_ID
          clientSecret: {file: $SECRET_FILE}
          redirectURI: $GATEWAY/oauth/callback
          scopes: [email]
          tokenEndpointAuth: clientSecretPost
        transformations:
          request:
            set:
              x-user: jwt.sub
        authorization:
          rules:
          - jwt.email == "alice@example.com"
      backends:
      - host: $BACKEND
`

func TestOIDCFromYAML(t *testing.T) {
	m, err := mockoidc.Run()
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Shutdown() })
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s uri=%s", r.Header.Get("X-User"), r.URL.RequestURI())
	}))
	t.Cleanup(backend.Close)
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte(m.ClientSecret+"\n"), 0o600))

	// The redirect URI names the gateway's own address, so it is bound before the file is loaded.
	srv := httptest.NewUnstartedServer(nil)
	gwURL := "http://" + srv.Listener.Addr().String()
	env := map[string]string{
		"ISSUER": m.Issuer(), "CLIENT_ID": m.ClientID, "SECRET_FILE": secret, "GATEWAY": gwURL,
		"BACKEND": backend.Listener.Addr().String(),
	}
	f, err := config.Load([]byte(oidcYAML), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
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
	get := func(u string, hdr ...string) (int, string) {
		r, _ := http.NewRequest(http.MethodGet, u, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := browser.Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	status, _ := get(gwURL+"/api", "Sec-Fetch-Mode", "cors")
	require.Equal(t, http.StatusUnauthorized, status, "scripts get 401")

	m.QueueUser(&mockoidc.MockUser{Subject: "alice", Email: "alice@example.com"})
	status, body := get(gwURL+"/docs?page=2", "Sec-Fetch-Mode", "navigate")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "user=alice uri=/docs?page=2", body)

	status, _ = get(gwURL + "/oauth/logout")
	require.Equal(t, http.StatusOK, status)
	m.QueueUser(&mockoidc.MockUser{Subject: "bob", Email: "bob@example.com"})
	status, _ = get(gwURL+"/docs", "Sec-Fetch-Mode", "navigate")
	require.Equal(t, http.StatusForbidden, status, "authorization sees the new login's claims")
}

func TestOIDCYAMLErrors(t *testing.T) {
	for snippet, want := range map[string]string{
		"oidc:\n          issuer: https://idp.example\n          clientId: c\n          clientSecret: s":                                                                                      "policies.oidc.redirectURI: required",
		"oidc:\n          issuer: https://idp.example\n          clientId: c\n          redirectURI: https://a.example/cb":                                                                    "policies.oidc.clientSecret: required",
		"oidc:\n          issuer: https://idp.example\n          clientId: c\n          clientSecret: {file: /nope}\n          redirectURI: https://a/cb":                                     "policies.oidc.clientSecret.file",
		"oidc:\n          issuer: https://idp.example\n          clientId: c\n          clientSecret: s\n          redirectURI: https://a/cb\n          tokenEndpoint: https://idp.example/t": "policies.oidc.authorizationEndpoint",
		"oidc:\n          issuer: https://idp.example\n          clientId: c\n          clientSecret: s\n          redirectURI: https://a/cb\n          tokenEndpointAuth: privateKeyJwt":     "policies.oidc.tokenEndpointAuth",
		"oidc:\n          issuer: https://idp.example\n          clientId: c\n          clientSecret: s\n          redirectURI: https://a/cb\n          cookieKey: k":                         "policies.oidc.cookieKey",
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
