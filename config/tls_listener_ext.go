package config

import (
	"crypto/tls"
	"fmt"

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

// CertKeySpec is one certificate and its key (a file, or the PEM itself).
type CertKeySpec struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// additionalCerts appends a listener's additionalCertificates to tc: Go's handshake serves the
// first certificate whose names match the client's SNI, and cert when none does. It is our
// extension: the schema's listener has one certificate, a Gateway API listener several.
func (l *loader) additionalCerts(tc *tls.Config, t TLSSpec, path string, read func(name, field string) []byte) bool {
	if len(t.AdditionalCertificates) == 0 {
		return true
	}
	if t.Mode == "dynamicCa" {
		l.add(agentgateway.Errorf(path+".additionalCertificates", "not with mode dynamicCa (its leaf certificates are minted per SNI)"))
		return false
	}
	ok := true
	for i, ck := range t.AdditionalCertificates {
		p := fmt.Sprintf("%s.additionalCertificates[%d]", path, i)
		if ck.Cert == "" || ck.Key == "" {
			l.add(agentgateway.Errorf(p, "cert and key are required"))
			ok = false
			continue
		}
		certPEM, keyPEM := read(ck.Cert, fmt.Sprintf("additionalCertificates[%d].cert", i)), read(ck.Key, fmt.Sprintf("additionalCertificates[%d].key", i))
		if certPEM == nil || keyPEM == nil {
			ok = false
			continue
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			l.add(agentgateway.Errorf(p, "loading certificate %s and key %s: %w", pemName(ck.Cert), pemName(ck.Key), err))
			ok = false
			continue
		}
		tc.Certificates = append(tc.Certificates, pair)
	}
	return ok
}
