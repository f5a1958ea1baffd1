package gwapi_test

// A fake Kubernetes cluster for the Gateway API conformance suite: an API server (controller-runtime's
// fake client with the metadata and generation handling a real one does), a kubelet that runs each
// Deployment's pods as in-process echo servers, an EndpointSlice controller, and a pod network.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"
	gwv1b1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	infv1 "github.com/agentgw/agentgateway/gwapi/apis/inference/v1"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme,
		gwv1.Install, gwv1b1.Install, gwv1a2.Install, agwv1a1.AddToScheme, infv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// specOf returns the JSON of an object's spec (or, for objects without one, everything but metadata
// and status), to decide whether a write changes the generation.
func specOf(s *runtime.Scheme, obj client.Object) []byte {
	var m map[string]any
	if u, ok := obj.(*unstructured.Unstructured); ok {
		m = u.Object
	} else {
		var err error
		if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			return nil
		}
	}
	if sp, ok := m["spec"]; ok {
		b, _ := json.Marshal(sp)
		return b
	}
	rest := map[string]any{}
	for k, v := range m {
		if k != "metadata" && k != "status" && k != "apiVersion" && k != "kind" {
			rest[k] = v
		}
	}
	b, _ := json.Marshal(rest)
	return b
}

// newAPIServer wraps the fake client so that, like a real API server, it sets uid, generation and
// creationTimestamp on create and bumps generation when a write changes the spec.
func newAPIServer(s *runtime.Scheme) client.WithWatch {
	base := fake.NewClientBuilder().WithScheme(s).WithStatusSubresource(
		&gwv1.GatewayClass{}, &gwv1.Gateway{}, &gwv1.HTTPRoute{}, &gwv1.GRPCRoute{}, &gwv1.ListenerSet{}, &gwv1.TLSRoute{}, &gwv1.TCPRoute{}, &agwv1a1.AgentgatewayPolicy{}, &gwv1.BackendTLSPolicy{},
		&gwv1a2.TCPRoute{}, &gwv1a2.TLSRoute{}, &gwv1a2.UDPRoute{}, &corev1.Pod{}, &appsv1.Deployment{},
	).Build()
	existing := func(ctx context.Context, c client.WithWatch, obj client.Object) (client.Object, error) {
		gvk, err := apiutil.GVKForObject(obj, s)
		if err != nil {
			return nil, err
		}
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(gvk)
		return cur, c.Get(ctx, client.ObjectKeyFromObject(obj), cur)
	}
	bump := func(old, obj client.Object) {
		obj.SetUID(old.GetUID())
		obj.SetCreationTimestamp(old.GetCreationTimestamp())
		gen := old.GetGeneration()
		if gen == 0 {
			gen = 1
		}
		if !bytes.Equal(specOf(s, old), specOf(s, obj)) {
			gen++
		}
		obj.SetGeneration(gen)
	}
	return interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			obj.SetUID(uuid.NewUUID())
			obj.SetGeneration(1)
			obj.SetCreationTimestamp(metav1.NewTime(time.Now()))
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if old, err := existing(ctx, c, obj); err == nil {
				bump(old, obj)
			}
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			old, err := existing(ctx, c, obj)
			if err != nil {
				return err
			}
			if err := c.Patch(ctx, obj, patch, opts...); err != nil {
				return err
			}
			// Bump the generation if the patch changed the spec; a status write racing in between
			// makes the update conflict, so retry on the latest object.
			for range 10 {
				oldGen := old.GetGeneration()
				bump(old, obj)
				if obj.GetGeneration() == oldGen {
					return nil
				}
				err := c.Update(ctx, obj)
				if !apierrors.IsConflict(err) {
					return err
				}
				if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
					return err
				}
				obj.SetGeneration(oldGen)
			}
			return nil
		},
	})
}

// echoPod is an in-process stand-in for the suite's echo-basic image: it answers with the request
// as JSON, sets the headers X-Echo-Set-Header asks for, serves /status/NNN, /retry/ and /ws, and logs
// each request like echo-basic does, for the mirror tests that read pod logs. Like echo-basic it can
// instead be the gRPC echo server (GRPC_ECHO_SERVER) or the TCP echo server (TCP_ECHO_SERVER).
type echoPod struct {
	ns, name string
	// ports are the pod's listening sockets by container port; a port it does not listen on is
	// refused, except that an HTTP echo pod answers on its HTTP port (3000) for any.
	ports    map[int]net.Listener
	fallback net.Listener
	srvs     []*http.Server
	closers  []func()
	mu       sync.Mutex
	logs     []logLine
	retries  map[string]int
}

type logLine struct {
	at   time.Time
	text string
}

// podConfig is what a pod's container asks echo-basic to be (from its environment and volumes).
type podConfig struct {
	grpc, tcp bool
	// cert is the server certificate of the pod's TLS port (8443), when TLS_SERVER_CERT and its key
	// are configured.
	cert *tls.Certificate
	// clientCAs, when set, are the CAs client certificates on 8443 must chain to (TLS_CLIENT_CACERTS).
	clientCAs *x509.CertPool
}

