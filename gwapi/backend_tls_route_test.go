package gwapi_test

import (
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// backend.tls on a Gateway or an HTTPRoute is accepted and applies to every backend behind it
// (AgentgatewayBackends and Services), verified with a ConfigMap's CA, through the runtime
// translation and the schema document alike; the route's tls is used over the Gateway's, and a
// backend's own backend.tls over both.
func TestBackendTLSOnGatewayAndRoute(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"pod": "tls=" + r.TLS.ServerName})
	}))
	t.Cleanup(up.Close)
	ca, err := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})))
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(up.Listener.Addr().String())
	res, runtime, document := bothPaths(t, agwGateway+`
---
apiVersion: v1
kind: ConfigMap
metadata: {name: upstream-ca, namespace: infra}
data: {ca.crt: `+string(ca)+`}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: plain, namespace: infra}
spec: {static: {host: 127.0.0.1, port: `+port+`}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: own, namespace: infra}
spec: {static: {host: 127.0.0.1, port: `+port+`}}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: infra}
spec: {ports: [{name: https, port: 443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc, namespace: infra, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
ports: [{name: https, port: `+port+`}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: g, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /g}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: plain}]
  - matches: [{path: {type: PathPrefix, value: /svc}}]
    backendRefs: [{name: svc, port: 443}]
  - matches: [{path: {type: PathPrefix, value: /own}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: own}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /r}}]
    backendRefs: [{name: svc, port: 443}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: gw-tls, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  backend: {tls: {caCertificateRefs: [{name: upstream-ca}], sni: example.com}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: route-tls, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  backend: {tls: {caCertificateRefs: [{name: upstream-ca}], sni: route.example, verifySubjectAltNames: [example.com]}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: own-tls, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: own}]
  backend: {tls: {caCertificateRefs: [{name: upstream-ca}], sni: own.example, verifySubjectAltNames: [example.com]}}
`, nil)
	requireAccepted(t, res, "gw-tls")
	requireAccepted(t, res, "route-tls")
	for name, h := range paths(runtime, document) {
		for path, want := range map[string]string{
			"/g":   "tls=example.com",   // the Gateway's tls, on an AgentgatewayBackend
			"/svc": "tls=example.com",   // and on a Service
			"/r":   "tls=route.example", // the route's over the Gateway's
			"/own": "tls=own.example",   // the backend's own over both
		} {
			a := ask(t, h, "GET", "http://x"+path)
			require.Equal(t, 200, a.code, "%s %s", name, path)
			require.Equal(t, want, a.pod, "%s %s", name, path)
		}
	}
}
