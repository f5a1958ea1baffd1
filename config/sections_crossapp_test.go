package config_test

import (
	"bytes"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// policies {backendTLS: {}} on a crossAppAccess token endpoint (agentgateway's okta-auth0 and xaa-dev
// examples) dials the endpoint over TLS: here the endpoint's test certificate is not trusted, so the
// handshake fails at the endpoint and the call is refused, rather than a plaintext token request.
func TestCrossAppAccessEndpointTLS(t *testing.T) {
	var logs syncBuf
	tokenSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a token request arrived without TLS")
	}))
	tokenSrv.Config.ErrorLog = log.New(&logs, "", 0)
	tokenSrv.StartTLS()
	defer tokenSrv.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the upstream was called without a token") }))
	defer up.Close()
	host := strings.TrimPrefix(tokenSrv.URL, "https://")
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        backendAuth:
          crossAppAccess:
            identityProvider:
              host: ` + host + `
              tokenEndpointPath: /token
              policies: {backendTLS: {}}
              clientAuth: {clientId: a, method: clientSecretPost, clientSecret: s}
            resourceAuthorizationServer:
              host: ` + host + `
              tokenEndpointPath: /token
              policies: {backendTLS: {}}
              clientAuth: {clientId: b, method: clientSecretPost, clientSecret: s}
            audience: https://as.example
      backends: [{host: ` + strings.TrimPrefix(up.URL, "http://") + `}]
`
	f, err := config.Load([]byte(yaml), nil)
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Apply(rt.Config))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer id-token")
	w := httptest.NewRecorder()
	gw.PortHandler(3000).ServeHTTP(w, r)
	assert.GreaterOrEqual(t, w.Code, 400)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "TLS handshake error") }, 5*time.Second, 10*time.Millisecond,
		"the gateway spoke TLS to the token endpoint")

	for _, bad := range []string{"path: /x\n              tokenEndpointPath: /y", "policies: {backendTLS: {insecure: true}}"} {
		y := strings.Replace(yaml, "tokenEndpointPath: /token\n              policies: {backendTLS: {}}", bad, 1)
		f, err := config.Load([]byte(y), nil)
		if err == nil {
			_, err = f.Build(nil)
		}
		assert.ErrorContains(t, err, "crossAppAccess.identityProvider", bad)
	}
}
