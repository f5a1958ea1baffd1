package config_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTLSSettingsFromYAML: a listener's TLS versions, cipher suites and key-exchange groups, and the
// frontend's TLS and TCP settings, are applied to real handshakes.
func TestTLSSettingsFromYAML(t *testing.T) {
	dir := t.TempDir()
	leaf := writeLeaf(t, dir)
	strict, loose := freeTCPPort(t), freeTCPPort(t)
	up := headerEcho(t, "x-none")
	runYAML(t, `
frontendPolicies:
  tls: {handshakeTimeout: 5s, minVersion: TLS_V1_2}
  tcp: {keepalives: {enabled: true, time: 30s, interval: 10s, retries: 3}}
binds:
- port: `+strict+`
  listeners:
  - protocol: HTTPS
    tls: {cert: `+leaf[0]+`, key: `+leaf[1]+`, minTLSVersion: TLS_V1_3, keyExchangeGroups: [X25519]}
    routes: [{backends: [{host: `+up+`}]}]
- port: `+loose+`
  listeners:
  - protocol: HTTPS
    tls: {cert: `+leaf[0]+`, key: `+leaf[1]+`, maxTLSVersion: TLS_V1_2, cipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]}
    routes: [{backends: [{host: `+up+`}]}]
`, nil)
	get := func(port string, c *tls.Config) (*http.Response, error) {
		c.InsecureSkipVerify = true // the test leaf names "leaf"; what is checked is the negotiation
		tr := &http.Transport{TLSClientConfig: c}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get("https://127.0.0.1:" + port + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	_, err := get(strict, &tls.Config{MaxVersion: tls.VersionTLS12})
	require.Error(t, err, "minTLSVersion TLS_V1_3 refuses a TLS 1.2 client")
	_, err = get(strict, &tls.Config{CurvePreferences: []tls.CurveID{tls.CurveP384}})
	require.Error(t, err, "keyExchangeGroups X25519 refuses a P-384-only client")
	resp, err := get(strict, &tls.Config{})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), resp.TLS.Version)

	resp, err = get(loose, &tls.Config{})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS12), resp.TLS.Version, "maxTLSVersion TLS_V1_2")
	require.Equal(t, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, resp.TLS.CipherSuite)
	_, err = get(loose, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}})
	require.Error(t, err, "a suite outside cipherSuites is refused")
	_, err = get(loose, &tls.Config{MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	require.True(t, err != nil && strings.Contains(err.Error(), "version"), "frontend minVersion TLS_V1_2: %v", err)
}

// TestFrontendConnectModeFromYAML: frontendPolicies.connect decides what a CONNECT on an HTTP port
// gets: deny answers 405, route sends it through the routes like any request.
func TestFrontendConnectModeFromYAML(t *testing.T) {
	for mode, want := range map[string]string{"deny": "405", "route": "200"} {
		port := freeTCPPort(t)
		runYAML(t, `
frontendPolicies:
  connect: {mode: `+mode+`}
binds:
- port: `+port+`
  listeners:
  - routes: [{policies: {directResponse: {body: routed, status: 200}}}]
`, nil)
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		require.NoError(t, err)
		_, err = io.WriteString(c, "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n")
		require.NoError(t, err)
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		require.NoError(t, err)
		require.Contains(t, line, " "+want+" ", "mode %s: %q", mode, line)
	}
}
