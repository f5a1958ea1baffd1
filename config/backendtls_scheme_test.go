package config_test

import (
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backendTLS is what makes a backend's connections TLS, as in agentgateway: a `host: addr:port`
// backend with backendTLS (on the backend or on its route) speaks HTTPS, verified against the
// policy's root, here given inline as PEM (what a control plane's document carries); a root that
// did not sign the server's certificate fails the request.
func TestBackendTLSMakesHostBackendTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "over "+strconv.Itoa(int(r.TLS.Version)))
	}))
	defer srv.Close()
	root := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	dir := t.TempDir()
	writeCert(t, dir, "example.com") // a CA that did not sign the server's certificate
	b, err := os.ReadFile(filepath.Join(dir, "example.com.crt"))
	require.NoError(t, err)
	otherRoot := string(b)
	addr := srv.Listener.Addr().String()
	tlsPolicy := func(root string) string {
		return "{backendTLS: {root: " + strconv.Quote(root) + ", hostname: example.com}}"
	}
	for name, tc := range map[string]struct {
		doc  string
		code int
	}{
		"on the backend": {"binds: [{port: 8080, listeners: [{routes: [{backends: [{host: '" + addr + "', policies: " + tlsPolicy(root) + "}]}]}]}]", 200},
		"on the route":   {"binds: [{port: 8080, listeners: [{routes: [{policies: " + tlsPolicy(root) + ", backends: [{host: '" + addr + "'}]}]}]}]", 200},
		"wrong root":     {"binds: [{port: 8080, listeners: [{routes: [{backends: [{host: '" + addr + "', policies: " + tlsPolicy(otherRoot) + "}]}]}]}]", 502},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := config.Load([]byte(tc.doc), nil)
			require.NoError(t, err)
			rt, err := f.Build(slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			defer rt.Close()
			gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
			defer gw.Close()
			require.NoError(t, gw.Apply(rt.Config))
			rec := httptest.NewRecorder()
			gw.PortHandler(8080).ServeHTTP(rec, httptest.NewRequest("GET", "http://x/", nil))
			assert.Equal(t, tc.code, rec.Code, rec.Body.String())
			if tc.code == 200 {
				assert.Contains(t, rec.Body.String(), "over 772") // TLS 1.3 (0x0304)
			}
		})
	}
}
