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
// translation and from the schema document compiled by package config. Every dial goes to upstream.
func bothPaths(t *testing.T, manifests, upstream string) (res *gwapi.Result, runtime, document http.Handler) {
	t.Helper()
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, upstream)
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
`, net.JoinHostPort(ip, port))
	for name, h := range paths(runtime, document) {
		// Route b's own budget (1) is shared by its two rules: /c after /b is refused.
		require.Equal(t, 200, ask(t, h, "GET", "http://x/b").code, name)
		require.Equal(t, 429, ask(t, h, "GET", "http://x/c").code, "%s: route b's bucket is shared by its rules", name)
		// The Gateway's budget (2) took /b and the refused /c (the gateway's limit runs first).
		require.Equal(t, 429, ask(t, h, "GET", "http://x/a").code, "%s: the Gateway's bucket is shared by its routes", name)
	}
}
