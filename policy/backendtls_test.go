package policy_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

type pki struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	dir    string
}

func newPKI(t *testing.T) *pki {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	p := &pki{caCert: cert, caKey: key, dir: t.TempDir()}
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return p
}

// issue returns a leaf certificate, also written as name.pem / name-key.pem.
func (p *pki) issue(t *testing.T, name string, client bool, dns ...string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: dns,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}[:0], ExtKeyUsage: []x509.ExtKeyUsage{usage},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	require.NoError(t, err)
	kd, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// file returns the PEM written as name.
func (p *pki) file(name string) []byte {
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		panic(err)
	}
	return b
}

func TestBackendTLS(t *testing.T) {
	p := newPKI(t)
	serverCert := p.issue(t, "server", false, "backend.internal")
	p.issue(t, "client", true)
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "client="+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	upstream.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	upstream.StartTLS()
	defer upstream.Close()

	backend, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Endpoints: []string{upstream.URL}})
	require.NoError(t, err)
	defer backend.Close()

	call := func(pol agentgateway.Policy) *httptest.ResponseRecorder {
		return do(pol, backend, req("GET", "/"))
	}
	noop := agentgateway.PolicyFunc(func(h http.Handler) http.Handler { return h })
	assert.Equal(t, http.StatusBadGateway, call(noop).Code, "unknown CA without the policy")

	good, err := policy.NewBackendTLS(policy.BackendTLSConfig{Root: p.file("ca.pem"), Cert: p.file("client.pem"), Key: p.file("client-key.pem"), Hostname: "backend.internal"})
	require.NoError(t, err)
	defer good.Close()
	w := call(good)
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "client=client", w.Body.String(), "mTLS client certificate presented")

	noClient, err := policy.NewBackendTLS(policy.BackendTLSConfig{Root: p.file("ca.pem"), Hostname: "backend.internal"})
	require.NoError(t, err)
	defer noClient.Close()
	assert.Equal(t, http.StatusBadGateway, call(noClient).Code, "the server requires a client certificate")

	wrongName, err := policy.NewBackendTLS(policy.BackendTLSConfig{Root: p.file("ca.pem"), Cert: p.file("client.pem"), Key: p.file("client-key.pem"), Hostname: "other.internal"})
	require.NoError(t, err)
	defer wrongName.Close()
	assert.Equal(t, http.StatusBadGateway, call(wrongName).Code, "SNI/hostname verified")

	san, err := policy.NewBackendTLS(policy.BackendTLSConfig{Root: p.file("ca.pem"), Cert: p.file("client.pem"), Key: p.file("client-key.pem"), SubjectAltNames: []string{"backend.internal"}})
	require.NoError(t, err)
	defer san.Close()
	assert.Equal(t, 200, call(san).Code, "accepted SAN instead of the dialled host")

	var logs bytes.Buffer
	insecure, err := policy.NewBackendTLS(policy.BackendTLSConfig{Insecure: true, Cert: p.file("client.pem"), Key: p.file("client-key.pem"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	defer insecure.Close()
	assert.Equal(t, 200, call(insecure).Code)
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "INSECURE")

	for _, c := range []struct {
		field string
		spec  policy.BackendTLSConfig
	}{
		{"cert", policy.BackendTLSConfig{Cert: p.file("client.pem")}},
		{"root", policy.BackendTLSConfig{Root: []byte("not PEM")}},
		// A key that does not belong to the certificate is refused at the certificate.
		{"cert", policy.BackendTLSConfig{Cert: p.file("client.pem"), Key: p.file("ca.pem")}},
	} {
		_, err := policy.NewBackendTLS(c.spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, c.field)
		assert.Equal(t, c.field, ce.Path)
	}
}
