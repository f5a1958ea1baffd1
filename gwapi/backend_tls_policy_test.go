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
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	v1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// server issues a server certificate for host.
func (ca *testCA) server(t *testing.T, host string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// pemPair encodes a certificate and its key as a Secret's tls.crt and tls.key (base64, for data).
func pemPair(t *testing.T, c tls.Certificate) (string, string) {
	t.Helper()
	kd, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
		base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
}

// TestBackendTLSPolicyWithGatewayClientCertificate: a BackendTLSPolicy makes the connections to the
// Service it targets TLS, verified with its CA ConfigMap and hostname, and the Gateway presents its
// spec.tls.backend client certificate there (the backend requires one), in the runtime translation
// and in the schema document alike; the policy reports the Gateway as an accepted ancestor. A policy
// that cannot be honoured fails closed (500), never plain text; invalid client-certificate refs give
// the Gateway ResolvedRefs reasons Gateway API prescribes while it stays Accepted.
func TestBackendTLSPolicyWithGatewayClientCertificate(t *testing.T) {
	ca := newTestCA(t, "ca")
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "client="+r.TLS.PeerCertificates[0].Subject.CommonName+" sni="+r.TLS.ServerName)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{ca.server(t, "abc.example.com")}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	backend.StartTLS()
	defer backend.Close()
	_, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	crt, pk := pemPair(t, ca.client(t))
	caPEM := strconv.Quote(string(ca.pem))
	snap, err := gwapi.DecodeManifests(strings.NewReader(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Secret
metadata: {name: client, namespace: infra}
type: kubernetes.io/tls
data: {tls.crt: ` + crt + `, tls.key: ` + pk + `}
---
apiVersion: v1
kind: Secret
metadata: {name: empty, namespace: infra}
type: Opaque
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: infra}
data: {ca.crt: ` + caPEM + `}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: agw
  listeners: [{name: http, protocol: HTTP, port: 8080}]
  tls: {backend: {clientCertificateRef: {kind: Secret, group: "", name: client}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: missing, namespace: infra}
spec:
  gatewayClassName: agw
  listeners: [{name: http, protocol: HTTP, port: 8081}]
  tls: {backend: {clientCertificateRef: {name: nope}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: malformed, namespace: infra}
spec:
  gatewayClassName: agw
  listeners: [{name: http, protocol: HTTP, port: 8082}]
  tls: {backend: {clientCertificateRef: {name: empty}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: kind, namespace: infra}
spec:
  gatewayClassName: agw
  listeners: [{name: http, protocol: HTTP, port: 8083}]
  tls: {backend: {clientCertificateRef: {kind: ConfigMap, name: ca}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: grant, namespace: infra}
spec:
  gatewayClassName: agw
  listeners: [{name: http, protocol: HTTP, port: 8084}]
  tls: {backend: {clientCertificateRef: {name: client, namespace: other}}}
---
apiVersion: v1
kind: Service
metadata: {name: sec, namespace: infra}
spec: {ports: [{name: https, port: 443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: sec, namespace: infra, labels: {kubernetes.io/service-name: sec}}
addressType: IPv4
ports: [{name: https, port: ` + port + `}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: v1
kind: Service
metadata: {name: bad, namespace: infra}
spec: {ports: [{name: https, port: 443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bad, namespace: infra, labels: {kubernetes.io/service-name: bad}}
addressType: IPv4
ports: [{name: https, port: ` + port + `}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: sec, namespace: infra}
spec:
  targetRefs: [{group: "", kind: Service, name: sec}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: abc.example.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: bad, namespace: infra}
spec:
  targetRefs: [{group: "", kind: Service, name: bad}]
  validation: {caCertificateRefs: [{group: "", kind: Secret, name: client}], hostname: abc.example.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /sec}}]
    backendRefs: [{name: sec, port: 443}]
  - matches: [{path: {type: PathPrefix, value: /bad}}]
    backendRefs: [{name: bad, port: 443}]
`))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
	key := types.NamespacedName{Namespace: "infra", Name: "gw"}

	gwCond := func(name, typ string) v1.Condition {
		for _, c := range res.Gateways[types.NamespacedName{Namespace: "infra", Name: name}].Conditions {
			if c.Type == typ {
				return c
			}
		}
		return v1.Condition{}
	}
	require.Equal(t, "True/ResolvedRefs", string(gwCond("gw", "ResolvedRefs").Status)+"/"+gwCond("gw", "ResolvedRefs").Reason)
	for name, reason := range map[string]string{"missing": "InvalidClientCertificateRef", "malformed": "InvalidClientCertificateRef",
		"kind": "InvalidClientCertificateRef", "grant": "RefNotPermitted"} {
		c := gwCond(name, "ResolvedRefs")
		require.Equal(t, "False/"+reason, string(c.Status)+"/"+c.Reason, name)
		require.Equal(t, v1.ConditionTrue, gwCond(name, "Accepted").Status, "%s: the Gateway stays accepted", name)
	}
	anc := res.BackendTLSPolicies[types.NamespacedName{Namespace: "infra", Name: "sec"}]
	require.Len(t, anc, 1)
	require.Equal(t, "gw", string(anc[0].AncestorRef.Name))
	require.Equal(t, "Accepted", anc[0].Conditions[0].Type)
	require.Equal(t, v1.ConditionTrue, anc[0].Conditions[0].Status)
	bad := res.BackendTLSPolicies[types.NamespacedName{Namespace: "infra", Name: "bad"}]
	require.Len(t, bad, 1)
	require.Equal(t, "InvalidKind", bad[0].Conditions[1].Reason)

	serve := func(cfg agentgateway.Config) http.Handler {
		g := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
		t.Cleanup(func() { _ = g.Close() })
		require.NoError(t, g.Apply(cfg))
		return g.PortHandler(8080)
	}
	rt, doc, err := compileDocument(res, nil, key)
	require.NoError(t, err, string(doc))
	t.Cleanup(func() { _ = rt.Close() })
	for mode, h := range map[string]http.Handler{"runtime": serve(res.Configs[key]), "document": serve(rt.Config)} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://x/sec", nil))
		require.Equal(t, 200, rec.Code, "%s: %s", mode, rec.Body.String())
		require.Equal(t, "client=client sni=abc.example.com", rec.Body.String(), "%s: TLS with the policy's hostname, the Gateway's client certificate presented", mode)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://x/bad", nil))
		require.Equal(t, 500, rec.Code, "%s: an invalid BackendTLSPolicy fails closed", mode)
	}
}
