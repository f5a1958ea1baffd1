package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"
)

const oidcConfig = `
binds:
- port: %[1]d
  listeners:
  - routes:
    - policies:
        oidc:
          issuer: %[2]s
          clientId: %[3]s
          clientSecret: {file: %[4]s}
          redirectURI: http://127.0.0.1:%[1]d/oauth/callback
          tokenEndpointAuth: clientSecretPost
        authorization:
          rules:
          - jwt.sub == "alice"
      backends:
      - host: %[5]s
`

// TestOIDCThroughTheBinary: the binary, given an oidc policy, logs a browser in through a real OIDC
// provider (mockoidc) and keeps the session across a config reload.
func TestOIDCThroughTheBinary(t *testing.T) {
	m, err := mockoidc.Run()
	require.NoError(t, err)
	defer func() { _ = m.Shutdown() }()
	secret := filepath.Join(t.TempDir(), "client-secret")
	require.NoError(t, os.WriteFile(secret, []byte(m.ClientSecret), 0o600))

	port := freePort(t)
	g := start(t, fmt.Sprintf(oidcConfig, port, m.Issuer(), m.ClientID, secret, upstream(t, "a")), port)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	defer browser.CloseIdleConnections()
	fetch := func(path, mode string) (int, string) {
		r, _ := http.NewRequest(http.MethodGet, g.url(path), nil)
		r.Header.Set("Sec-Fetch-Mode", mode)
		resp, err := browser.Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	status, _ := fetch("/data", "cors")
	require.Equal(t, http.StatusUnauthorized, status)
	m.QueueUser(&mockoidc.MockUser{Subject: "alice"})
	status, body := fetch("/home", "navigate")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "a /home", body)

	// A reload rebuilds the policy; the session, sealed with the process's key, still holds.
	g.replace(fmt.Sprintf(oidcConfig, port, m.Issuer(), m.ClientID, secret, upstream(t, "b")))
	require.Eventually(t, func() bool {
		status, body := fetch("/data", "cors")
		return status == http.StatusOK && strings.HasPrefix(body, "b ")
	}, 10*time.Second, 20*time.Millisecond)
}