// startEchoPod starts a pod's servers on loopback sockets: an HTTP echo pod serves HTTP/1.1 on 3000,
// h2c on 3001 and, with a certificate, HTTPS on 8443; a gRPC echo pod serves gRPC on 3000; a TCP echo
// pod serves the TCP echo protocol on 3000 and, with a certificate, over TLS on 8443.
func startEchoPod(ns, name string, cfg podConfig) (p *echoPod, err error) {
	p = &echoPod{ns: ns, name: name, retries: map[string]int{}, ports: map[int]net.Listener{}}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	for _, port := range []int{3000, 3001, 8443} {
		if port == 3001 && (cfg.grpc || cfg.tcp) || port == 8443 && (cfg.cert == nil || cfg.grpc) {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		if port == 8443 {
			tc := &tls.Config{Certificates: []tls.Certificate{*cfg.cert}, MinVersion: tls.VersionTLS12}
			if cfg.clientCAs != nil {
				tc.ClientCAs, tc.ClientAuth = cfg.clientCAs, tls.RequireAndVerifyClientCert
			}
			ln = tls.NewListener(ln, tc)
		}
		p.ports[port] = ln
		p.closers = append(p.closers, func() { _ = ln.Close() })
	}
	switch {
	case cfg.grpc:
		p.closers = append(p.closers, serveGRPC(p.ports[3000], ns, name))
		return p, nil
	case cfg.tcp:
		for _, ln := range p.ports {
			go serveTCPEcho(ln, ns, name)
		}
		return p, nil
	}
	p.fallback = p.ports[3000]
	mux := http.NewServeMux()
	mux.HandleFunc("/status/", p.status)
	mux.HandleFunc("/retry/", p.retry)
	mux.HandleFunc("/", p.echo)
	h1 := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	var prot http.Protocols
	prot.SetHTTP1(true)
	prot.SetUnencryptedHTTP2(true)
	h2 := &http.Server{Protocols: &prot, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "Expected h2c request")
			return
		}
		p.echo(w, r)
	})}
	p.srvs = []*http.Server{h1, h2}
	go func() { _ = h1.Serve(p.ports[3000]) }()
	go func() { _ = h2.Serve(p.ports[3001]) }()
	if ln := p.ports[8443]; ln != nil {
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		p.srvs = append(p.srvs, hs)
		go func() { _ = hs.Serve(ln) }()
	}
	return p, nil
}

func (p *echoPod) close() {
	for _, s := range p.srvs {
		_ = s.Close()
	}
	for _, c := range p.closers {
		c()
	}
}

func (p *echoPod) log(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logs = append(p.logs, logLine{time.Now(), fmt.Sprintf(format, args...)})
}

func (p *echoPod) logsSince(t time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, l := range p.logs {
		if !l.at.Before(t) {
			b.WriteString(l.text + "\n")
		}
	}
	return b.String()
}

func (p *echoPod) status(w http.ResponseWriter, r *http.Request) {
	code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
	if err != nil || code < 100 || code > 999 {
		code = http.StatusBadRequest
	}
	w.WriteHeader(code)
}

func (p *echoPod) retry(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("uuid")
	after, err := strconv.Atoi(q.Get("succeedAfter"))
	if id == "" || err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	failing := p.retries[id] < after
	if failing {
		p.retries[id]++
	}
	p.mu.Unlock()
	if !failing {
		p.echo(w, r)
		return
	}
	if code, err := strconv.Atoi(q.Get("responseCode")); err == nil {
		w.WriteHeader(code)
		return
	}
	// A connection reset, as a crashing upstream would cause.
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
			return
		}
	}
	w.WriteHeader(http.StatusInternalServerError)
}

