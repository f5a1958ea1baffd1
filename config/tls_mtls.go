package config

import (
	"crypto/tls"

	agentgateway "github.com/agentgw/agentgateway"
)

// Listener tls mtlsMode values. The schema's LocalTLSServerConfig has no field for how root is
// enforced; mtlsMode is our extension so that Gateway API's frontend validation mode
// AllowInsecureFallback survives the standalone document.
const (
	// MTLSStrict requires a client certificate that chains to root (the schema's meaning of root).
	MTLSStrict = "strict"
	// MTLSAllowInsecureFallback asks for a client certificate but completes the handshake without
	// one, or with one that does not verify: the backend decides.
	MTLSAllowInsecureFallback = "allowInsecureFallback"
)

// checkMTLSMode records a bad mtlsMode, or one set without root (it would enforce nothing).
func (l *loader) checkMTLSMode(t TLSSpec, path string) bool {
	switch t.MTLSMode {
	case "", MTLSStrict, MTLSAllowInsecureFallback:
	default:
		l.add(agentgateway.Errorf(path+".mtlsMode", "want %s or %s, got %q", MTLSStrict, MTLSAllowInsecureFallback, t.MTLSMode))
		return false
	}
	if t.MTLSMode != "" && t.Root == "" {
		l.add(agentgateway.Errorf(path+".mtlsMode", "needs root (the CA client certificates are checked against)"))
		return false
	}
	return true
}

// clientAuth is the handshake policy of a listener with root, by mtlsMode.
func clientAuth(mode string) tls.ClientAuthType {
	if mode == MTLSAllowInsecureFallback {
		return tls.RequestClientCert
	}
	return tls.RequireAndVerifyClientCert
}
