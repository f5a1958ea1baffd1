package config_test

import (
	"crypto/tls"
	"fmt"
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