func (p *echoPod) echo(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ws" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		wsEcho(w, r)
		return
	}
	p.log("Echoing back request made to %s to client (%s)", r.RequestURI, r.RemoteAddr)
	if d, err := time.ParseDuration(r.FormValue("delay")); err == nil {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	body, _ := json.MarshalIndent(map[string]any{
		"path": r.RequestURI, "host": r.Host, "method": r.Method, "proto": r.Proto, "headers": r.Header,
		"httpPort": "3000", "namespace": p.ns, "ingress": "", "service": "", "pod": p.name, "tls": tlsAssertions(r.TLS),
	}, "", " ")
	for _, kvs := range r.Header.Values("X-Echo-Set-Header") {
		for kv := range strings.SplitSeq(kvs, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(kv), ":")
			if name == "" {
				continue
			}
			if cur := w.Header()[name]; len(cur) > 0 {
				cur[0] += "," + strings.TrimSpace(value)
			} else {
				w.Header()[name] = []string{value}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// cluster runs the fake kubelet and EndpointSlice controller.
type cluster struct {
	c      client.Client
	mu     sync.Mutex
	pods   map[types.NamespacedName]*echoPod
	byIP   map[string]*echoPod
	nextIP atomic.Int32
}

func newCluster(c client.Client) *cluster {
	return &cluster{c: c, pods: map[types.NamespacedName]*echoPod{}, byIP: map[string]*echoPod{}}
}

// dialPod connects to a pod's socket for the port, or refuses as a pod not listening there would.
func (cl *cluster) dialPod(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cl.mu.Lock()
	p := cl.byIP[host]
	cl.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("dial %s: no such pod", addr)
	}
	n, _ := strconv.Atoi(port)
	ln := p.ports[n]
	if ln == nil {
		ln = p.fallback
	}
	if ln == nil {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", ln.Addr().String())
}

func (cl *cluster) pod(ns, name string) *echoPod {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.pods[types.NamespacedName{Namespace: ns, Name: name}]
}

func (cl *cluster) run(ctx context.Context) {
	tk := time.NewTicker(50 * time.Millisecond)
	defer tk.Stop()
	for {
		cl.kubelet(ctx)
		cl.endpoints(ctx)
		select {
		case <-ctx.Done():
			cl.mu.Lock()
			for _, p := range cl.pods {
				p.close()
			}
			cl.mu.Unlock()
			return
		case <-tk.C:
		}
	}
}

// kubelet makes each Deployment's pods exist, Ready, with an IP and a running echo server.
func (cl *cluster) kubelet(ctx context.Context) {
	var deps appsv1.DeploymentList
	var pods corev1.PodList
	if cl.c.List(ctx, &deps) != nil || cl.c.List(ctx, &pods) != nil {
		return
	}
	want := map[types.NamespacedName]bool{}
	for _, d := range deps.Items {
		n := 1
		if d.Spec.Replicas != nil {
			n = int(*d.Spec.Replicas)
		}
		for i := range n {
			name := fmt.Sprintf("%s-%s-%d", d.Name, strings.ReplaceAll(string(d.UID), "-", "")[:10], i)
			key := types.NamespacedName{Namespace: d.Namespace, Name: name}
			want[key] = true
			if cl.pod(d.Namespace, name) != nil {
				continue
			}
			cfg, err := cl.podConfig(ctx, &d)
			if err != nil {
				continue // e.g. a Secret volume whose Secret does not exist yet: the pod waits, as on a node
			}
			ep, err := startEchoPod(d.Namespace, name, cfg)
			if err != nil {
				continue
			}
			ip := fmt.Sprintf("10.244.%d.%d", cl.nextIP.Load()/250, cl.nextIP.Add(1)%250+1)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: d.Spec.Template.Labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID}}},
				Spec: *d.Spec.Template.Spec.DeepCopy()}
			pod.Spec.NodeName = "fake-node"
			if err := cl.c.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
				ep.close()
				continue
			}
			_ = cl.c.Get(ctx, key, pod)
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
			_ = cl.c.Status().Update(ctx, pod)
			cl.mu.Lock()
			cl.pods[key] = ep
			cl.byIP[ip] = ep
			cl.mu.Unlock()
		}
	}
	for _, p := range pods.Items {
		key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		if want[key] {
			continue
		}
		_ = cl.c.Delete(ctx, &p)
		cl.mu.Lock()
		if ep := cl.pods[key]; ep != nil {
			ep.close()
			delete(cl.pods, key)
			delete(cl.byIP, p.Status.PodIP)
		}
		cl.mu.Unlock()
	}
}

// endpoints keeps one managed EndpointSlice per Service with a selector, as kube-controller-manager does.
func (cl *cluster) endpoints(ctx context.Context) {
	var svcs corev1.ServiceList
	var pods corev1.PodList
	if cl.c.List(ctx, &svcs) != nil || cl.c.List(ctx, &pods) != nil {
		return
	}
	for _, s := range svcs.Items {
		if len(s.Spec.Selector) == 0 {
			continue
		}
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: s.Name + "-managed", Namespace: s.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: s.Name, discoveryv1.LabelManagedBy: "fake-endpointslice-controller"}},
			AddressType: discoveryv1.AddressTypeIPv4}
		for _, sp := range s.Spec.Ports {
			port := sp.TargetPort.IntVal
			if port == 0 {
				port = sp.Port
			}
			es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptrTo(sp.Name), Port: ptrTo(port), Protocol: ptrTo(corev1.ProtocolTCP), AppProtocol: sp.AppProtocol})
		}
	pods:
		for _, p := range pods.Items {
			if p.Namespace != s.Namespace || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
				continue
			}
			for k, v := range s.Spec.Selector {
				if p.Labels[k] != v {
					continue pods
				}
			}
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP},
				Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}})
		}
		var cur discoveryv1.EndpointSlice
		err := cl.c.Get(ctx, client.ObjectKeyFromObject(es), &cur)
		switch {
		case apierrors.IsNotFound(err):
			_ = cl.c.Create(ctx, es)
		case err == nil && (!reflect.DeepEqual(cur.Endpoints, es.Endpoints) || !reflect.DeepEqual(cur.Ports, es.Ports)):
			cur.Endpoints, cur.Ports = es.Endpoints, es.Ports
			_ = cl.c.Update(ctx, &cur)
		}
	}
}

func wsEcho(w http.ResponseWriter, r *http.Request) {
	websocket.Handler(func(ws *websocket.Conn) { _, _ = io.Copy(ws, ws) }).ServeHTTP(w, r)
}

func ptrTo[T any](v T) *T { return &v }
