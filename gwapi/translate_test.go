package gwapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	v1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

const base = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: agw
  listeners:
  - {name: http, protocol: HTTP, port: 8080, hostname: "*.example.com"}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: infra}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo, namespace: infra, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: http, port: 3000}]
endpoints: [{addresses: [10.1.1.1]}]
---
apiVersion: v1
kind: Namespace
metadata: {name: apps}
`

// upstream answers with the request it saw; every backend dial lands on it.
func upstream(t *testing.T) func(ctx context.Context, network, addr string) (net.Conn, error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.RequestURI(), "host": r.Host, "headers": r.Header})
	}))
	t.Cleanup(srv.Close)
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
}

func translate(t *testing.T, manifests string) (*gwapi.Result, func(*http.Request) *http.Response) {
	t.Helper()
	snap, err := gwapi.DecodeManifests(strings.NewReader(manifests))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", DialContext: upstream(t)})
	gw := agentgateway.New()
	t.Cleanup(func() { _ = gw.Close() })
	cfg, ok := res.Configs[types.NamespacedName{Namespace: "infra", Name: "gw"}]
	require.True(t, ok)
	require.NoError(t, gw.Apply(cfg))
	h := gw.PortHandler(8080)
	return res, func(r *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Result()
	}
}

func routeCond(t *testing.T, res *gwapi.Result, ns, name, typ string) v1.Condition {
	t.Helper()
	ps := res.HTTPRoutes[types.NamespacedName{Namespace: ns, Name: name}]
	require.Len(t, ps, 1, "parents of %s/%s", ns, name)
	require.Equal(t, gwv1.Group(gwv1.GroupName), *ps[0].ParentRef.Group, "status parentRef must carry the defaulted group")
	require.Equal(t, gwv1.Kind("Gateway"), *ps[0].ParentRef.Kind)
	for _, c := range ps[0].Conditions {
		if c.Type == typ {
			return c
		}
	}
	t.Fatalf("no %s condition", typ)
	return v1.Condition{}
}

// An unmatched HEAD gets a 404 whose content type does not promise a JSON body it cannot carry
// (the conformance client, like many, parses application/json answers).
func TestUnmatchedRequestIs404PlainText(t *testing.T) {
	_, do := translate(t, base+`
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{method: GET}]
    backendRefs: [{name: echo, port: 80}]
`)
	resp := do(httptest.NewRequest(http.MethodHead, "http://a.example.com/", nil))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"), resp.Header.Get("Content-Type"))
	resp = do(httptest.NewRequest(http.MethodGet, "http://a.example.com/x", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// An allowed CORS preflight lists the exposed headers too, as Gateway API's CORS filter requires.
func TestCORSPreflightListsExposedHeaders(t *testing.T) {
	_, do := translate(t, base+`
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - filters:
    - type: CORS
      cors: {allowOrigins: ["https://app.example.com"], allowMethods: [GET], exposeHeaders: [x-trace]}
    backendRefs: [{name: echo, port: 80}]
