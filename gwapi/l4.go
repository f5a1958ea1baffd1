package gwapi

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
)

// attachL4 attaches TLSRoutes and TCPRoutes (oldest first) to TLS and TCP listeners as the data
// plane's TCP routes: a TLSRoute's hostnames (intersected with the listener's) select connections by
// SNI; its backends receive the connection's bytes as they are (passthrough) or decrypted (terminate).
func (t *translator) attachL4(res *Result, gateways map[types.NamespacedName]*gatewayState) {
	type l4route struct {
		obj   routeObj
		store map[types.NamespacedName][]gwv1.RouteParentStatus
	}
	var routes []l4route
	for i := range t.snap.TLSRoutes {
		r := &t.snap.TLSRoutes[i]
		routes = append(routes, l4route{store: res.TLSRoutes, obj: routeObj{kind: kindTLS, meta: &r.ObjectMeta, parentRefs: r.Spec.ParentRefs,
			hostnames: r.Spec.Hostnames, l4rules: func() ([]agentgateway.TCPRouteConfig, bool, string, string) {
				return t.l4Rules(kindTLS, &r.ObjectMeta, len(r.Spec.Rules), func(i int) (*gwv1.SectionName, []gwv1.BackendRef) {
					return r.Spec.Rules[i].Name, r.Spec.Rules[i].BackendRefs
				})
			}}})
	}
	for i := range t.snap.TCPRoutes {
		r := &t.snap.TCPRoutes[i]
		routes = append(routes, l4route{store: res.TCPRoutes, obj: routeObj{kind: kindTCP, meta: &r.ObjectMeta, parentRefs: r.Spec.ParentRefs,
			l4rules: func() ([]agentgateway.TCPRouteConfig, bool, string, string) {
				return t.l4Rules(kindTCP, &r.ObjectMeta, len(r.Spec.Rules), func(i int) (*gwv1.SectionName, []gwv1.BackendRef) {
					return r.Spec.Rules[i].Name, r.Spec.Rules[i].BackendRefs
				})
			}}})
	}
	slices.SortStableFunc(routes, func(a, b l4route) int {
		return cmp.Or(a.obj.meta.CreationTimestamp.Time.Compare(b.obj.meta.CreationTimestamp.Time),
			cmp.Compare(a.obj.kind, b.obj.kind), cmp.Compare(a.obj.meta.Namespace, b.obj.meta.Namespace), cmp.Compare(a.obj.meta.Name, b.obj.meta.Name))
	})
	for _, r := range routes {
		if ps := t.attach(r.obj, gateways); len(ps) > 0 {
			r.store[nn(r.obj.meta.Namespace, r.obj.meta.Name)] = ps
		}
	}
}

// l4Rules builds one TCP route per rule, each with the rule's weighted Service backends.
func (t *translator) l4Rules(kind string, meta interface {
	GetNamespace() string
	GetName() string
}, n int, rule func(int) (*gwv1.SectionName, []gwv1.BackendRef)) ([]agentgateway.TCPRouteConfig, bool, string, string) {
	ok, reason, msg := true, string(gwv1.RouteReasonResolvedRefs), "resolved"
	var out []agentgateway.TCPRouteConfig
	for i := range n {
		name, refs := rule(i)
		rc := agentgateway.TCPRouteConfig{Name: fmt.Sprintf("%s/%s/rule%d", meta.GetNamespace(), meta.GetName(), i)}
		if name != nil {
			rc.Name = fmt.Sprintf("%s/%s/%s", meta.GetNamespace(), meta.GetName(), *name)
		}
		for _, br := range refs {
			w := 1
			if br.Weight != nil {
				w = max(int(*br.Weight), 0)
			}
			eps, _, rerr := t.serviceEndpoints(kind, meta.GetNamespace(), br.BackendObjectReference)
			if rerr != nil && ok {
				ok, reason, msg = false, rerr.reason, rerr.msg
			}
			rc.Backends = append(rc.Backends, agentgateway.TCPBackend{Name: string(br.Name), Weight: w, Dial: t.dialEndpoints(eps)})
		}
		if len(rc.Backends) > 0 {
			out = append(out, rc)
		}
	}
	return out, ok, reason, msg
}

// dialEndpoints connects to one of eps at random; with none (an unresolved or empty backend) the
// connection is refused, as Gateway API requires for invalid backends.
func (t *translator) dialEndpoints(eps []string) func(ctx context.Context, _ *agentgateway.ConnInfo) (net.Conn, error) {
	dial := t.opts.DialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	return func(ctx context.Context, _ *agentgateway.ConnInfo) (net.Conn, error) {
		if len(eps) == 0 {
			return nil, fmt.Errorf("gwapi: backend has no ready endpoints")
		}
		return dial(ctx, "tcp", eps[rand.IntN(len(eps))])
	}
}

// serviceEndpoints resolves a backendRef to a Service: the ready endpoints (sorted) of the port it
// names, and that port. HTTP, gRPC and L4 routes share it.
func (t *translator) serviceEndpoints(fromKind, routeNS string, ref gwv1.BackendObjectReference) ([]string, *corev1.ServicePort, *refError) {
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != kindService) {
		return nil, nil, &refError{string(gwv1.RouteReasonInvalidKind), fmt.Sprintf("backend kind %v/%v is not supported", deref(ref.Group), deref(ref.Kind))}
	}
	ns := routeNS
	if ref.Namespace != nil && string(*ref.Namespace) != routeNS {
		ns = string(*ref.Namespace)
		if !t.granted(groupGateway, fromKind, routeNS, "", kindService, ns, string(ref.Name)) {
			return nil, nil, &refError{string(gwv1.RouteReasonRefNotPermitted), fmt.Sprintf("no ReferenceGrant lets %s refer to service %s/%s", routeNS, ns, ref.Name)}
		}
	}
	svc := t.services[nn(ns, string(ref.Name))]
	if svc == nil {
		return nil, nil, &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("service %s/%s not found", ns, ref.Name)}
	}
	if ref.Port == nil {
		return nil, nil, &refError{string(gwv1.RouteReasonUnsupportedValue), "backendRef to a Service needs a port"}
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == int32(*ref.Port) {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return nil, nil, &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("service %s/%s has no port %d", ns, ref.Name, *ref.Port)}
	}
	var eps []string
	for _, es := range t.slices[nn(ns, svc.Name)] {
		for _, p := range es.Ports {
			if p.Port == nil || (p.Name == nil && sp.Name != "") || (p.Name != nil && *p.Name != sp.Name) {
				continue
			}
			for _, e := range es.Endpoints {
				if e.Conditions.Ready != nil && !*e.Conditions.Ready {
					continue
				}
				for _, a := range e.Addresses {
					eps = append(eps, net.JoinHostPort(a, strconv.Itoa(int(*p.Port))))
				}
			}
		}
	}
	slices.Sort(eps)
	return eps, sp, nil
}

func deref[T any](p *T) any {
	if p == nil {
		return ""
	}
	return *p
}
