package config_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connectProxy is an HTTP CONNECT proxy that records the targets it was asked for. Its tunnels are
// closed when the test ends.
func connectProxy(t *testing.T) (addr string, targets func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	var conns []net.Conn
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush() // the 200 goes out before the tunnel starts
		down, _, err := rc.Hijack()
		if err != nil {
			up.Close()
			return
		}
		mu.Lock()
		seen = append(seen, r.Host)
		conns = append(conns, up, down)
		mu.Unlock()
		go func() { _, _ = io.Copy(up, down); up.Close() }()
		go func() { _, _ = io.Copy(down, up); down.Close() }()
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return strings.TrimPrefix(srv.URL, "http://"), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

// TestBackendTunnelFromYAML: a host backend with backendTunnel reaches its upstream through the HTTP
// CONNECT proxy (a Go one, whose 200 carries Transfer-Encoding: chunked, which a CONNECT client must
// ignore); a backend without it connects directly.
func TestBackendTunnelFromYAML(t *testing.T) {
	proxy, targets := connectProxy(t)
	up := echoUpstream(t, "up")
	url := servePorts(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - matches: [{path: {pathPrefix: /tunnel}}]
      backends:
      - host: $UP
        policies:
          backendTunnel: {proxy: {host: $PROXY}}
    - backends: [{host: $UP}]
`, map[string]string{"UP": up, "PROXY": proxy})[3000]
	code, body := get(t, url+"/tunnel/x", "")
	require.Equal(t, 200, code, body)
	assert.Equal(t, "up /tunnel/x", body)
	assert.Equal(t, []string{up}, targets(), "the upstream was reached through the proxy's CONNECT")
	code, _ = get(t, url+"/direct", "")
	require.Equal(t, 200, code)
	assert.Len(t, targets(), 1, "a backend without backendTunnel connects directly")
}
