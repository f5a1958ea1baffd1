package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// writeCert writes a self-signed certificate for name and its key into dir as name.crt and name.key.
func writeCert(t *testing.T, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
}

func buildIn(t *testing.T, dir, yaml string) (*config.Runtime, error) {
	t.Helper()
	f, err := config.Load([]byte(yaml), nil)
	require.NoError(t, err)
	f.SetDir(dir)
	return f.Build(slog.New(slog.DiscardHandler))
}

func TestHTTPSListenersCarryTheirTLS(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "a.example.com")
	writeCert(t, dir, "b.example.com")
	writeCert(t, dir, "clients")
	rt, err := buildIn(t, dir, `
binds:
- port: 8443
  listeners:
  - name: a
    hostname: a.example.com
    protocol: HTTPS
    tls: {cert: a.example.com.crt, key: a.example.com.key}
    routes: [{policies: {directResponse: {status: 200, body: a}}}]
  - name: b
    hostname: b.example.com
    protocol: HTTPS
    tls: {cert: b.example.com.crt, key: b.example.com.key, root: clients.crt}
    routes: [{policies: {directResponse: {status: 200, body: b}}}]
`)
	require.NoError(t, err)
	defer rt.Close()
	ls := rt.Config.Listeners
	require.Len(t, ls, 2)
	leaf := func(c *tls.Config) string {
		x, err := x509.ParseCertificate(c.Certificates[0].Certificate[0])
		require.NoError(t, err)
		return x.Subject.CommonName
	}
	require.Equal(t, "a.example.com", leaf(ls[0].TLS))
	require.Equal(t, tls.NoClientCert, ls[0].TLS.ClientAuth)
	require.Equal(t, "b.example.com", leaf(ls[1].TLS))
	require.Equal(t, tls.RequireAndVerifyClientCert, ls[1].TLS.ClientAuth, "root: mutual TLS")
	require.Equal(t, []string{"h2", "http/1.1"}, ls[0].TLS.NextProtos)
}

func TestTLSErrorsNameFieldPaths(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "a")
	writeCert(t, dir, "b")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not pem"), 0o600))
	listener := func(tlsSpec string) string {
		return fmt.Sprintf(`
binds:
- port: 8443
  listeners:
  - protocol: HTTPS
    tls: %s
    routes: [{policies: {directResponse: {status: 200}}}]`, tlsSpec)
	}
	cases := map[string]struct{ yaml, want string }{
		"missing cert":   {listener("{cert: nope.crt, key: a.key}"), "binds[0].listeners[0].tls.cert: open "},
		"missing key":    {listener("{cert: a.crt, key: nope.key}"), "binds[0].listeners[0].tls.key: open "},
		"key mismatch":   {listener("{cert: a.crt, key: b.key}"), "binds[0].listeners[0].tls: loading certificate a.crt and key b.key"},
		"junk cert":      {listener("{cert: junk.pem, key: a.key}"), "binds[0].listeners[0].tls: loading certificate"},
		"junk client CA": {listener("{cert: a.crt, key: a.key, root: junk.pem}"), "binds[0].listeners[0].tls.root: junk.pem holds no PEM certificates"},
		"plain and TLS on one port": {`
binds:
- port: 8443
  listeners:
  - protocol: HTTPS
    hostname: a
    tls: {cert: a.crt, key: a.key}
    routes: [{policies: {directResponse: {status: 200}}}]
  - protocol: HTTP
    hostname: b
    routes: [{policies: {directResponse: {status: 200}}}]`, "binds[0].listeners[1].tls: port 8443 mixes plain and TLS listeners"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := buildIn(t, dir, c.yaml)
			require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestTLSFileThatNeverEndsIsAnError(t *testing.T) {
	_, err := buildIn(t, t.TempDir(), `
binds:
- port: 8443
  listeners:
  - protocol: HTTPS
    tls: {cert: /dev/zero, key: /dev/zero}
    routes: [{policies: {directResponse: {status: 200}}}]`)
	require.ErrorContains(t, err, "binds[0].listeners[0].tls.cert: /dev/zero: larger than")
}
