package gwapi_test

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
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

// namedEcho answers with its name and the request it saw, over HTTP/1.1 and h2c (gRPC backends).
func namedEcho(t *testing.T, name string) (ip, port string) {
	ip, port, _ = recordingEcho(t, name)
	return ip, port
}

// recordingEcho is namedEcho that also counts the requests it got, by path (mirrors get copies).
func recordingEcho(t *testing.T, name string) (ip, port string, hits func(path string) int) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"pod": name, "path": r.URL.RequestURI(), "host": r.Host, "headers": r.Header})
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	ip, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return ip, port, func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[path]
	}
}

// selfSigned returns a certificate and key (PEM) for host.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kd, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// schemaManifests: Gateway infra/gw (HTTP on 8080, HTTPS on 8443) and infra/gw2 (HTTP on 8080 for
// another hostname), Services whose EndpointSlices name real loopback pods, a static
// AgentgatewayBackend, an AgentgatewayPolicy, and HTTPRoutes and a GRPCRoute exercising what the
// schema document carries.
func schemaManifests(t *testing.T) (manifests string, mirrorHits func(string) int) {
	ip, pa := namedEcho(t, "a")
	_, pb := namedEcho(t, "b")
	_, pg := namedEcho(t, "g")
	_, ps := namedEcho(t, "s")
	_, pm, mirrorHits := recordingEcho(t, "m")
	cert, key := selfSigned(t, "secure.example.com")
	r := strings.NewReplacer("$IP", ip, "$PA", pa, "$PB", pb, "$PG", pg, "$PS", ps, "$PM", pm,
		"$CERT", base64.StdEncoding.EncodeToString(cert), "$KEY", base64.StdEncoding.EncodeToString(key))
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
  - name: https
    protocol: HTTPS
    port: 8443
    hostname: secure.example.com
    tls: {certificateRefs: [{name: cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw2, namespace: infra}
spec:
  gatewayClassName: agw
  listeners:
  - {name: http, protocol: HTTP, port: 8080, hostname: "*.other.org"}
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: infra}
type: kubernetes.io/tls
data: {tls.crt: $CERT, tls.key: $KEY}
---
apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: infra}
data: {alice: c2VjcmV0LWE=}
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
apiVersion: v1
kind: Service
metadata: {name: g, namespace: infra}
spec: {ports: [{name: grpc, port: 9000}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: g, namespace: infra, labels: {kubernetes.io/service-name: g}}
addressType: IPv4
ports: [{name: grpc, port: $PG}]
endpoints: [{addresses: [$IP]}]
---
apiVersion: v1
kind: Service
metadata: {name: m, namespace: infra}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: m, namespace: infra, labels: {kubernetes.io/service-name: m}}
addressType: IPv4
ports: [{name: http, port: $PM}]
endpoints: [{addresses: [$IP]}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: static, namespace: infra}
spec: {static: {host: $IP, port: $PS}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: keyed, namespace: infra}
spec: {static: {host: $IP, port: $PS}, policies: {auth: {key: backend-key}}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: keys, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: private}]
  traffic:
    apiKeyAuthentication: {secretRef: {name: keys}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: http}]
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
      requestMirror: {backendRef: {name: m, port: 80}}
    - type: RequestMirror
      requestMirror: {backendRef: {name: m, port: 80}, fraction: {numerator: 1, denominator: 1}}
    backendRefs: [{name: a, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /cors}}]
    filters:
    - type: CORS
      cors: {allowOrigins: ["https://app.example.com"], allowMethods: [GET], exposeHeaders: [x-exposed]}
    backendRefs: [{name: a, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /per-backend}}]
    backendRefs:
    - name: b
      port: 80
      filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-set, value: backend}]}}]
  - matches: [{path: {type: RegularExpression, value: "/re/[0-9]+$"}}]
    backendRefs: [{name: b, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /static}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: static}]
  - matches: [{path: {type: PathPrefix, value: /keyed}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: keyed}]
  - name: private
    matches: [{path: {type: PathPrefix, value: /private}}]
    backendRefs: [{name: b, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /missing}}]
    backendRefs: [{name: nope, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /mixed}}]
    backendRefs: [{name: a, port: 80, weight: 1}, {name: nope, port: 80, weight: 0}]
  - matches: [{path: {type: PathPrefix, value: /share-of-invalid}}]
    backendRefs: [{name: a, port: 80, weight: 0}, {name: nope, port: 80, weight: 1}]
  - matches: [{path: {type: PathPrefix, value: /none}}]
  - backendRefs: [{name: a, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: secure, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: https}]
  rules: [{backendRefs: [{name: b, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: other, namespace: infra}
spec:
  parentRefs: [{name: gw2}]
  rules: [{backendRefs: [{name: b, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: grpc, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  hostnames: [grpc.example.com]
  rules:
  - matches: [{method: {service: pkg.Echo, method: Say}}]
    backendRefs: [{name: g, port: 9000}]
`), mirrorHits
}

type answer struct {
	code     int
	pod      string
	path     string
	location string
	xset     string
	xdrop    bool
	xresp    string
	proto    string // the protocol the backend saw (gRPC backends get HTTP/2)
	acao     string // Access-Control-Allow-Origin
	expose   string // Access-Control-Expose-Headers
	auth     string // the Authorization the backend saw
}

func ask(t *testing.T, h http.Handler, method, target string, hdr ...string) answer {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{code: rec.Code, location: rec.Header().Get("Location"), xresp: rec.Header().Get("X-Resp"),
		acao: rec.Header().Get("Access-Control-Allow-Origin"), expose: rec.Header().Get("Access-Control-Expose-Headers")}
	var body struct {
		Pod     string      `json:"pod"`
		Path    string      `json:"path"`
		Headers http.Header `json:"headers"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &body) == nil {
		a.pod, a.path, a.xset, a.xdrop = body.Pod, body.Path, body.Headers.Get("X-Set"), body.Headers.Get("X-Drop") != ""
		a.auth = body.Headers.Get("Authorization")
	}
	return a
}

// probes are requests whose answers the runtime translation and the schema document must agree on.
var probes = []struct {
	gw             string // the Gateway (default infra/gw)
	port           int    // default 8080
	method, target string
	hdr            []string
	want           answer
}{
	{"", 0, "GET", "http://api.example.com/exact", nil, answer{code: 200, pod: "a", path: "/exact"}},
	{"", 0, "GET", "http://api.example.com/exact/more", nil, answer{code: 200, pod: "a", path: "/exact/more"}}, // the catch-all rule
	{"", 0, "GET", "http://api.example.com/b/x", []string{"x-env", "canary", "x-drop", "1"}, answer{code: 200, pod: "b", path: "/b/x", xset: "1", xresp: "yes"}},
	{"", 0, "GET", "http://api.example.com/b/x", nil, answer{code: 200, pod: "a", path: "/b/x"}},
	{"", 0, "POST", "http://api.example.com/q?v=2", nil, answer{code: 200, pod: "b", path: "/q?v=2"}},
	{"", 0, "GET", "http://api.example.com/q?v=2", nil, answer{code: 200, pod: "a", path: "/q?v=2"}},
	{"", 0, "GET", "http://api.example.com/old/x", nil, answer{code: 200, pod: "a", path: "/new/x"}},
	{"", 0, "GET", "http://api.example.com/moved/x", nil, answer{code: 301, location: "http://other.example.com:8080/moved/x"}},
	{"", 0, "GET", "http://api.example.com/mirror", nil, answer{code: 200, pod: "a", path: "/mirror"}},
	{"", 0, "OPTIONS", "http://api.example.com/cors", []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "GET"},
		answer{code: 200, acao: "https://app.example.com", expose: "x-exposed"}},
	{"", 0, "GET", "http://api.example.com/cors", []string{"Origin", "https://app.example.com"},
		answer{code: 200, pod: "a", path: "/cors", acao: "https://app.example.com", expose: "x-exposed"}},
	{"", 0, "GET", "http://api.example.com/per-backend", nil, answer{code: 200, pod: "b", path: "/per-backend", xset: "backend"}},
	{"", 0, "GET", "http://api.example.com/re/12", nil, answer{code: 200, pod: "b", path: "/re/12"}},
	{"", 0, "GET", "http://api.example.com/re/12x", nil, answer{code: 200, pod: "a", path: "/re/12x"}},
	{"", 0, "GET", "http://api.example.com/static/x", nil, answer{code: 200, pod: "s", path: "/static/x"}},
	{"", 0, "GET", "http://api.example.com/keyed", nil, answer{code: 200, pod: "s", path: "/keyed", auth: "Bearer backend-key"}},
	{"", 0, "GET", "http://api.example.com/private", nil, answer{code: 401}},
	{"", 0, "GET", "http://api.example.com/private", []string{"Authorization", "Bearer secret-a"}, answer{code: 200, pod: "b", path: "/private"}},
	{"", 0, "GET", "http://api.example.com/missing", nil, answer{code: 500}},
	{"", 0, "GET", "http://api.example.com/none", nil, answer{code: 500}},
	{"", 0, "GET", "http://api.example.com/share-of-invalid", nil, answer{code: 500}},
	{"", 0, "GET", "http://api.example.com/mixed", nil, answer{code: 200, pod: "a", path: "/mixed"}},
	{"", 0, "POST", "http://grpc.example.com/pkg.Echo/Say", []string{"Content-Type", "application/grpc"}, answer{code: 200, pod: "g", path: "/pkg.Echo/Say"}},
	{"", 0, "POST", "http://grpc.example.com/pkg.Echo/Other", []string{"Content-Type", "application/grpc"}, answer{code: 404}},
	{"", 0, "GET", "http://other.example.com/exact", nil, answer{code: 404}},
	{"", 8443, "GET", "https://secure.example.com/x", nil, answer{code: 200, pod: "b", path: "/x"}},
	{"gw2", 0, "GET", "http://www.other.org/y", nil, answer{code: 200, pod: "b", path: "/y"}},
}

// compileDocument is the path of a replica: the translation's SchemaDocument (for the given
// Gateways, all when none) as xDS resources, the document the replica reassembles from them, and
// config's build of it; dial, when set, reaches the pods (config.File.SetDialer).
func compileDocument(res *gwapi.Result, dial config.DialFunc, gateways ...types.NamespacedName) (*config.Runtime, []byte, error) {
	doc, err := gwapi.SchemaDocumentFor(res, gateways...)
	if err != nil {
		return nil, nil, err
	}
	r, err := xds.FromYAML(doc)
	if err != nil {
		return nil, doc, fmt.Errorf("as xDS resources: %w", err)
	}
	doc, _, err = r.Document()
	if err != nil {
		return nil, doc, fmt.Errorf("reassembled: %w", err)
	}
	// The replica expands no $VARs in a Kubernetes object's strings: the document escapes them.
	f, err := config.Load(doc, func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, doc, err
	}
	f.SetDialer(dial)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	return rt, doc, err
}

// The schema document (what --xds-serve serves, after the xDS round trip a replica makes) compiles
// with package config into a gateway that answers like the runtime translation, probe for probe:
// HTTP and HTTPS listeners, two Gateways sharing port 8080 by hostname, every HTTPRoute filter
// (mirrors included: the mirror pod gets its copies), per-backend filters, a regex with "$" (not
// an environment variable), an AgentgatewayBackend, an AgentgatewayPolicy and a GRPCRoute.
func TestSchemaDocumentServesLikeTheTranslation(t *testing.T) {
	manifests, mirrorHits := schemaManifests(t)
	snap, err := gwapi.DecodeManifests(strings.NewReader(manifests))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", Logger: slog.New(slog.DiscardHandler)})
	direct := map[string]*agentgateway.Gateway{}
	for _, name := range []string{"gw", "gw2"} {
		g := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
		t.Cleanup(func() { _ = g.Close() })
		require.NoError(t, g.Apply(res.Configs[types.NamespacedName{Namespace: "infra", Name: name}]))
		direct[name] = g
	}

	rt, doc, err := compileDocument(res, nil)
	require.NoError(t, err, "%s", doc)
	t.Cleanup(func() { _ = rt.Close() })
	viaSchema := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	t.Cleanup(func() { _ = viaSchema.Close() })
	require.NoError(t, viaSchema.Apply(rt.Config))

	for _, p := range probes {
		gw, port := cmp.Or(p.gw, "gw"), cmp.Or(p.port, 8080)
		want := ask(t, direct[gw].PortHandler(port), p.method, p.target, p.hdr...)
		require.Equal(t, p.want, want, "runtime translation: %s %s", p.method, p.target)
		got := ask(t, viaSchema.PortHandler(port), p.method, p.target, p.hdr...)
		assert.Equal(t, want, got, "schema document: %s %s", p.method, p.target)
	}
	// Two mirrors on /mirror, each copying every request, through both paths: four copies.
	require.Eventually(t, func() bool { return mirrorHits("/mirror") == 4 }, 10*time.Second, 10*time.Millisecond,
		"mirror copies: %d", mirrorHits("/mirror"))

	// The HTTPS listener serves the Secret's certificate, given inline.
	var certs [][]byte
	for _, cfg := range []agentgateway.Config{res.Configs[types.NamespacedName{Namespace: "infra", Name: "gw"}], rt.Config} {
		for _, l := range cfg.Listeners {
			if l.Port == 8443 {
				require.NotNil(t, l.TLS, "listener %s", l.Name)
				certs = append(certs, l.TLS.Certificates[0].Certificate[0])
			}
		}
	}
	require.Len(t, certs, 2)
	require.Equal(t, certs[0], certs[1])
}

// A Kubernetes object's "$" is literal in the document: a regex anchored with "$" and a header
// value naming what looks like a variable reach the data plane unchanged.
func TestSchemaDocumentEscapesDollars(t *testing.T) {
	snap, err := gwapi.DecodeManifests(strings.NewReader(agwGateway + `
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: RegularExpression, value: "/v[0-9]$"}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {hostname: "$HOME.example.com", statusCode: 302}
`))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
	releaseTranslation(t, res)
	rt, doc, err := compileDocument(res, nil)
	require.NoError(t, err, "%s", doc)
	t.Cleanup(func() { _ = rt.Close() })
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	t.Cleanup(func() { _ = gw.Close() })
	require.NoError(t, gw.Apply(rt.Config))
	a := ask(t, gw.PortHandler(8080), "GET", "http://x/v1")
	require.Equal(t, 302, a.code)
	require.Equal(t, "http://$HOME.example.com:8080/v1", a.location)
	require.Equal(t, 404, ask(t, gw.PortHandler(8080), "GET", "http://x/v1x").code)
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
	manifests, _ := schemaManifests(t)
	snap, err := gwapi.DecodeManifests(strings.NewReader(manifests))
	require.NoError(t, err)
	objs := []client.Object{&snap.GatewayClasses[0]}
	for i := range snap.Gateways {
		objs = append(objs, &snap.Gateways[i])
	}
	for i := range snap.HTTPRoutes {
		objs = append(objs, &snap.HTTPRoutes[i])
	}
	for i := range snap.GRPCRoutes {
		objs = append(objs, &snap.GRPCRoutes[i])
	}
	for i := range snap.Secrets {
		objs = append(objs, &snap.Secrets[i])
	}
	for i := range snap.Backends {
		objs = append(objs, &snap.Backends[i])
	}
	for i := range snap.Policies {
		objs = append(objs, &snap.Policies[i])
	}
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
		if p.gw != "" {
			continue // the replica serves the document of every Gateway; gw2's hostname is probed below
		}
		assert.Equal(t, p.want, ask(t, replica.PortHandler(cmp.Or(p.port, 8080)), p.method, p.target, p.hdr...), "%s %s", p.method, p.target)
	}
	assert.Equal(t, "b", ask(t, replica.PortHandler(8080), "GET", "http://www.other.org/y").pod, "a second Gateway on the port, by hostname")

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

// AgentgatewayPolicy spec.backend goes into the document: backend.auth on an AgentgatewayBackend
// reaches that backend and on a route every backend of the route, and backend.tls (its CA inline)
// makes the backend's connections TLS, verified, on an AgentgatewayBackend and on a Service port, as
// in the translation.
func TestSchemaDocumentCarriesBackendPolicies(t *testing.T) {
	ip, port := namedEcho(t, "echo")
	caPEM, keyPEM := selfSigned(t, "secure.infra")
	pair, err := tls.X509KeyPair(caPEM, keyPEM)
	require.NoError(t, err)
	secure := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"pod":"secure"}`)
	}))
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	secure.StartTLS()
	t.Cleanup(secure.Close)
	// Reached by address through the test's dialer (TLS backends use it too), with the policy's SNI.
	_, secPort, _ := net.SplitHostPort(secure.Listener.Addr().String())
	snap, err := gwapi.DecodeManifests(strings.NewReader(agwGateway + `
---
apiVersion: v1
kind: ConfigMap
metadata: {name: upstream-ca, namespace: infra}
data: {ca.crt: ` + strconv.Quote(string(caPEM)) + `}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: guarded, namespace: infra}
spec: {static: {host: guarded.infra, port: 80}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: open, namespace: infra}
spec: {static: {host: open.infra, port: 80}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: secure, namespace: infra}
spec: {static: {host: 127.0.0.1, port: ` + secPort + `}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: guarded}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /b}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: open}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: c, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /c}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: secure}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: on-backend, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: guarded}]
  backend: {auth: {key: k1}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: on-route, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: b}]
  backend: {auth: {key: k2}}
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
ports: [{name: https, port: ` + secPort + `}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: d, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /d}}]
    backendRefs: [{name: sec, port: 443}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: svc-tls, namespace: infra}
