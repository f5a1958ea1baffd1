package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCA writes a CA certificate and key into dir.
func testCA(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "binary test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return cert, key
}

// TestCurlThroughConnectEgress runs the binary as an egress proxy and drives it with curl --proxy:
// an allowed passthrough destination, an intercepted one (curl trusts the operator's CA; the route's
// policy shows in the answer), and a destination no listener takes (403 to the CONNECT).
func TestCurlThroughConnectEgress(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	dir := t.TempDir()
	caCert, caKey := testCA(t, dir)
	pass := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "passed through") }))
	t.Cleanup(pass.Close)
	intercepted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "intercepted %s %s", r.URL.Path, r.Header.Get("x-egress"))
	}))
	t.Cleanup(intercepted.Close)
	proxyPort := freePort(t)
	cfg := fmt.Sprintf(`
binds:
- port: %d
  tunnelProtocol: connect
  listeners: []
- port: 443
  mode: internal
  listeners:
  - name: inspect
    hostname: inspect.test
    protocol: HTTPS
    tls: {mode: dynamicCa, cert: %s, key: %s}
    routes:
    - policies:
        requestHeaderModifier: {set: {x-egress: checked}}
      backends: [{host: %s}]
  - name: allow
    hostname: "*.allowed.test"
    protocol: TLS
    tcpRoutes:
    - backends: [{host: %s}]
`, proxyPort, caCert, caKey, strings.TrimPrefix(intercepted.URL, "http://"), strings.TrimPrefix(pass.URL, "https://"))
	g := start(t, cfg, proxyPort)
	proxy := fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(curl, append([]string{"-sS", "--max-time", "10", "--proxy", proxy}, args...)...)
		out, err := cmd.Output()
		return string(out), err
	}
	out, err := run("-k", "https://www.allowed.test/")
	require.NoError(t, err, g.stderr.String())
	require.Equal(t, "passed through", out)
	out, err = run("--cacert", caCert, "https://inspect.test/path")
	require.NoError(t, err, g.stderr.String())
	require.Equal(t, "intercepted /path checked", out)
	out, _ = run("-o", "/dev/null", "-w", "%{http_connect}", "https://denied.test/")
	require.Equal(t, "403", out)
	out, _ = run("-o", "/dev/null", "-w", "%{http_connect}", "https://www.allowed.test:8443/")
	require.Equal(t, "403", out, "no bind serves port 8443")
}

// TestProxyProtocolThroughTheBinary: behind a PROXY v2 speaking balancer, the binary's access log and
// CEL see the client the header announces; a connection without the header is closed.
func TestProxyProtocolThroughTheBinary(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("x-client"))
	}))
	t.Cleanup(up.Close)
	port := freePort(t)
	g := start(t, fmt.Sprintf(`
frontendPolicies:
  proxyProtocol: {version: v2, mode: strict}
binds:
- port: %d
  listeners:
  - routes:
    - policies:
        transformations:
          request:
            set:
              x-client: source.address + ":" + string(source.port)
      backends: [{host: %s}]
`, port, strings.TrimPrefix(up.URL, "http://")), port)
	get := func(header []byte) (string, error) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write(append(header, "GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"...))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	v2 := append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), 198, 51, 100, 7, 127, 0, 0, 1)
	v2 = binary.BigEndian.AppendUint16(v2, 61000)
	v2 = binary.BigEndian.AppendUint16(v2, uint16(port))
	got, err := get(v2)
	require.NoError(t, err, g.stderr.String())
	require.Equal(t, "198.51.100.7:61000", got)
	_, err = get(nil)
	require.Error(t, err, "strict: a connection without a header is closed")
	require.Eventually(t, func() bool { return strings.Contains(g.stderr.String(), "198.51.100.7") }, 5*time.Second, 20*time.Millisecond,
		"the access log names the PROXY source: %s", g.stderr)
}
