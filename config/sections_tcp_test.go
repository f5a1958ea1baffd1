package config_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// runYAML builds yaml and runs it on real ports (with its frontendPolicies) until the test ends.
func runYAML(t *testing.T, yaml string, env map[string]string) {
	t.Helper()
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	opts := append([]agentgateway.Option{agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false),
		agentgateway.WithBindAddress("127.0.0.1"), agentgateway.WithDrainTimeout(2 * time.Second)}, f.Frontend.Options()...)
	gw := agentgateway.New(opts...)
	require.NoError(t, gw.Apply(rt.Config))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	t.Cleanup(func() {
		cancel()
		_ = gw.Wait()
		_ = gw.Close()
		_ = rt.Close()
	})
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// tcpEcho echoes each connection until the client half-closes.
func tcpEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// headerEcho answers with the value of request header name.
func headerEcho(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get(name))
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// TestTCPRouteFromYAML: a TCP listener's tcpRoutes proxy bytes to a host backend.
func TestTCPRouteFromYAML(t *testing.T) {
	port := freeTCPPort(t)
	runYAML(t, `
binds:
- port: $PORT
  listeners:
  - protocol: TCP
    tcpRoutes:
    - name: echo
      backends: [{host: $ECHO}]
`, map[string]string{"PORT": port, "ECHO": tcpEcho(t)})
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	require.NoError(t, err)
	defer c.Close()
	_, _ = io.WriteString(c, "hello tcp")
	_ = c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "hello tcp", string(got))
}

// TestProxyProtocolAndNetworkAuthorizationFromYAML: with proxyProtocol the PROXY source is CEL's
// source.address in route policies, and networkAuthorization denies by CIDR before any HTTP.
func TestProxyProtocolAndNetworkAuthorizationFromYAML(t *testing.T) {
	port := freeTCPPort(t)
	runYAML(t, `
frontendPolicies:
  proxy: {version: all}
  networkAuthorization:
    rules:
    - deny: 'cidr("203.0.113.0/24").containsIP(source.address)'
    - require: 'destination.port == 443'
binds:
- port: $PORT
  listeners:
  - routes:
    - policies:
        transformations:
          request:
            set:
              x-client: source.address
      backends: [{host: $UP}]
`, map[string]string{"PORT": port, "UP": headerEcho(t, "x-client")})
	get := func(preamble string) (string, error) {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, preamble+"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	got, err := get("PROXY TCP4 198.51.100.20 192.0.2.1 5555 443\r\n")
	require.NoError(t, err)
	require.Equal(t, "198.51.100.20", got, "the PROXY source is source.address")
	_, err = get("PROXY TCP4 203.0.113.5 192.0.2.1 5555 443\r\n")
	require.Error(t, err, "denied by CIDR: closed")
	_, err = get("PROXY TCP4 198.51.100.20 192.0.2.1 5555 8443\r\n")
	require.Error(t, err, "require on destination.port fails: closed")
	_, err = get("")
	require.Error(t, err, "strict mode: no header, closed")
}

// writeCA writes a test CA's certificate and key (PEM) into dir and returns their paths and a pool
// trusting it.
func writeCA(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test egress CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// EgressYAML is the egress proxy of agentgateway's docs: a CONNECT bind, an internal 443 bind that
// intercepts TLS with a dynamic CA for one host (its decrypted requests go through route policies)
// and passes another through undecrypted.
const egressYAML = `
binds:
- port: $PROXY
  tunnelProtocol: connect
  listeners: []
- port: 443
  mode: internal
  listeners:
  - name: intercept
    hostname: intercept.test
    protocol: HTTPS
    tls: {mode: dynamicCa, cert: $CA, key: $CAKEY}
    routes:
    - policies:
        transformations:
          request:
            set:
              x-intercepted: '"yes " + request.host'
        authorization:
          rules: ['request.path != "/forbidden"']
      backends: [{host: $UP}]
  - name: pass
    hostname: pass.test
    protocol: TLS
    tcpRoutes:
    - backends: [{host: $TLSUP}]
`

// TestConnectEgressWithDynamicCA: through the CONNECT port, a client that trusts the operator's CA
// reaches intercept.test with a certificate minted for it, and route policies apply to the decrypted
// requests; pass.test is tunnelled to its backend undecrypted; other targets get 403.
func TestConnectEgressWithDynamicCA(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey, pool := writeCA(t, dir)
	proxyPort := freeTCPPort(t)
	passthrough := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "passthrough backend") }))
	t.Cleanup(passthrough.Close)
	runYAML(t, egressYAML, map[string]string{"PROXY": proxyPort, "CA": caCert, "CAKEY": caKey,
		"UP": headerEcho(t, "x-intercepted"), "TLSUP": strings.TrimPrefix(passthrough.URL, "https://")})
	proxyURL, _ := url.Parse("http://127.0.0.1:" + proxyPort)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://intercept.test/hello")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))
	require.Equal(t, "yes intercept.test", string(body), "the decrypted request went through the route's transformation")
	require.Equal(t, "intercept.test", resp.TLS.PeerCertificates[0].Subject.CommonName, "a leaf minted for the host, trusted through the CA")
	resp, err = client.Get("https://intercept.test/forbidden")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 403, resp.StatusCode, "authorization applies to intercepted requests")

	// pass.test is not intercepted: the client sees the backend's own certificate.
	pass := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // the backend's test certificate does not name pass.test; it is compared below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if !cs.PeerCertificates[0].Equal(passthrough.Certificate()) {
				return fmt.Errorf("not the backend's certificate: %s", cs.PeerCertificates[0].Subject)
			}
			return nil
		},
	}}}
	defer pass.CloseIdleConnections()
	resp, err = pass.Get("https://pass.test/")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "passthrough backend", string(body))

	_, err = client.Get("https://other.test/")
	require.ErrorContains(t, err, "Forbidden", "a target no listener takes is refused at the proxy")
}

