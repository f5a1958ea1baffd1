package gwapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// serverFor issues a server certificate for several DNS names.
func (ca *testCA) serverFor(t *testing.T, hosts ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestBackendTLSPolicyConflictsAndPorts: of two BackendTLSPolicies on the same target the older is
// Accepted and the newer Accepted=False/Conflicted (GEP-713); a policy on one port (sectionName) and
// one on the whole Service do not conflict, and each port's connections use its own policy, in the
// runtime translation and in the schema document alike, although both ports reach the same endpoint.
func TestBackendTLSPolicyConflictsAndPorts(t *testing.T) {
	ca := newTestCA(t, "ca")
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "sni="+r.TLS.ServerName)
	}))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverFor(t, "abc.example.com", "other.example.com")}}
	backend.StartTLS()
	defer backend.Close()
	_, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	caPEM := strconv.Quote(string(ca.pem))
	policy := func(name, svc, section, host string, created int) string {
		sec := ""
		if section != "" {
			sec = ", sectionName: " + section
		}
		return `
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: ` + name + `, namespace: infra, creationTimestamp: "2026-01-01T00:00:0` + strconv.Itoa(created) + `Z"}
spec:
  targetRefs: [{group: "", kind: Service, name: ` + svc + sec + `}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: ` + host + `}`
	}
	svc := func(name string) string {
		return `
---
apiVersion: v1
kind: Service
metadata: {name: ` + name + `, namespace: infra}
spec: {ports: [{name: https-1, port: 443}, {name: https-2, port: 8443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ` + name + `, namespace: infra, labels: {kubernetes.io/service-name: ` + name + `}}
addressType: IPv4
ports: [{name: https-1, port: ` + port + `}, {name: https-2, port: ` + port + `}]
endpoints: [{addresses: [127.0.0.1]}]`
	}
	snap, err := gwapi.DecodeManifests(strings.NewReader(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
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
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: Exact, value: /whole}}]
    backendRefs: [{name: whole, port: 443}]
  - matches: [{path: {type: Exact, value: /section}}]
    backendRefs: [{name: section, port: 443}]
  - matches: [{path: {type: Exact, value: /mixed-443}}]
    backendRefs: [{name: mixed, port: 443}]
  - matches: [{path: {type: Exact, value: /mixed-8443}}]
    backendRefs: [{name: mixed, port: 8443}]` +
		svc("whole") + svc("section") + svc("mixed") +
		// The newer of each pair is listed first: age decides, not order.
		policy("whole-2", "whole", "", "abc.example.com", 2) + policy("whole-1", "whole", "", "other.example.com", 1) +
		policy("section-2", "section", "https-1", "abc.example.com", 2) + policy("section-1", "section", "https-1", "other.example.com", 1) +
		policy("mixed-port", "mixed", "https-1", "other.example.com", 1) + policy("mixed-svc", "mixed", "", "abc.example.com", 2)))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
	key := types.NamespacedName{Namespace: "infra", Name: "gw"}

	accepted := func(name string) string {
		anc := res.BackendTLSPolicies[types.NamespacedName{Namespace: "infra", Name: name}]
		require.Len(t, anc, 1, name)
		require.Equal(t, "gw", string(anc[0].AncestorRef.Name), name)
		for _, c := range anc[0].Conditions {
			if c.Type == "Accepted" {
				return string(c.Status) + "/" + c.Reason
			}
		}
		return ""
	}
	for name, want := range map[string]string{"whole-1": "True/Accepted", "whole-2": "False/Conflicted",
		"section-1": "True/Accepted", "section-2": "False/Conflicted", "mixed-port": "True/Accepted", "mixed-svc": "True/Accepted"} {
		require.Equal(t, want, accepted(name), name)
	}

	serve := func(cfg agentgateway.Config) http.Handler {
		g := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
		t.Cleanup(func() { _ = g.Close() })
		require.NoError(t, g.Apply(cfg))
		return g.PortHandler(8080)
	}
	// Both ports of a Service reach the backend's one port: a dial anywhere else is a wrong endpoint.
	var (
		mu     sync.Mutex
		dialed = map[string]bool{}
	)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed[addr] = true
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	rt, doc, err := compileDocument(res, dial, key)
	require.NoError(t, err, string(doc))
	t.Cleanup(func() { _ = rt.Close() })
	for mode, h := range map[string]http.Handler{"runtime": serve(res.Configs[key]), "document": serve(rt.Config)} {
		for path, sni := range map[string]string{"/whole": "other.example.com", "/section": "other.example.com",
			"/mixed-443": "other.example.com", "/mixed-8443": "abc.example.com"} {
			for range 4 { // every endpoint the load balancer may pick
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "http://x"+path, nil))
				require.Equal(t, 200, rec.Code, "%s %s: %s", mode, path, rec.Body.String())
				require.Equal(t, "sni="+sni, rec.Body.String(), "%s %s: the winning policy's hostname", mode, path)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string]bool{backend.Listener.Addr().String(): true}, dialed, "the document's endpoints of each Service port")
}

// TestBackendTLSPolicyStatusWhenNotInForce: a BackendTLSPolicy on a Service whose port an
// AgentgatewayPolicy's backend.tls also sets is not in force (the AgentgatewayPolicy wins), and says
// so: Accepted=False/Conflicted naming the AgentgatewayPolicy, not Accepted. A policy on a Service
// without endpoints is still reported, for the Gateway whose route reaches it.
func TestBackendTLSPolicyStatusWhenNotInForce(t *testing.T) {
	ca := newTestCA(t, "ca")
	snap, err := gwapi.DecodeManifests(strings.NewReader(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: infra}
data: {ca.crt: ` + strconv.Quote(string(ca.pem)) + `}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: agw
  listeners: [{name: http, protocol: HTTP, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: Exact, value: /both}}]
    backendRefs: [{name: both, port: 443}]
  - matches: [{path: {type: Exact, value: /empty}}]
    backendRefs: [{name: empty, port: 443}]
---
apiVersion: v1
kind: Service
metadata: {name: both, namespace: infra}
spec: {ports: [{name: https, port: 443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: both, namespace: infra, labels: {kubernetes.io/service-name: both}}
addressType: IPv4
ports: [{name: https, port: 8443}]
endpoints: [{addresses: [10.0.0.1]}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: infra}
spec: {ports: [{name: https, port: 443}]}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: agw-tls, namespace: infra}
spec:
  targetRefs: [{group: "", kind: Service, name: both}]
  backend:
    tls: {caCertificateRefs: [{name: ca}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: both, namespace: infra}
spec:
  targetRefs: [{group: "", kind: Service, name: both}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: abc.example.com}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: empty, namespace: infra, generation: 3}
spec:
  targetRefs: [{group: "", kind: Service, name: empty, sectionName: https}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: abc.example.com}
`))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})

	both := res.BackendTLSPolicies[types.NamespacedName{Namespace: "infra", Name: "both"}]
	require.Len(t, both, 1)
	acc := both[0].Conditions[0]
	require.Equal(t, "Accepted", acc.Type)
	require.Equal(t, "False/Conflicted", string(acc.Status)+"/"+acc.Reason)
	require.Contains(t, acc.Message, "AgentgatewayPolicy infra/agw-tls")

	empty := res.BackendTLSPolicies[types.NamespacedName{Namespace: "infra", Name: "empty"}]
	require.Len(t, empty, 1, "the route's Gateway is an ancestor though the Service has no endpoints")
	require.Equal(t, "gw", string(empty[0].AncestorRef.Name))
	require.Equal(t, "True/Accepted", string(empty[0].Conditions[0].Status)+"/"+empty[0].Conditions[0].Reason)
	require.Equal(t, int64(3), empty[0].Conditions[0].ObservedGeneration)
}
