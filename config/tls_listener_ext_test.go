package config_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// TestListenerMTLSMode: mtlsMode (our extension for Gateway API's AllowInsecureFallback) makes a
// listener with root ask for a client certificate without requiring one; strict and unset require
// one; a bad value, or mtlsMode without root, is a config error at the field.
func TestListenerMTLSMode(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "a")
	writeCert(t, dir, "clients")
	listener := func(tlsSpec string) string {
		return fmt.Sprintf(`
binds:
- port: 8443
  listeners:
  - protocol: HTTPS
    tls: %s
    routes: [{policies: {directResponse: {status: 200}}}]`, tlsSpec)
	}
	for spec, want := range map[string]tls.ClientAuthType{
		"{cert: a.crt, key: a.key, root: clients.crt}":                                  tls.RequireAndVerifyClientCert,
		"{cert: a.crt, key: a.key, root: clients.crt, mtlsMode: strict}":                tls.RequireAndVerifyClientCert,
		"{cert: a.crt, key: a.key, root: clients.crt, mtlsMode: allowInsecureFallback}": tls.RequestClientCert,
	} {
		rt, err := buildIn(t, dir, listener(spec))
		require.NoError(t, err, spec)
		require.Equal(t, want, rt.Config.Listeners[0].TLS.ClientAuth, spec)
		require.NotNil(t, rt.Config.Listeners[0].TLS.ClientCAs, spec)
		_ = rt.Close()
	}
	for spec, msg := range map[string]string{
		"{cert: a.crt, key: a.key, root: clients.crt, mtlsMode: optional}": `binds[0].listeners[0].tls.mtlsMode: want strict or allowInsecureFallback, got "optional"`,
		"{cert: a.crt, key: a.key, mtlsMode: allowInsecureFallback}":       "binds[0].listeners[0].tls.mtlsMode: needs root",
	} {
		_, err := buildIn(t, dir, listener(spec))
		require.ErrorIs(t, err, agentgateway.ErrInvalidConfig, spec)
		require.ErrorContains(t, err, msg, spec)
	}
}

// TestListenerAdditionalCertificates: additionalCertificates (our extension, for a Gateway API
// listener's several certificateRefs) are served to the clients whose SNI they name, cert to the
// others; a pair without its key, a file that does not load, or dynamicCa mode is a config error at
// the field.
func TestListenerAdditionalCertificates(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "a.example.com")
	writeCert(t, dir, "b.example.com")
	rt, err := buildIn(t, dir, `
binds:
- port: 8443
  listeners:
  - protocol: HTTPS
    tls: {cert: a.example.com.crt, key: a.example.com.key, additionalCertificates: [{cert: b.example.com.crt, key: b.example.com.key}]}
    routes: [{policies: {directResponse: {status: 200}}}]`)
	require.NoError(t, err)
	defer rt.Close()
	tc := rt.Config.Listeners[0].TLS
	served := func(sni string) string {
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		go func() { _ = tls.Server(s, tc).Handshake(); s.Close() }()
		cl := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: sni})
		require.NoError(t, cl.Handshake())
		return cl.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	require.Equal(t, "b.example.com", served("b.example.com"))
	require.Equal(t, "a.example.com", served("a.example.com"))
	require.Equal(t, "a.example.com", served("c.example.com"))

	listener := func(extra string) string {
		return fmt.Sprintf(`
binds:
- port: 8443
  listeners:
  - protocol: HTTPS
    tls: {cert: a.example.com.crt, key: a.example.com.key, %s}
    routes: [{policies: {directResponse: {status: 200}}}]`, extra)
	}
	for extra, msg := range map[string]string{
		"additionalCertificates: [{cert: b.example.com.crt}]":                                          "binds[0].listeners[0].tls.additionalCertificates[0]: cert and key are required",
		"additionalCertificates: [{cert: nope.crt, key: b.example.com.key}]":                           "binds[0].listeners[0].tls.additionalCertificates[0].cert: open ",
		"additionalCertificates: [{cert: b.example.com.crt, key: a.example.com.key}]":                  "binds[0].listeners[0].tls.additionalCertificates[0]: loading certificate b.example.com.crt and key a.example.com.key",
		"mode: dynamicCa, additionalCertificates: [{cert: b.example.com.crt, key: b.example.com.key}]": "binds[0].listeners[0].tls.additionalCertificates: not with mode dynamicCa",
	} {
		_, err := buildIn(t, dir, listener(extra))
		require.ErrorIs(t, err, agentgateway.ErrInvalidConfig, extra)
		require.ErrorContains(t, err, msg, extra)
	}
}