// TestL4ConfigErrorsFromYAML: what the L4 keys refuse, at their paths.
func TestL4ConfigErrorsFromYAML(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"hbone":             {"binds:\n- port: 1\n  listeners: [{protocol: HBONE}]\n", "binds[0].listeners[0].protocol: protocol HBONE is not supported"},
		"mesh tunnel":       {"binds:\n- port: 1\n  tunnelProtocol: hboneWaypoint\n  listeners: []\n", `binds[0].tunnelProtocol: tunnel protocol "hboneWaypoint" is not supported`},
		"tcpRoutes on HTTP": {"binds:\n- port: 1\n  listeners: [{tcpRoutes: [{backends: [{host: 'a:1'}]}]}]\n", "binds[0].listeners[0].tcpRoutes: TCP routes need protocol TCP or TLS"},
		"connect listeners": {"binds:\n- port: 1\n  tunnelProtocol: connect\n  listeners: [{}]\n", "binds[0].listeners: a CONNECT bind serves CONNECT only"},
		"two kinds":         {"binds:\n- port: 1\n  listeners: [{protocol: TCP, tcpRoutes: [{backends: [{host: 'a:1', dynamic: {}}]}]}]\n", "binds[0].listeners[0].tcpRoutes[0].backends[0]: set exactly one of host, service, backend, dynamic"},
		"bad CEL":           {"frontendPolicies:\n  networkAuthorization: {rules: ['nosuch(']}\n", "frontendPolicies.networkAuthorization.rules[0].allow"},
		"proxy both":        {"frontendPolicies:\n  proxy: {}\n  proxyProtocol: {}\n", "frontendPolicies.proxy: set proxyProtocol or proxy, not both"},
		"proxy version":     {"frontendPolicies:\n  proxyProtocol: {version: v3}\n", `frontendPolicies.proxyProtocol.version: unknown version "v3"`},
		"tls version":       {"frontendPolicies:\n  tls: {minVersion: TLS_V9}\n", `frontendPolicies.tls.minVersion: unknown TLS version "TLS_V9"`},
		"cipher":            {"frontendPolicies:\n  tls: {cipherSuites: [NOPE]}\n", `frontendPolicies.tls.cipherSuites[0]: unknown cipher suite "NOPE"`},
		"connect mode":      {"frontendPolicies:\n  connect: {mode: maybe}\n", `frontendPolicies.connect.mode: unknown mode "maybe"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load([]byte(tc.yaml), nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
	// Build-time: a dynamicCa certificate that is not a CA, a backend that is not host:port.
	dir := t.TempDir()
	leaf := writeLeaf(t, dir)
	f, err := config.Load([]byte(fmt.Sprintf("binds:\n- port: 1\n  listeners:\n  - protocol: HTTPS\n    tls: {mode: dynamicCa, cert: %s, key: %s}\n    routes: [{backends: [{host: 'a:1'}]}]\n  - name: t\n    protocol: TLS\n    tcpRoutes: [{backends: [{host: nohost}]}]\n", leaf[0], leaf[1])), nil)
	require.NoError(t, err)
	_, err = f.Build(slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "binds[0].listeners[0].tls.cert")
	require.ErrorContains(t, err, "not a CA")
	require.ErrorContains(t, err, "binds[0].listeners[1].tcpRoutes[0].backends[0].host: want host:port")
}

func writeLeaf(t *testing.T, dir string) [2]string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"leaf"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, _ := x509.MarshalECPrivateKey(key)
	c, k := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leaf-key.pem")
	require.NoError(t, os.WriteFile(c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return [2]string{c, k}
}

// TestTopLevelTCPRoutesFromYAML: agentgateway's newer schema for L4: top-level tcpRoutes attach to
// TCP and TLS gateways; a TLS gateway without tls passes TLS through by SNI; routes and tcpRoutes
// refuse gateways of the other kind.
func TestTopLevelTCPRoutesFromYAML(t *testing.T) {
	tcpPort, tlsPort := freeTCPPort(t), freeTCPPort(t)
	backend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "tls backend") }))
	t.Cleanup(backend.Close)
	runYAML(t, `
gateways:
  plain: {port: $TCP, protocol: TCP}
  sni: {port: $TLS, protocol: TLS}
tcpRoutes:
- name: echo
  gateways: [plain]
  backends: [{host: $ECHO}]
- name: secure
  gateways: [sni]
  hostnames: [secure.test]
  backends: [{host: $TLSUP}]
`, map[string]string{"TCP": tcpPort, "TLS": tlsPort, "ECHO": tcpEcho(t), "TLSUP": strings.TrimPrefix(backend.URL, "https://")})
	c, err := net.Dial("tcp", "127.0.0.1:"+tcpPort)
	require.NoError(t, err)
	_, _ = io.WriteString(c, "hello gateway")
	_ = c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	c.Close()
	require.NoError(t, err)
	require.Equal(t, "hello gateway", string(got))

	tr := &http.Transport{DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+tlsPort, &tls.Config{ServerName: "secure.test", InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if !cs.PeerCertificates[0].Equal(backend.Certificate()) {
					return fmt.Errorf("not the backend's own certificate")
				}
				return nil
			}})
		return conn, err
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://secure.test/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "tls backend", string(body), "passed through by SNI: the client saw the backend's certificate")

	for name, c := range map[string]struct{ yaml, want string }{
		"tcpRoute on HTTP": {"gateways: {web: {port: 3000}}\ntcpRoutes: [{gateways: [web], backends: [{host: 'a:1'}]}]\n", `tcpRoutes[0].gateways: listener "web" is HTTP or HTTPS`},
		"route on TCP":     {"gateways: {raw: {port: 3000, protocol: TCP}}\nroutes: [{gateways: [raw], backends: [{host: 'a:1'}]}]\n", `routes[0].gateways: listener "raw" is TCP or TLS`},
		"tls on TCP":       {"gateways: {raw: {port: 3000, protocol: TCP, tls: {cert: c, key: k}}}\n", `gateways.raw.tls: tls needs protocol TLS or HTTPS`},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := config.Load([]byte(c.yaml), nil)
			if err == nil {
				_, err = f.Build(slog.New(slog.DiscardHandler))
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}
