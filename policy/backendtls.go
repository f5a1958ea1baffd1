package policy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// BackendTLSConfig configures TLS to the backend (agentgateway's `backendTLS`). Key material is PEM,
// as read from files by the config package.
type BackendTLSConfig struct {
	// Cert and Key are the client certificate chain and private key (PEM) presented for mTLS; set both
	// or neither.
	Cert []byte
	Key  []byte
	// Root is a PEM bundle of CAs trusted for the backend certificate (default: the system roots).
	Root []byte
	// Hostname is the SNI and verification name (default: the request's host).
	Hostname string
	// Insecure skips certificate verification entirely. Never use it in production: anyone on the
	// path can impersonate the backend. It is logged loudly.
	Insecure bool
	// InsecureHost verifies the chain but not the name.
	InsecureHost bool
	// ALPN protocols offered (default h2 and http/1.1).
	ALPN []string
	// SubjectAltNames accepted in place of the hostname (DNS names or URIs such as spiffe://...).
	SubjectAltNames []string
	// Logger receives the insecure warning (default slog.Default()).
	Logger *slog.Logger
}

// BackendTLS is a compiled backend TLS policy: one *http.Transport whose connections are pooled
// across requests.
type BackendTLS struct {
	transport *http.Transport
}

// NewBackendTLS builds the transport; the key material is parsed here, once.
func NewBackendTLS(spec BackendTLSConfig) (*BackendTLS, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: spec.Hostname}
	if (len(spec.Cert) == 0) != (len(spec.Key) == 0) {
		return nil, agentgateway.Errorf("cert", "cert and key must be set together")
	}
	if len(spec.Cert) > 0 {
		pair, err := tls.X509KeyPair(spec.Cert, spec.Key)
		if err != nil {
			return nil, agentgateway.Errorf("cert", "%w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if len(spec.Root) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(spec.Root) {
			return nil, agentgateway.Errorf("root", "no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	cfg.NextProtos = spec.ALPN
	logger := spec.Logger
	if logger == nil {
		logger = slog.Default()
	}
	switch {
	case spec.Insecure:
		cfg.InsecureSkipVerify = true
		logger.Warn("backendTLS: INSECURE — backend certificates are NOT verified; any on-path attacker can impersonate the backend. Use only for testing.",
			"hostname", spec.Hostname)
	case spec.InsecureHost || len(spec.SubjectAltNames) > 0:
		// Verify the chain ourselves, then the name against the accepted SANs (or not at all).
		cfg.InsecureSkipVerify = true
		roots, sans, skipName := cfg.RootCAs, spec.SubjectAltNames, spec.InsecureHost
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs, roots, sans, skipName)
		}
		if spec.InsecureHost {
			logger.Warn("backendTLS: insecureHost — backend certificate names are not verified", "hostname", spec.Hostname)
		}
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg,
		ForceAttemptHTTP2:     len(spec.ALPN) == 0,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &BackendTLS{transport: t}, nil
}

func verifyChain(cs tls.ConnectionState, roots *x509.CertPool, sans []string, skipName bool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("backend presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		return err
	}
	if skipName {
		return nil
	}
	for _, san := range sans {
		if leaf.VerifyHostname(san) == nil {
			return nil
		}
		for _, u := range leaf.URIs {
			if u.String() == san {
				return nil
			}
		}
	}
	if len(sans) == 0 {
		return leaf.VerifyHostname(cs.ServerName)
	}
	return fmt.Errorf("backend certificate matches none of the accepted subjectAltNames %v", sans)
}

// Transport returns the transport (shared by all requests through the policy).
func (b *BackendTLS) Transport() *http.Transport { return b.transport }

// Phase is agentgateway.PhaseBackend.
func (*BackendTLS) Phase() agentgateway.Phase { return agentgateway.PhaseBackend }

// Wrap sends the request's upstream exchange through the policy's transport, over TLS whatever
// scheme the backend's address has: as in agentgateway, `backendTLS` on a `host: name:443` backend
// is what makes its connections TLS.
func (b *BackendTLS) Wrap(next http.Handler) http.Handler {
	rt := overTLS{b.transport}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(agentgateway.WithUpstreamTransport(r.Context(), rt)))
	})
}

// overTLS sends plain-HTTP upstream requests as HTTPS through the policy's transport.
type overTLS struct{ t *http.Transport }

func (o overTLS) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" {
		u := *r.URL
		u.Scheme = "https"
		r = r.WithContext(r.Context()) // a shallow copy, so the caller's request keeps its URL
		r.URL = &u
	}
	return o.t.RoundTrip(r)
}

// CloseIdleConnections closes the transport's idle connections (httputil and net/http look for it).
func (o overTLS) CloseIdleConnections() { o.t.CloseIdleConnections() }

// Close closes idle pooled connections.
func (b *BackendTLS) Close() error {
	b.transport.CloseIdleConnections()
	return nil
}
