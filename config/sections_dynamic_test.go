package config_test

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A dynamic backend sends each request where its CEL target says; a result that is not host:port is
// a 502 with a clear message, never a panic.
func TestDynamicBackendTargetFromCEL(t *testing.T) {
	a, b := echoUpstream(t, "a"), echoUpstream(t, "b")
	url := servePorts(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - dynamic:
          target: 'request.headers["x-target"] == "a" ? "$A" : (request.headers["x-target"] == "b" ? "$B" : request.headers["x-target"])'
          allowPrivate: true
`, map[string]string{"A": a, "B": b})[3000]
	code, body := get(t, url+"/p", "", "X-Target", "a")
	assert.Equal(t, 200, code)
	assert.Equal(t, "a /p", body)
	code, body = get(t, url+"/q", "", "X-Target", "b")
	assert.Equal(t, 200, code)
	assert.Equal(t, "b /q", body)
	for _, bad := range []string{"", "a b:80", "host:99999", "http://x/y", "x@y:1"} {
		code, body = get(t, url+"/", "", "X-Target", bad)
		assert.Equal(t, 502, code, bad)
		assert.Contains(t, body, "dynamic backend: invalid target", bad)
	}
}

// By default a dynamic backend refuses loopback, private and link-local targets: literal addresses and
// localhost with 403, names resolving to them when dialled (502); the upstream never sees them.
func TestDynamicBackendRefusesPrivateTargets(t *testing.T) {
	up := echoUpstream(t, "up")
	_, port, _ := net.SplitHostPort(up)
	url := servePorts(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - name: header
      matches: [{path: {pathPrefix: /h}}]
      backends: [{dynamic: {target: 'request.headers["x-target"]'}}]
    - name: host
      backends: [{dynamic: {}}]
`, nil)[3000]
	for _, target := range []string{up, "localhost:" + port, "[::1]:" + port, "[::ffff:127.0.0.1]:" + port, "169.254.169.254:80", "10.1.2.3:80", "0.0.0.0:" + port} {
		code, body := get(t, url+"/h", "", "X-Target", target)
		assert.Equal(t, 403, code, target)
		assert.Contains(t, body, "private address", target)
	}
	code, _ := get(t, url+"/x", up) // the Host header names the upstream
	assert.Equal(t, 403, code)
	code, _ = get(t, url+"/x", "bad host:1")
	assert.Equal(t, 400, code, "a malformed Host is the client's error")

	// A name that resolves to a private address is refused when dialled.
	name, err := os.Hostname()
	require.NoError(t, err)
	addrs, err := net.LookupHost(name)
	if err != nil || len(addrs) == 0 || strings.EqualFold(name, "localhost") {
		t.Skipf("hostname %q does not resolve", name)
	}
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err != nil || !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()) {
			t.Skipf("hostname %q resolves to a public address", name)
		}
	}
	code, _ = get(t, url+"/h", "", "X-Target", name+":"+port)
	assert.Equal(t, 502, code, "%s resolves to %v", name, addrs)
}
