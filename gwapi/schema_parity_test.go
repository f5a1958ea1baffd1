package gwapi_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// bothPaths translates manifests and serves Gateway infra/gw's port 8080 twice: from the runtime
// translation and from the schema document compiled by package config. The gateways' dials of
// "host:port" go to peers[host:port] when it is listed, to the address itself otherwise.
func bothPaths(t *testing.T, manifests string, peers map[string]string) (res *gwapi.Result, runtime, document http.Handler) {
	t.Helper()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if to, ok := peers[addr]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}
	snap, err := gwapi.DecodeManifests(strings.NewReader(manifests))
	require.NoError(t, err)
	res = gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", Logger: slog.New(slog.DiscardHandler), DialContext: dial})
	releaseTranslation(t, res)
	direct := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	t.Cleanup(func() { _ = direct.Close() })
	require.NoError(t, direct.Apply(res.Configs[types.NamespacedName{Namespace: "infra", Name: "gw"}]))

	rt, doc, err := compileDocument(res, dial)
	require.NoError(t, err, "%s", doc)
	t.Cleanup(func() { _ = rt.Close() })
	viaDoc := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	t.Cleanup(func() { _ = viaDoc.Close() })
	require.NoError(t, viaDoc.Apply(rt.Config))
	require.NotContains(t, string(doc), "cannot stack", "the document resolves what it renders")
	return res, direct.PortHandler(8080), viaDoc.PortHandler(8080)
}

// paths names the two handlers of bothPaths for a loop.
func paths(runtime, document http.Handler) map[string]http.Handler {
	return map[string]http.Handler{"runtime translation": runtime, "schema document": document}
}

// A local rate limit on a Gateway is one bucket for all its routes, and one on an HTTPRoute one for
// all the route's rules, through the document as in the translation: the third request of a
// two-request budget is refused whichever route or rule the first two took.
func TestSchemaDocumentSharesGatewayRateLimit(t *testing.T) {
	ip, port := namedEcho(t, "echo")
	_, runtime, document := bothPaths(t, agwGateway+`
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{name: echo, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /b}}]
    backendRefs: [{name: echo, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /c}}]
    backendRefs: [{name: echo, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: infra}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo, namespace: infra, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: http, port: `+port+`}]
endpoints: [{addresses: [`+ip+`]}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: gw-limit, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  traffic: {rateLimit: {local: [{requests: 2, unit: Hours}]}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: route-limit, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: b}]
  traffic: {rateLimit: {local: [{requests: 1, unit: Hours}]}}
`, nil)
	for name, h := range paths(runtime, document) {
		// Route b's own budget (1) is shared by its two rules: /c after /b is refused.
		require.Equal(t, 200, ask(t, h, "GET", "http://x/b").code, name)
		require.Equal(t, 429, ask(t, h, "GET", "http://x/c").code, "%s: route b's bucket is shared by its rules", name)
		// The Gateway's budget (2) took /b and the refused /c (the gateway's limit runs first).
		require.Equal(t, 429, ask(t, h, "GET", "http://x/a").code, "%s: the Gateway's bucket is shared by its routes", name)
	}
}

// A key set twice on a rule is resolved as the translation resolves it, not refused with 500: of
// two AgentgatewayPolicies on a route the oldest (by creationTimestamp, not by name) answers; a
// policy's cors answers a preflight before the rule's CORS filter; and of two backend.auth on one
// AgentgatewayBackend the oldest policy's key is sent.
func TestSchemaDocumentResolvesPolicyConflicts(t *testing.T) {
	ip, port := namedEcho(t, "echo")
	_, runtime, document := bothPaths(t, agwGateway+`
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: echo, namespace: infra}
spec: {static: {host: echo.infra, port: 80}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /direct}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: c, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /cors}}]
    filters:
    - type: CORS
      cors: {allowOrigins: ["https://filter.example"], allowMethods: [GET]}
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  - matches: [{path: {type: PathPrefix, value: /auth}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: a-newer, namespace: infra, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  traffic: {directResponse: {status: 202, body: newer}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: z-older, namespace: infra, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  traffic: {directResponse: {status: 201, body: older}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: cors, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: c}]
  traffic: {cors: {allowOrigins: ["https://policy.example"], allowMethods: [GET]}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: a-auth-newer, namespace: infra, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  backend: {auth: {key: newer}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: z-auth-older, namespace: infra, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  backend: {auth: {key: older}}
`, map[string]string{"echo.infra:80": net.JoinHostPort(ip, port)})
	for name, h := range paths(runtime, document) {
		require.Equal(t, 201, ask(t, h, "GET", "http://x/direct").code, "%s: the oldest policy's directResponse", name)
		pre := ask(t, h, "OPTIONS", "http://x/cors", "Origin", "https://policy.example", "Access-Control-Request-Method", "GET")
		require.Equal(t, "https://policy.example", pre.acao, "%s: the policy's cors answers the preflight", name)
		a := ask(t, h, "GET", "http://x/auth")
		require.Equal(t, 200, a.code, name)
		require.Equal(t, "Bearer older", a.auth, "%s: the oldest policy's backend.auth", name)
	}
}

// A backendRef's own filters add to the policies its backend brings (here an AgentgatewayPolicy's
// backend.auth) rather than replace them, through the document as in the translation.
func TestSchemaDocumentBackendFiltersKeepBackendPolicies(t *testing.T) {
	ip, port := namedEcho(t, "echo")
	_, runtime, document := bothPaths(t, agwGateway+`
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: echo, namespace: infra}
spec: {static: {host: echo.infra, port: 80}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs:
    - group: agentgateway.dev
      kind: AgentgatewayBackend
      name: echo
      filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-Set, value: v}]}}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: auth, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  backend: {auth: {key: k}}
`, map[string]string{"echo.infra:80": net.JoinHostPort(ip, port)})
	for name, h := range paths(runtime, document) {
		a := ask(t, h, "GET", "http://x/")
		require.Equal(t, 200, a.code, name)
		require.Equal(t, "v", a.xset, "%s: the backendRef's filter", name)
		require.Equal(t, "Bearer k", a.auth, "%s: the backend's policy", name)
	}
}