spec:
  targetRefs: [{group: "", kind: Service, name: sec, sectionName: https}]
  backend: {tls: {caCertificateRefs: [{name: upstream-ca}], sni: secure.infra}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: tls, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: secure}]
  backend: {tls: {caCertificateRefs: [{name: upstream-ca}], sni: secure.infra}}
`))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
	releaseTranslation(t, res)
	echo := net.JoinHostPort(ip, port)
	rt, doc, err := compileDocument(res, func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if addr == secure.Listener.Addr().String() {
			return d.DialContext(ctx, network, addr)
		}
		return d.DialContext(ctx, network, echo)
	})
	require.NoError(t, err, "%s", doc)
	t.Cleanup(func() { _ = rt.Close() })
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	t.Cleanup(func() { _ = gw.Close() })
	require.NoError(t, gw.Apply(rt.Config))
	a := ask(t, gw.PortHandler(8080), "GET", "http://x/a")
	assert.Equal(t, 200, a.code)
	assert.Equal(t, "Bearer k1", a.auth, "backend.auth on the AgentgatewayBackend")
	b := ask(t, gw.PortHandler(8080), "GET", "http://x/b")
	assert.Equal(t, 200, b.code)
	assert.Equal(t, "Bearer k2", b.auth, "backend.auth on the route")
	c := ask(t, gw.PortHandler(8080), "GET", "http://x/c")
	assert.Equal(t, 200, c.code, "backend.tls: TLS to the backend, verified with the ConfigMap's CA")
	assert.Equal(t, "secure", c.pod)
	d := ask(t, gw.PortHandler(8080), "GET", "http://x/d")
	assert.Equal(t, 200, d.code, "backend.tls on a Service port")
	assert.Equal(t, "secure", d.pod)
	assert.NotContains(t, string(doc), "PRIVATE KEY", "no key in the document when no mtlsCertificateRef is set")
}
