package config_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// A backend with backendTLS connects through the file's dialer (SetDialer) like any other backend:
// a control plane's data plane whose endpoints are only reachable through it (pod IPs) reaches them
// over TLS too, verified and presenting the policy's client certificate.
func TestBackendTLSUsesTheFilesDialer(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "peers="+strconv.Itoa(len(r.TLS.PeerCertificates)))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	root := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	dir := t.TempDir()
	writeCert(t, dir, "client")
	f, err := config.Load([]byte(`
binds:
- port: 8080
  listeners:
  - routes:
    - backends:
      - host: 10.9.9.9:443
        policies:
          backendTLS: {hostname: example.com, cert: client.crt, key: client.key, root: `+strconv.Quote(root)+`}
`), nil)
	require.NoError(t, err)
	f.SetDir(dir)
	var mu sync.Mutex
	var dialled []string
	f.SetDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialled = append(dialled, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	})
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	defer gw.Close()
	require.NoError(t, gw.Apply(rt.Config))
	rec := httptest.NewRecorder()
	gw.PortHandler(8080).ServeHTTP(rec, httptest.NewRequest("GET", "http://x/", nil))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.Equal(t, "peers=1", rec.Body.String(), "the client certificate was presented")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"10.9.9.9:443"}, dialled)
}
