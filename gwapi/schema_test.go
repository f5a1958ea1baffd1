package gwapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/gwapi"
	"github.com/agentgw/agentgateway/xds"
)

// namedEcho answers with its name and the request it saw.
func namedEcho(t *testing.T, name string) (ip, port string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"pod": name, "path": r.URL.RequestURI(), "host": r.Host, "headers": r.Header})
	}))
	t.Cleanup(srv.Close)
	ip, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return ip, port
}

// schemaManifests: a Gateway on 8080, two Services whose EndpointSlices name real loopback pods, and
// an HTTPRoute exercising what the schema document carries.
func schemaManifests(t *testing.T) string {
	ip, pa := namedEcho(t, "a")
	_, pb := namedEcho(t, "b")
	r := strings.NewReplacer("$IP", ip, "$PA", pa, "$PB", pb)
	return r.Replace(`
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
metadata: {name: a, namespace: infra}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: a, namespace: infra, labels: {kubernetes.io/service-name: a}}
addressType: IPv4
ports: [{name: http, port: $PA}]
endpoints: [{addresses: [$IP]}]
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: infra}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: b, namespace: infra, labels: {kubernetes.io/service-name: b}}
addressType: IPv4
ports: [{name: http, port: $PB}]
endpoints: [{addresses: [$IP]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  hostnames: [api.example.com]
  rules:
  - matches: [{path: {type: Exact, value: /exact}}]
    backendRefs: [{name: a, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /b}, headers: [{name: x-env, value: canary}]}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-set, value: "1"}], remove: [x-drop]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {add: [{name: x-resp, value: "yes"}]}
    backendRefs: [{name: b, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /q}, queryParams: [{name: v, value: "2"}], method: POST}]
    backendRefs: [{name: b, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
    backendRefs: [{name: a, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /moved}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {hostname: other.example.com, statusCode: 301}
  - matches: [{path: {type: PathPrefix, value: /mirror}}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: b, port: 80}}
    backendRefs: [{name: a, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /missing}}]
    backendRefs: [{name: nope, port: 80}]
  - backendRefs: [{name: a, port: 80}]
`)
}

type answer struct {
	code     int
	pod      string
	path     string
	location string
	xset     string
	xdrop    bool
	xresp    string
}