`)
	req := httptest.NewRequest(http.MethodOptions, "http://a.example.com/", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp := do(req)
	require.Equal(t, "https://app.example.com", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "x-trace", resp.Header.Get("Access-Control-Expose-Headers"))
	require.Equal(t, "5", resp.Header.Get("Access-Control-Max-Age"), "the CRD's default max age")
}

// Route status reasons, as the conformance suite and kubectl users read them.
func TestRouteStatusReasons(t *testing.T) {
	res, do := translate(t, base+`
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: other-ns, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bad-section, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: nope}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bad-host, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  hostnames: [other.org]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: missing, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  hostnames: [missing.example.com]
  rules: [{backendRefs: [{name: nothere, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: kind, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  hostnames: [kind.example.com]
  rules: [{backendRefs: [{group: example.com, kind: Bucket, name: b}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cross, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  hostnames: [cross.example.com]
  rules: [{backendRefs: [{name: echo, namespace: apps, port: 80}]}]
`)
	for _, tc := range []struct{ name, typ, status, reason string }{
		{"other-ns", "Accepted", "False", "NotAllowedByListeners"},
		{"bad-section", "Accepted", "False", "NoMatchingParent"},
		{"bad-host", "Accepted", "False", "NoMatchingListenerHostname"},
		{"missing", "ResolvedRefs", "False", "BackendNotFound"},
		{"kind", "ResolvedRefs", "False", "InvalidKind"},
		{"cross", "ResolvedRefs", "False", "RefNotPermitted"},
		{"cross", "Accepted", "True", "Accepted"},
	} {
		ns := "infra"
		if tc.name == "other-ns" {
			ns = "apps"
		}
		c := routeCond(t, res, ns, tc.name, tc.typ)
		require.Equal(t, tc.status, string(c.Status), tc.name)
		require.Equal(t, tc.reason, c.Reason, tc.name)
	}
	// Invalid backends answer 500 rather than falling through to another route.
	for _, host := range []string{"missing.example.com", "kind.example.com", "cross.example.com"} {
		require.Equal(t, http.StatusInternalServerError, do(httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)).StatusCode, host)
	}
	gs := res.Gateways[types.NamespacedName{Namespace: "infra", Name: "gw"}]
	require.Len(t, gs.Listeners, 1)
	require.Equal(t, int32(3), gs.Listeners[0].AttachedRoutes, "missing, kind and cross attach; the rejected ones do not")
}

// A redirect that names neither port nor scheme keeps the listener's port; one that changes the
// scheme uses the new scheme's well-known port.
func TestRedirectPortFollowsListener(t *testing.T) {
	_, do := translate(t, base+`
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /host}}]
    filters: [{type: RequestRedirect, requestRedirect: {hostname: b.example.com}}]
  - matches: [{path: {type: PathPrefix, value: /scheme}}]
    filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]
`)
	resp := do(httptest.NewRequest(http.MethodGet, "http://a.example.com/host", nil))
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "http://b.example.com:8080/host", resp.Header.Get("Location"))
	resp = do(httptest.NewRequest(http.MethodGet, "http://a.example.com/scheme", nil))
	require.Equal(t, "https://a.example.com/scheme", resp.Header.Get("Location"))
}

func TestDecodeManifestsRejectsUnknownKinds(t *testing.T) {
	_, err := gwapi.DecodeManifests(strings.NewReader("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"))
	require.ErrorIs(t, err, gwapi.ErrDecode)
	require.ErrorIs(t, err, gwapi.ErrUnsupported)
	_, err = gwapi.DecodeManifests(strings.NewReader("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {bogus: 1}\n"))
	require.ErrorIs(t, err, gwapi.ErrDecode, "unknown fields are errors, not silently dropped")
}

// The example in examples/gatewayapi is translated and served: Gateway + HTTPRoute + Service.
func TestExampleManifestServes(t *testing.T) {
	f, err := os.Open("../examples/gatewayapi/gateway.yaml")
	require.NoError(t, err)
	defer f.Close()
	snap, err := gwapi.DecodeManifests(f)
	require.NoError(t, err)
	var dialed string
	dial := upstream(t)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi",
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = addr
			return dial(ctx, network, addr)
		}})
	require.Equal(t, "True", string(res.GatewayClasses["agentgateway"].Conditions[0].Status))
	key := types.NamespacedName{Namespace: "demo", Name: "web"}
	gw := agentgateway.New()
	defer gw.Close()
	require.NoError(t, gw.Apply(res.Configs[key]))
	rec := httptest.NewRecorder()
	gw.PortHandler(8080).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://echo.example.com/api/v1?q=1", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var got struct {
		Path    string
		Headers http.Header
	}
	body, _ := io.ReadAll(rec.Body)
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, "/api/v1?q=1", got.Path)
	require.Equal(t, "agentgateway", got.Headers.Get("X-Gateway"))
	require.Equal(t, "10.0.0.7:8000", dialed, "the EndpointSlice's endpoint and port")
	rec = httptest.NewRecorder()
	gw.PortHandler(8080).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://other.example.com/api", nil))
	require.Equal(t, http.StatusNotFound, rec.Code, "the route's hostname restricts it")
}

// A listener whose certificate does not resolve still counts the routes attached to it but serves
// nothing; a Gateway without a valid listener is not accepted.
func TestListenerStatusWithUnresolvedRefs(t *testing.T) {
	snap, err := gwapi.DecodeManifests(strings.NewReader(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: tls, namespace: infra}
spec:
  gatewayClassName: agw
  listeners:
  - {name: https, protocol: HTTPS, port: 443, tls: {certificateRefs: [{name: missing}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: udp, namespace: infra}
spec:
  gatewayClassName: agw
  listeners:
  - {name: u, protocol: UDP, port: 53}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: tls}]
`))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
	st := res.Gateways[types.NamespacedName{Namespace: "infra", Name: "tls"}]
	require.Len(t, st.Listeners, 1)
	require.Equal(t, int32(1), st.Listeners[0].AttachedRoutes)
	conds := map[string]v1.Condition{}
	for _, c := range st.Listeners[0].Conditions {
		conds[c.Type] = c
	}
	require.Equal(t, v1.ConditionFalse, conds["ResolvedRefs"].Status)
	require.Equal(t, "InvalidCertificateRef", conds["ResolvedRefs"].Reason)
	require.Equal(t, v1.ConditionFalse, conds["Programmed"].Status)
	require.Empty(t, res.Configs[types.NamespacedName{Namespace: "infra", Name: "tls"}].Listeners, "nothing is served without a certificate")

	udp := res.Gateways[types.NamespacedName{Namespace: "infra", Name: "udp"}]
	require.Equal(t, v1.ConditionFalse, udp.Conditions[0].Status)
	require.Equal(t, "ListenersNotValid", udp.Conditions[0].Reason)
	require.Equal(t, "UnsupportedProtocol", udp.Listeners[0].Conditions[0].Reason)
}
