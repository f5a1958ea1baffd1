package agentgateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// ErrNoServerName is returned by [CertMinter.GetCertificate] for a ClientHello without SNI: there
// is no name to issue a certificate for.
var ErrNoServerName = errors.New("agentgateway: the client sent no server name")

// CertMinter issues a leaf certificate for each server name a client asks for, signed by an
// operator-supplied CA (agentgateway's `tls.mode: dynamicCa`): the way an egress proxy intercepts TLS
// for clients that trust that CA, so the decrypted requests go through routes and policies. Leaves
// are cached per name and renewed before they expire. Use it as a listener's
// tls.Config.GetCertificate.
type CertMinter struct {
	ca     *x509.Certificate
	caKey  any
	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// mintedValidity is how long a minted leaf is valid (bounded by the CA's own expiry).
const mintedValidity = 24 * time.Hour

// maxMinted bounds the cache: past it the cache starts over, so clients naming endless hosts cannot
// grow memory without bound.
const maxMinted = 4096

// NewCertMinter returns a minter that signs with ca, a CA certificate and its private key.
func NewCertMinter(ca tls.Certificate) (*CertMinter, error) {
	if len(ca.Certificate) == 0 || ca.PrivateKey == nil {
		return nil, errors.New("agentgateway: dynamic CA: no certificate or key")
	}
	leaf := ca.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(ca.Certificate[0]); err != nil {
			return nil, fmt.Errorf("agentgateway: dynamic CA: %w", err)
		}
	}
	if !leaf.IsCA || leaf.KeyUsage&x509.KeyUsageCertSign == 0 && leaf.KeyUsage != 0 {
		return nil, errors.New("agentgateway: dynamic CA: the certificate is not a CA that may sign certificates")
	}
	return &CertMinter{ca: leaf, caKey: ca.PrivateKey, leaves: map[string]*tls.Certificate{}}, nil
}

// GetCertificate returns the leaf for hello's server name, minting it on first use.
func (m *CertMinter) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := serverName(hello.ServerName)
	if name == "" {
		return nil, ErrNoServerName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.leaves[name]; ok && time.Until(c.Leaf.NotAfter) > mintedValidity/4 {
		return c, nil
	}
	c, err := m.mint(name)
	if err != nil {
		return nil, err
	}
	if len(m.leaves) >= maxMinted {
		m.leaves = map[string]*tls.Certificate{}
	}
	m.leaves[name] = c
	return c, nil
}

func (m *CertMinter) mint(name string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(mintedValidity)
	if m.ca.NotAfter.Before(notAfter) {
		notAfter = m.ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour), // tolerate clients with a slow clock
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.ca, &key.PublicKey, m.caKey)
	if err != nil {
		return nil, fmt.Errorf("agentgateway: dynamic CA: signing a certificate for %q: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, m.ca.Raw}, PrivateKey: key, Leaf: leaf}, nil
}