func ask(t *testing.T, h http.Handler, method, target string, hdr ...string) answer {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{code: rec.Code, location: rec.Header().Get("Location"), xresp: rec.Header().Get("X-Resp")}
	var body struct {
		Pod     string      `json:"pod"`
		Path    string      `json:"path"`
		Headers http.Header `json:"headers"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &body) == nil {
		a.pod, a.path, a.xset, a.xdrop = body.Pod, body.Path, body.Headers.Get("X-Set"), body.Headers.Get("X-Drop") != ""
	}
	return a
}

// probes are requests whose answers the runtime translation and the schema document must agree on.
var probes = []struct {
	method, target string
	hdr            []string
	want           answer
}{
	{"GET", "http://api.example.com/exact", nil, answer{code: 200, pod: "a", path: "/exact"}},
	{"GET", "http://api.example.com/exact/more", nil, answer{code: 200, pod: "a", path: "/exact/more"}}, // the catch-all rule
	{"GET", "http://api.example.com/b/x", []string{"x-env", "canary", "x-drop", "1"}, answer{code: 200, pod: "b", path: "/b/x", xset: "1", xresp: "yes"}},
	{"GET", "http://api.example.com/b/x", nil, answer{code: 200, pod: "a", path: "/b/x"}},
	{"POST", "http://api.example.com/q?v=2", nil, answer{code: 200, pod: "b", path: "/q?v=2"}},
	{"GET", "http://api.example.com/q?v=2", nil, answer{code: 200, pod: "a", path: "/q?v=2"}},
	{"GET", "http://api.example.com/old/x", nil, answer{code: 200, pod: "a", path: "/new/x"}},
	{"GET", "http://api.example.com/moved/x", nil, answer{code: 301, location: "http://other.example.com:8080/moved/x"}},
	{"GET", "http://api.example.com/missing", nil, answer{code: 500}},
	{"GET", "http://other.example.com/exact", nil, answer{code: 404}},
}

// The schema document (what --xds-serve serves) compiles with package config into a gateway that
// answers like the runtime translation, rule for rule; a filter it cannot carry (RequestMirror)
// fails closed with 500 instead of being dropped.
func TestSchemaDocumentServesLikeTheTranslation(t *testing.T) {
	snap, err := gwapi.DecodeManifests(strings.NewReader(schemaManifests(t)))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
	direct := agentgateway.New()
	t.Cleanup(func() { _ = direct.Close() })
	require.NoError(t, direct.Apply(res.Configs[types.NamespacedName{Namespace: "infra", Name: "gw"}]))

	doc, err := gwapi.SchemaDocument(res)
	require.NoError(t, err)
	f, err := config.Load(doc, nil)
	require.NoError(t, err, "%s", doc)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err, "%s", doc)
	t.Cleanup(func() { _ = rt.Close() })
	viaSchema := agentgateway.New()
	t.Cleanup(func() { _ = viaSchema.Close() })
	require.NoError(t, viaSchema.Apply(rt.Config))

	for _, p := range probes {
		want := ask(t, direct.PortHandler(8080), p.method, p.target, p.hdr...)
		require.Equal(t, p.want, want, "runtime translation: %s %s", p.method, p.target)
		got := ask(t, viaSchema.PortHandler(8080), p.method, p.target, p.hdr...)
		assert.Equal(t, want, got, "schema document: %s %s", p.method, p.target)
	}
	mirror := ask(t, viaSchema.PortHandler(8080), "GET", "http://api.example.com/mirror")
	assert.Equal(t, 500, mirror.code, "a filter the document cannot carry fails closed")
}

type nopPlane struct{}

func (nopPlane) Apply(types.NamespacedName, *agentgateway.Config) error { return nil }

// The control-plane path end to end: Kubernetes objects in the API server, the controller
// translates them, publishes the schema document to the xDS server, and a data-plane replica (an
// xDS client applying to its own gateway, as `agentgateway` with config.xdsAddress does) serves the
// route; an HTTPRoute change reaches the replica the same way.
func TestControllerServesTranslationOverXDS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := newAPIServer(newScheme())
	snap, err := gwapi.DecodeManifests(strings.NewReader(schemaManifests(t)))
	require.NoError(t, err)
	objs := []client.Object{&snap.GatewayClasses[0], &snap.Gateways[0], &snap.HTTPRoutes[0]}
	for i := range snap.Services {
		objs = append(objs, &snap.Services[i], &snap.EndpointSlices[i])
	}
	for _, o := range objs {
		require.NoError(t, api.Create(ctx, o))
	}

	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	ctl := &gwapi.Controller{Cluster: api, DataPlane: nopPlane{}, Options: gwapi.Options{ControllerName: "agentgateway.dev/gwapi"},
		Publish: gwapi.PublishXDS(srv)}
	require.NoError(t, ctl.Sync(ctx))

	replica := agentgateway.New()
	defer func() { _ = replica.Close() }()
	c, err := xds.NewClient("http://"+ln.Addr().String(), xds.ClientOptions{Node: &corev3.Node{Id: "infra/gw~replica-1"}, Logger: slog.New(slog.DiscardHandler)},
		func(rt *config.Runtime) error { return replica.Apply(rt.Config) })
	require.NoError(t, err)
	defer func() { _ = c.Close() }()
	go c.Run(ctx)
	select {
	case <-c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("the replica got no config from the control plane")
	}
	for _, p := range probes {
		assert.Equal(t, p.want, ask(t, replica.PortHandler(8080), p.method, p.target, p.hdr...), "%s %s", p.method, p.target)
	}

	// Change the route: /exact now goes to b.
	var r gwv1.HTTPRoute
	require.NoError(t, api.Get(ctx, types.NamespacedName{Namespace: "infra", Name: "r"}, &r))
	r.Spec.Rules[0].BackendRefs[0].Name = "b"
	require.NoError(t, api.Update(ctx, &r))
	require.NoError(t, ctl.Sync(ctx))
	require.Eventually(t, func() bool {
		return ask(t, replica.PortHandler(8080), "GET", "http://api.example.com/exact").pod == "b"
	}, 30*time.Second, 20*time.Millisecond, "the route change reaches the replica")
	cancel()
	require.NoError(t, <-served)
	_ = io.Discard
}
