package gwapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	v1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// testCA is a CA that signs client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// client issues a client certificate.
func (ca *testCA) client(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake runs a TLS handshake against a listener's server config and returns the server's verdict.
func handshake(server *tls.Config, cert *tls.Certificate) error {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	cc := &tls.Config{InsecureSkipVerify: true, ServerName: "example.org"} // what is checked is the client side
	if cert != nil {
		cc.Certificates = []tls.Certificate{*cert}
	}
	go func() { _ = tls.Client(c, cc).Handshake(); c.Close() }()
	return tls.Server(s, server).Handshake()
}

func indent(s []byte, n int) string {
	return strings.ReplaceAll(strings.TrimSpace(string(s)), "\n", "\n"+strings.Repeat(" ", n))
}

// TestFrontendClientCertificateValidation: Gateway spec.tls.frontend makes HTTPS listeners check
// client certificates, in the runtime translation and in the schema document alike: the default
// (AllowValidOnly) admits only certificates from its CA ConfigMap, a perPort AllowInsecureFallback
// admits any client and marks the Gateway InsecureFrontendValidationMode, and a port whose CA refs
// all fail is not served, with the listener reasons Gateway API prescribes for each failure.
func TestFrontendClientCertificateValidation(t *testing.T) {
	ca, other := newTestCA(t, "ca"), newTestCA(t, "other")
	srvCert, srvKey := selfSigned(t, "example.org")
	manifests := fmt.Sprintf(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: v1
kind: Secret
metadata: {name: srv, namespace: infra}
type: kubernetes.io/tls
data: {tls.crt: %s, tls.key: %s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: infra}
data:
  ca.crt: |
    %s
---
apiVersion: v1
kind: ConfigMap
metadata: {name: elsewhere, namespace: apps}
data:
  ca.crt: |
    %s
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: agw
  tls:
    frontend:
      default: {validation: {caCertificateRefs: [{kind: ConfigMap, group: "", name: ca}]}}
      perPort:
      - {port: 9443, tls: {validation: {mode: AllowInsecureFallback, caCertificateRefs: [{kind: ConfigMap, group: "", name: ca}]}}}
      - {port: 7443, tls: {validation: {caCertificateRefs: [{kind: ConfigMap, group: "", name: missing}]}}}
      - {port: 6443, tls: {validation: {caCertificateRefs: [{kind: Secret, group: "", name: srv}]}}}
      - {port: 5443, tls: {validation: {caCertificateRefs: [{kind: ConfigMap, group: "", name: elsewhere, namespace: apps}]}}}
  listeners:
  - {name: strict, protocol: HTTPS, port: 8443, tls: {certificateRefs: [{name: srv}]}}
  - {name: fallback, protocol: HTTPS, port: 9443, tls: {certificateRefs: [{name: srv}]}}
  - {name: missing, protocol: HTTPS, port: 7443, tls: {certificateRefs: [{name: srv}]}}
  - {name: kind, protocol: HTTPS, port: 6443, tls: {certificateRefs: [{name: srv}]}}
  - {name: grant, protocol: HTTPS, port: 5443, tls: {certificateRefs: [{name: srv}]}}
  - {name: plain, protocol: HTTP, port: 8080}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
`, base64.StdEncoding.EncodeToString(srvCert), base64.StdEncoding.EncodeToString(srvKey), indent(ca.pem, 4), indent(other.pem, 4))
	snap, err := gwapi.DecodeManifests(strings.NewReader(base + "---\n" + manifests))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
	key := types.NamespacedName{Namespace: "infra", Name: "gw"}
	st := res.Gateways[key]

	insecure := false
	for _, c := range st.Conditions {
		if c.Type == "InsecureFrontendValidationMode" {
			insecure = c.Status == v1.ConditionTrue && c.Reason == "ConfigurationChanged"
		}
	}
	require.True(t, insecure, "AllowInsecureFallback on a port sets InsecureFrontendValidationMode: %v", st.Conditions)
	want := map[string][3]string{ // ResolvedRefs, Accepted, Programmed reasons ("" when True)
		"strict": {"", "", ""}, "fallback": {"", "", ""}, "plain": {"", "", ""},
		"missing": {"InvalidCACertificateRef", "NoValidCACertificate", "Invalid"},
		"kind":    {"InvalidCACertificateKind", "NoValidCACertificate", "Invalid"},
		"grant":   {"RefNotPermitted", "NoValidCACertificate", "Invalid"},
	}
	for _, l := range st.Listeners {
		got := [3]string{}
		for _, c := range l.Conditions {
			for i, typ := range []string{"ResolvedRefs", "Accepted", "Programmed"} {
				if c.Type == typ && c.Status == v1.ConditionFalse {
					got[i] = c.Reason
				}
			}
		}
		require.Equal(t, want[string(l.Name)], got, "listener %s: %v", l.Name, l.Conditions)
	}

	rt, doc, err := compileDocument(res, nil)
	require.NoError(t, err, string(doc))
	defer rt.Close()
	good, bad := ca.client(t), other.client(t)
	for mode, ls := range map[string][]agentgateway.ListenerConfig{"runtime": res.Configs[key].Listeners, "document": rt.Config.Listeners} {
		byPort := map[int]*tls.Config{}
		for _, l := range ls {
			byPort[l.Port] = l.TLS
		}
		require.Len(t, byPort, 3, "%s: the listeners whose CA refs all fail are not served", mode)
		strict, fallback := byPort[8443], byPort[9443]
		require.NoError(t, handshake(strict, &good), "%s: AllowValidOnly admits a certificate from the CA", mode)
		require.Error(t, handshake(strict, &bad), "%s: AllowValidOnly refuses a certificate from another CA", mode)
		require.Error(t, handshake(strict, nil), "%s: AllowValidOnly refuses a client without a certificate", mode)
		for _, c := range []*tls.Certificate{&good, &bad, nil} {
			require.NoError(t, handshake(fallback, c), "%s: AllowInsecureFallback admits any client", mode)
		}
	}
}
