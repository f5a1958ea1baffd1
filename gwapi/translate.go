package gwapi

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	infv1 "github.com/agentgw/agentgateway/gwapi/apis/inference/v1"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
	"github.com/agentgw/agentgateway/policy"
)

// Snapshot is the set of cluster objects a translation reads.
type Snapshot struct {
	GatewayClasses  []gwv1.GatewayClass
	Gateways        []gwv1.Gateway
	HTTPRoutes      []gwv1.HTTPRoute
	GRPCRoutes      []gwv1.GRPCRoute
	TLSRoutes       []gwv1.TLSRoute
	TCPRoutes       []gwv1.TCPRoute
	ReferenceGrants []gwv1.ReferenceGrant
	Services        []corev1.Service
	EndpointSlices  []discoveryv1.EndpointSlice
	Namespaces      []corev1.Namespace
	Secrets         []corev1.Secret
	// ConfigMaps are read only when an AgentgatewayPolicy's backend.tls names one (its CA).
	ConfigMaps []corev1.ConfigMap
	// agentgateway's own resources (gwapi/apis/v1alpha1).
	Backends []agwv1a1.AgentgatewayBackend
	Policies []agwv1a1.AgentgatewayPolicy
	// Inference Extension pools and the Pods they select.
	InferencePools []infv1.InferencePool
	Pods           []corev1.Pod

	// BackendTLSPolicies make connections to the Services they target TLS (backend_tls_policy.go).
	BackendTLSPolicies []gwv1.BackendTLSPolicy
}

// Options parameterise a translation.
type Options struct {
	// ControllerName is the GatewayClass spec.controllerName this implementation owns.
	ControllerName gwv1.GatewayController
	// Addresses returns the status addresses of a Gateway (what clients dial); nil reports none.
	Addresses func(gw *gwv1.Gateway) []gwv1.GatewayStatusAddress
	// DialContext, when set, connects to backend endpoints ("podIP:port") instead of the host
	// network, e.g. to reach in-process pods in tests.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger is given to the MCP federations of AgentgatewayBackends (default slog.Default()).
	Logger *slog.Logger
	// AddressUsable reports whether a Gateway's static spec.addresses IP can be used (an error
	// wrapping ErrAddressNotUsable when not); default: it is one of the Gateway's Addresses, or this
	// process can listen on it.
	AddressUsable func(gw *gwv1.Gateway, ip string) error
}

// Result is a translation: the data-plane configuration of each accepted Gateway and the statuses
// this controller owns.
type Result struct {
	Configs        map[types.NamespacedName]agentgateway.Config
	GatewayClasses map[string]gwv1.GatewayClassStatus
	Gateways       map[types.NamespacedName]gwv1.GatewayStatus
	// HTTPRoutes holds, per route, only the parents this controller manages.
	HTTPRoutes map[types.NamespacedName][]gwv1.RouteParentStatus
	// GRPCRoutes, TLSRoutes and TCPRoutes are the same for those kinds.
	GRPCRoutes map[types.NamespacedName][]gwv1.RouteParentStatus
	TLSRoutes  map[types.NamespacedName][]gwv1.RouteParentStatus
	TCPRoutes  map[types.NamespacedName][]gwv1.RouteParentStatus
	// Policies holds the ancestor statuses of each AgentgatewayPolicy.
	Policies map[types.NamespacedName][]gwv1.PolicyAncestorStatus
	// BackendTLSPolicies holds the ancestor statuses of each BackendTLSPolicy.
	BackendTLSPolicies map[types.NamespacedName][]gwv1.PolicyAncestorStatus

	// The translation's state, from which [SchemaDocument] renders the same attachments as schema
	// objects.
	t        *translator
	gateways map[types.NamespacedName]*gatewayState
}

// ErrUnsupported marks Gateway API features this translator does not implement.
var ErrUnsupported = errors.New("gwapi: unsupported")

const (
	groupGateway = gwv1.GroupName
	kindGateway  = "Gateway"
	kindHTTP     = "HTTPRoute"
	kindGRPC     = "GRPCRoute"
	kindTLS      = "TLSRoute"
	kindTCP      = "TCPRoute"
	kindService  = "Service"
	kindSecret   = "Secret"
)

var errRefNotPermitted = errors.New("no ReferenceGrant permits the reference")

// translator carries the indexes of one translation.
type translator struct {
	opts       Options
	snap       *Snapshot
	nsLabels   map[string]map[string]string
	services   map[types.NamespacedName]*corev1.Service
	slices     map[types.NamespacedName][]*discoveryv1.EndpointSlice
	secrets    map[types.NamespacedName]*corev1.Secret
	transports *transports
	agwBuilt   map[types.NamespacedName]builtBackend
	poolBuilt  map[types.NamespacedName]builtBackend
	policies   map[policyTarget][]agentgateway.Policy
	// backendPols are the AgentgatewayPolicies' backend sections by backend target (backend_policy.go).
	backendPols map[backendTarget][]*backendSet
	// btls are the BackendTLSPolicies by Service target, and curGW the Gateway whose listener's
	// routes are being built (its spec.tls.backend client certificate); backend_tls_policy.go.
	btls     map[backendTarget]*btlsPolicy
	btlsLost map[backendTarget][]*btlsPolicy // the policies that lost a target to an older one
	btlsAll  []*btlsPolicy
	curGW    *gatewayState
}

// Translate turns a snapshot into data-plane configurations and statuses. It never fails as a whole:
// problems with individual objects become status conditions, as Gateway API requires.
func Translate(snap *Snapshot, opts Options) *Result {
	return translate(snap, opts, newTransports(opts.DialContext))
}

func translate(snap *Snapshot, opts Options, tr *transports) *Result {
	t := &translator{opts: opts, snap: snap, nsLabels: map[string]map[string]string{},
		services: map[types.NamespacedName]*corev1.Service{}, slices: map[types.NamespacedName][]*discoveryv1.EndpointSlice{},
		secrets: map[types.NamespacedName]*corev1.Secret{}, transports: tr,
		agwBuilt: map[types.NamespacedName]builtBackend{}, poolBuilt: map[types.NamespacedName]builtBackend{}, policies: map[policyTarget][]agentgateway.Policy{}}
	for i := range snap.Namespaces {
		ns := &snap.Namespaces[i]
		l := maps.Clone(ns.Labels)
		if l == nil {
			l = map[string]string{}
		}
		// The API server sets this label on every namespace; selectors commonly use it.
		l[corev1.LabelMetadataName] = ns.Name
		t.nsLabels[ns.Name] = l
	}
	for i := range snap.Services {
		s := &snap.Services[i]
		t.services[nn(s.Namespace, s.Name)] = s
	}
	for i := range snap.EndpointSlices {
		es := &snap.EndpointSlices[i]
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := nn(es.Namespace, svc)
			t.slices[k] = append(t.slices[k], es)
		}
	}
	for i := range snap.Secrets {
		s := &snap.Secrets[i]
		t.secrets[nn(s.Namespace, s.Name)] = s
	}
	res := &Result{Configs: map[types.NamespacedName]agentgateway.Config{}, GatewayClasses: map[string]gwv1.GatewayClassStatus{},
		Gateways: map[types.NamespacedName]gwv1.GatewayStatus{}, HTTPRoutes: map[types.NamespacedName][]gwv1.RouteParentStatus{},
		GRPCRoutes: map[types.NamespacedName][]gwv1.RouteParentStatus{}, TLSRoutes: map[types.NamespacedName][]gwv1.RouteParentStatus{},
		TCPRoutes: map[types.NamespacedName][]gwv1.RouteParentStatus{}, Policies: map[types.NamespacedName][]gwv1.PolicyAncestorStatus{},
		BackendTLSPolicies: map[types.NamespacedName][]gwv1.PolicyAncestorStatus{}}
	t.indexPolicies(res)
	t.indexBackendTLSPolicies() // backend_tls_policy.go
	ours := map[string]bool{}
	for i := range snap.GatewayClasses {
		gc := &snap.GatewayClasses[i]
		if gc.Spec.ControllerName != opts.ControllerName {
			continue
		}
		ours[gc.Name] = true
		res.GatewayClasses[gc.Name] = gwv1.GatewayClassStatus{Conditions: []metav1.Condition{
			cond(string(gwv1.GatewayClassConditionStatusAccepted), true, string(gwv1.GatewayClassReasonAccepted), "accepted by agentgateway", gc.Generation),
		}}
	}
	// Routes in Gateway API precedence order: oldest first, then by namespace/name.
	routes := make([]*gwv1.HTTPRoute, 0, len(snap.HTTPRoutes))
	for i := range snap.HTTPRoutes {
		routes = append(routes, &snap.HTTPRoutes[i])
	}
	slices.SortStableFunc(routes, func(a, b *gwv1.HTTPRoute) int {
		return cmp.Or(a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	gateways := map[types.NamespacedName]*gatewayState{}
	for i := range snap.Gateways {
		gw := &snap.Gateways[i]
		if !ours[string(gw.Spec.GatewayClassName)] {
			continue
		}
		gateways[nn(gw.Namespace, gw.Name)] = t.gateway(gw)
	}
	for _, r := range routes {
		if ps := t.attach(httpRouteObj(t, r), gateways); len(ps) > 0 {
			res.HTTPRoutes[nn(r.Namespace, r.Name)] = ps
		}
	}
	t.attachGRPC(res, gateways)
	t.attachL4(res, gateways)
	res.t, res.gateways = t, gateways
	res.BackendTLSPolicies = t.backendTLSPolicyStatuses()
	for k, gs := range gateways {
		cfg := agentgateway.Config{}
		for _, l := range gs.listeners {
			if l.cfg != nil && gs.problem == nil {
				if l.cfg.Protocol == agentgateway.ProtocolHTTP {
					l.cfg.Routes = append(l.cfg.Routes, noRoute())
				}
				cfg.Listeners = append(cfg.Listeners, *l.cfg)
			}
		}
		res.Configs[k] = cfg
		res.Gateways[k] = gs.status(t.opts)
	}
	return res
}

func nn(ns, name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }

func cond(typ string, ok bool, reason, msg string, gen int64) metav1.Condition {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: gen}
}

type gatewayState struct {
	gw        *gwv1.Gateway
	listeners []*listenerState
	// backendCert is spec.tls.backend's client certificate (nil when unset).
	backendCert *gatewayBackendCert
	// problem is set when the Gateway cannot be served as specified (gateway_spec.go).
	problem *gatewaySpecProblem
}

type listenerState struct {
	spec     *gwv1.Listener
	accepted bool                         // routes attach (and count) even when refs do not resolve
	cfg      *agentgateway.ListenerConfig // nil when the listener cannot be programmed
	kinds    []gwv1.RouteGroupKind
	attached int32
	conds    []metav1.Condition
	// frontend is the client-certificate validation of an HTTPS listener (nil: none).
	frontend *frontendCA
	// httpRoutes are the routes (of every kind) programmed on the listener, in precedence order,
	// with the hostnames each serves there (for SchemaDocument).
	httpRoutes []attachedHTTP
}

// attachedHTTP is one route programmed on a listener: an HTTPRoute (route set), or a GRPCRoute,
// TLSRoute or TCPRoute (kind and meta name it in the snapshot).
type attachedHTTP struct {
	route *gwv1.HTTPRoute
	kind  string
	meta  *metav1.ObjectMeta
	hosts []string
}

func (gs *gatewayState) status(opts Options) gwv1.GatewayStatus {
	gen := gs.gw.Generation
	accepted, programmed := 0, 0
	for _, l := range gs.listeners {
		if l.accepted {
			accepted++
		}
		if l.cfg != nil {
			programmed++
		}
	}
	acc := cond(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonAccepted), "accepted", gen)
	switch {
	case accepted == 0 && len(gs.listeners) > 0:
		acc = cond(string(gwv1.GatewayConditionAccepted), false, string(gwv1.GatewayReasonListenersNotValid), "no listener is valid", gen)
	case accepted < len(gs.listeners):
		acc = cond(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonListenersNotValid), "some listeners are not valid", gen)
	}
	prog := cond(string(gwv1.GatewayConditionProgrammed), true, string(gwv1.GatewayReasonProgrammed), "programmed", gen)
	if programmed == 0 && len(gs.listeners) > 0 {
		prog = cond(string(gwv1.GatewayConditionProgrammed), false, string(gwv1.GatewayReasonInvalid), "no listener could be programmed", gen)
	}
	st := gwv1.GatewayStatus{Conditions: []metav1.Condition{acc, prog}}
	if gs.backendCert != nil { // backend_tls_policy.go
		st.Conditions = append(st.Conditions, gs.backendCert.condition(gen))
	}
	if insecureFrontend(gs.gw) { // frontend_tls.go
		st.Conditions = append(st.Conditions, cond(string(gwv1.GatewayConditionInsecureFrontendValidationMode), true,
			string(gwv1.GatewayReasonConfigurationChanged), "client certificate validation allows insecure fallback", gen))
	}
	if opts.Addresses != nil && gs.problem == nil {
		st.Addresses = opts.Addresses(gs.gw)
	}
	for _, l := range gs.listeners {
		st.Listeners = append(st.Listeners, gwv1.ListenerStatus{Name: l.spec.Name, SupportedKinds: l.kinds,
			AttachedRoutes: l.attached, Conditions: l.conds})
	}
	gs.specStatus(&st) // gateway_spec.go
	return st
}

var (
	httpKind = gwv1.RouteGroupKind{Group: ptr(gwv1.Group(groupGateway)), Kind: kindHTTP}
	grpcKind = gwv1.RouteGroupKind{Group: ptr(gwv1.Group(groupGateway)), Kind: kindGRPC}
	tlsKind  = gwv1.RouteGroupKind{Group: ptr(gwv1.Group(groupGateway)), Kind: kindTLS}
	tcpKind  = gwv1.RouteGroupKind{Group: ptr(gwv1.Group(groupGateway)), Kind: kindTCP}
)

func ptr[T any](v T) *T { return &v }

// gateway validates a Gateway's listeners and prepares their configurations (routes attach later).
func (t *translator) gateway(gw *gwv1.Gateway) *gatewayState {
	gs := &gatewayState{gw: gw, backendCert: t.backendClientCert(gw), problem: t.checkGatewaySpec(gw)}
	gen := gw.Generation
	for i := range gw.Spec.Listeners {
		l := &gw.Spec.Listeners[i]
		ls := &listenerState{spec: l}
		gs.listeners = append(gs.listeners, ls)
		accepted, resolved := true, true
		acceptReason, resolvedReason := string(gwv1.ListenerReasonAccepted), string(gwv1.ListenerReasonResolvedRefs)
		msg := ""
		lc := &agentgateway.ListenerConfig{Name: string(l.Name), Port: int(l.Port)}
		var kinds []gwv1.RouteGroupKind // what the protocol carries
		switch l.Protocol {
		case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType:
			kinds = []gwv1.RouteGroupKind{httpKind, grpcKind}
		case gwv1.TLSProtocolType:
			kinds, lc.Protocol = []gwv1.RouteGroupKind{tlsKind}, agentgateway.ProtocolTLS
		case gwv1.TCPProtocolType:
			kinds, lc.Protocol = []gwv1.RouteGroupKind{tcpKind}, agentgateway.ProtocolTCP
		default:
			accepted, acceptReason, msg = false, string(gwv1.ListenerReasonUnsupportedProtocol), fmt.Sprintf("protocol %s is not supported", l.Protocol)
		}
		// Route kinds: those the protocol carries; naming others makes ResolvedRefs false.
		if l.AllowedRoutes == nil || len(l.AllowedRoutes.Kinds) == 0 {
			if accepted {
				ls.kinds = kinds
			}
		} else {
			for _, k := range l.AllowedRoutes.Kinds {
				g := groupGateway
				if k.Group != nil {
					g = string(*k.Group)
				}
				i := slices.IndexFunc(kinds, func(c gwv1.RouteGroupKind) bool { return g == groupGateway && c.Kind == k.Kind })
				switch {
				case i >= 0 && accepted:
					ls.kinds = append(ls.kinds, kinds[i])
				case i < 0:
					resolved, resolvedReason, msg = false, string(gwv1.ListenerReasonInvalidRouteKinds), fmt.Sprintf("route kind %s/%s is not supported on a %s listener", g, k.Kind, l.Protocol)
				}
			}
		}
		if ls.kinds == nil {
			ls.kinds = []gwv1.RouteGroupKind{}
		}
		if l.Hostname != nil {
			lc.Hostnames = []string{string(*l.Hostname)}
		}
		// TLS listeners terminate unless the mode is Passthrough, which forwards the client's own session.
		terminate := l.Protocol == gwv1.HTTPSProtocolType ||
			(l.Protocol == gwv1.TLSProtocolType && l.TLS != nil && (l.TLS.Mode == nil || *l.TLS.Mode == gwv1.TLSModeTerminate))
		if accepted && terminate {
			tc, err := t.listenerTLS(gw, l)
			if err != nil {
				resolved, resolvedReason, msg = false, string(gwv1.ListenerReasonInvalidCertificateRef), err.Error()
				if errors.Is(err, errRefNotPermitted) {
					resolvedReason = string(gwv1.ListenerReasonRefNotPermitted)
				}
			}
			lc.TLS = tc
			// Gateway spec.tls.frontend: client-certificate validation (frontend_tls.go).
			if fv := t.frontendValidation(gw, l); fv != nil {
				if fv.reason != "" && resolved {
					resolved, resolvedReason, msg = false, fv.reason, fv.msg
				}
				if len(fv.pems) == 0 {
					accepted, acceptReason = false, string(gwv1.ListenerReasonNoValidCACertificate)
					msg = cmp.Or(msg, fv.msg)
				} else if tc != nil {
					fv.apply(tc)
				}
				ls.frontend = fv
			}
		}
		ls.accepted = accepted
		if accepted && resolved {
			ls.cfg = lc
		} else if accepted && lc.TLS != nil {
			ls.cfg = lc // invalid route kinds alone still serve HTTPRoutes
		}
		programmed := ls.cfg != nil
		progReason := string(gwv1.ListenerReasonProgrammed)
		if !programmed {
			progReason = string(gwv1.ListenerReasonInvalid)
		}
		if msg == "" {
			msg = "ok"
		}
		ls.conds = []metav1.Condition{
			cond(string(gwv1.ListenerConditionAccepted), accepted, acceptReason, msg, gen),
			cond(string(gwv1.ListenerConditionResolvedRefs), resolved, resolvedReason, msg, gen),
			cond(string(gwv1.ListenerConditionProgrammed), programmed, progReason, msg, gen),
			cond(string(gwv1.ListenerConditionConflicted), false, string(gwv1.ListenerReasonNoConflicts), "no conflicts", gen),
		}
	}
	return gs
}

// listenerTLS loads the certificates an HTTPS listener names from Secrets.
func (t *translator) listenerTLS(gw *gwv1.Gateway, l *gwv1.Listener) (*tls.Config, error) {
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		return nil, fmt.Errorf("HTTPS listener %s has no certificateRefs: %w", l.Name, ErrUnsupported)
	}
	tc := &tls.Config{}
	for _, ref := range l.TLS.CertificateRefs {
		if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != kindSecret) {
			return nil, fmt.Errorf("certificateRef %s is not a core Secret", ref.Name)
		}
		ns := gw.Namespace
		if ref.Namespace != nil && string(*ref.Namespace) != gw.Namespace {
			ns = string(*ref.Namespace)
			if !t.granted(groupGateway, kindGateway, gw.Namespace, "", kindSecret, ns, string(ref.Name)) {
				return nil, fmt.Errorf("certificateRef %s/%s: %w", ns, ref.Name, errRefNotPermitted)
			}
		}
		s := t.secrets[nn(ns, string(ref.Name))]
		if s == nil {
			return nil, fmt.Errorf("secret %s/%s not found", ns, ref.Name)
		}
		cert, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", ns, ref.Name, err)
		}
		tc.Certificates = append(tc.Certificates, cert)
	}
	return tc, nil
}

// granted reports whether a ReferenceGrant in toNS lets objects of fromGroup/fromKind in fromNS refer
// to toGroup/toKind (named name, or any when the grant names none).
func (t *translator) granted(fromGroup, fromKind, fromNS, toGroup, toKind, toNS, name string) bool {
	for i := range t.snap.ReferenceGrants {
		g := &t.snap.ReferenceGrants[i]
		if g.Namespace != toNS {
			continue
		}
		from := slices.ContainsFunc(g.Spec.From, func(f gwv1.ReferenceGrantFrom) bool {
			return string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNS
		})
		to := slices.ContainsFunc(g.Spec.To, func(to gwv1.ReferenceGrantTo) bool {
			return string(to.Group) == toGroup && string(to.Kind) == toKind && (to.Name == nil || string(*to.Name) == name)
		})
		if from && to {
			return true
		}
	}
	return false
}

// allowed reports whether a listener admits routes from routeNS.
func (t *translator) allowed(gw *gwv1.Gateway, l *gwv1.Listener, routeNS string) bool {
	from := gwv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil {
		if l.AllowedRoutes.Namespaces.From != nil {
			from = *l.AllowedRoutes.Namespaces.From
		}
		sel = l.AllowedRoutes.Namespaces.Selector
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSelector:
		if sel == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		return err == nil && s.Matches(labels.Set(t.nsLabels[routeNS]))
	default:
		return routeNS == gw.Namespace
	}
}

// routeObj is what attachment needs from a route of any kind.
type routeObj struct {
	kind       string
	http       *gwv1.HTTPRoute // set for HTTPRoutes
	meta       *metav1.ObjectMeta
	parentRefs []gwv1.ParentReference
	hostnames  []gwv1.Hostname
	// rules builds the route's rules for a listener port, with the ResolvedRefs outcome.
	rules func(port int) ([]agentgateway.RouteConfig, bool, string, string)
	// l4rules, set instead of rules for TLSRoutes and TCPRoutes, builds their TCP routes.
	l4rules func() ([]agentgateway.TCPRouteConfig, bool, string, string)
}

func httpRouteObj(t *translator, r *gwv1.HTTPRoute) routeObj {
	return routeObj{kind: kindHTTP, http: r, meta: &r.ObjectMeta, parentRefs: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames,
		rules: func(port int) ([]agentgateway.RouteConfig, bool, string, string) { return t.routeRules(r, port) }}
}

// attach resolves a route's parentRefs against the Gateways, adds its rules to the listeners it
// attaches to, and returns the route's parent statuses.
func (t *translator) attach(r routeObj, gateways map[types.NamespacedName]*gatewayState) []gwv1.RouteParentStatus {
	var out []gwv1.RouteParentStatus
	var (
		resolvedOK                  bool
		resolvedReason, resolvedMsg string
		l4                          []agentgateway.TCPRouteConfig
	)
	if r.l4rules != nil {
		l4, resolvedOK, resolvedReason, resolvedMsg = r.l4rules()
	} else {
		_, resolvedOK, resolvedReason, resolvedMsg = r.rules(0)
	}
	for _, pr := range r.parentRefs {
		group, kind := groupGateway, kindGateway
		if pr.Group != nil {
			group = string(*pr.Group)
		}
		if pr.Kind != nil {
			kind = string(*pr.Kind)
		}
		if group != groupGateway || kind != kindGateway {
			continue
		}
		ns := r.meta.Namespace
		if pr.Namespace != nil {
			ns = string(*pr.Namespace)
		}
		gs := gateways[nn(ns, string(pr.Name))]
		if gs == nil {
			continue // not a Gateway of ours: another controller reports on it
		}
		ref := pr
		ref.Group, ref.Kind = ptr(gwv1.Group(group)), ptr(gwv1.Kind(kind))
		ps := gwv1.RouteParentStatus{ParentRef: ref, ControllerName: t.opts.ControllerName}
		var matched, permitted, hostOK []*listenerState
		for _, ls := range gs.listeners {
			if pr.SectionName != nil && *pr.SectionName != ls.spec.Name {
				continue
			}
			if pr.Port != nil && *pr.Port != ls.spec.Port {
				continue
			}
			matched = append(matched, ls)
			if !ls.accepted || !containsKind(ls.kinds, r.kind) || !t.allowed(gs.gw, ls.spec, r.meta.Namespace) {
				continue
			}
			permitted = append(permitted, ls)
			if _, ok := intersect(ls.spec.Hostname, r.hostnames); ok {
				hostOK = append(hostOK, ls)
			}
		}
		gen := r.meta.Generation
		var accepted metav1.Condition
		switch {
		case len(matched) == 0:
			accepted = cond(string(gwv1.RouteConditionAccepted), false, string(gwv1.RouteReasonNoMatchingParent), "no listener matches the parentRef", gen)
		case len(permitted) == 0:
			accepted = cond(string(gwv1.RouteConditionAccepted), false, string(gwv1.RouteReasonNotAllowedByListeners), "no listener allows this route", gen)
		case len(hostOK) == 0:
			accepted = cond(string(gwv1.RouteConditionAccepted), false, string(gwv1.RouteReasonNoMatchingListenerHostname), "no listener hostname intersects the route's", gen)
		default:
			accepted = cond(string(gwv1.RouteConditionAccepted), true, string(gwv1.RouteReasonAccepted), "accepted", gen)
			for _, ls := range hostOK {
				hosts, _ := intersect(ls.spec.Hostname, r.hostnames)
				ls.attached++
				if ls.cfg == nil {
					continue // attached, but the listener serves nothing until its refs resolve
				}
				ls.httpRoutes = append(ls.httpRoutes, attachedHTTP{route: r.http, kind: r.kind, meta: r.meta, hosts: hosts})
				if r.l4rules != nil {
					for _, rc := range l4 {
						if ls.cfg.Protocol == agentgateway.ProtocolTLS {
							rc.Hostnames = hosts
						}
						ls.cfg.TCPRoutes = append(ls.cfg.TCPRoutes, rc)
					}
					continue
				}
				// Built per listener: a redirect without port or scheme names the listener's port.
				t.curGW = gs
				built, _, _, _ := r.rules(int(ls.spec.Port))
				t.curGW = nil
				gwPolicies := t.attachedPolicies(kindGateway, gs.gw.Namespace, gs.gw.Name, string(ls.spec.Name))
				for _, rc := range built {
					rc.Hostnames = hosts
					if len(gwPolicies) > 0 {
						rc.Policies = append(slices.Clone(gwPolicies), rc.Policies...)
					}
					ls.cfg.Routes = append(ls.cfg.Routes, rc)
				}
			}
		}
		ps.Conditions = []metav1.Condition{accepted, cond(string(gwv1.RouteConditionResolvedRefs), resolvedOK, resolvedReason, resolvedMsg, gen)}
		out = append(out, ps)
	}
	return out
}

func containsKind(kinds []gwv1.RouteGroupKind, kind string) bool {
	return slices.ContainsFunc(kinds, func(k gwv1.RouteGroupKind) bool {
		return string(k.Kind) == kind && (k.Group == nil || *k.Group == groupGateway)
	})
}

// intersect returns the hostnames a route serves on a listener; ok is false when they are disjoint.
// nil hostnames with ok true means any host.
func intersect(listener *gwv1.Hostname, route []gwv1.Hostname) ([]string, bool) {
	if listener == nil || *listener == "" {
		out := make([]string, 0, len(route))
		for _, h := range route {
			out = append(out, string(h))
		}
		return nilIfEmpty(out), true
	}
	l := string(*listener)
	if len(route) == 0 {
		return nil, true // the listener's hostname already restricts it
	}
	var out []string
	for _, h := range route {
		rh := string(h)
		switch {
		case hostCovers(l, rh):
			out = append(out, rh)
		case hostCovers(rh, l):
			out = append(out, l)
		}
	}
	return out, len(out) > 0
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// hostCovers reports whether pattern (exact or "*.suffix") matches host (exact or wildcard).
func hostCovers(pattern, host string) bool {
	if pattern == host {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, suffix) && len(host) > len(suffix) && !strings.HasPrefix(host, "*"+suffix)
	}
	return false
}

// routeRules builds a route's rules once; the ResolvedRefs outcome covers every backendRef.
func (t *translator) routeRules(r *gwv1.HTTPRoute, port int) ([]agentgateway.RouteConfig, bool, string, string) {
	out := []agentgateway.RouteConfig{}
	ok, reason, msg := true, string(gwv1.RouteReasonResolvedRefs), "resolved"
	fail := func(err *refError) {
		if ok {
			ok, reason, msg = false, err.reason, err.msg
		}
	}
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		name := fmt.Sprintf("%s/%s/rule%d", r.Namespace, r.Name, i)
		if rule.Name != nil {
			name = fmt.Sprintf("%s/%s/%s", r.Namespace, r.Name, *rule.Name)
		}
		rc := agentgateway.RouteConfig{Name: name}
		for _, m := range rule.Matches {
			rc.Matches = append(rc.Matches, match(m))
		}
		ps, err := t.filters(kindHTTP, r.Namespace, rule.Filters, port)
		if err != nil {
			rc.Policies = []agentgateway.Policy{respond500(err.Error())}
			out = append(out, rc)
			continue
		}
		rc.Policies = append(t.attachedPolicies(kindHTTP, r.Namespace, r.Name, ruleName(rule.Name)), ps...)
		if p := timeoutPolicy(rule.Timeouts); p != nil {
			rc.Policies = append(rc.Policies, p)
		}
		if p := retryPolicy(rule.Retry); p != nil {
			rc.Policies = append(rc.Policies, p)
		}
		for _, br := range rule.BackendRefs {
			w := 1
			if br.Weight != nil {
				w = int(*br.Weight)
			}
			h, rerr := t.backend(kindHTTP, r.Namespace, br.BackendObjectReference, false)
			if rerr != nil {
				fail(rerr)
				h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					agentgateway.WriteError(w, http.StatusInternalServerError, "invalid backend")
				})
			} else if len(br.Filters) > 0 {
				bps, err := t.filters(kindHTTP, r.Namespace, br.Filters, port)
				if err != nil {
					fail(&refError{string(gwv1.RouteReasonUnsupportedValue), err.Error()})
				}
				h = wrap(bps, h)
			}
			rc.Backends = append(rc.Backends, agentgateway.WeightedBackend{Name: string(br.Name), Handler: h, Weight: w})
		}
		out = append(out, rc)
	}
	return out, ok, reason, msg
}

func ruleName(n *gwv1.SectionName) string {
	if n == nil {
		return ""
	}
	return string(*n)
}

// wrap puts policies in front of a handler in phase order, as a route would.
func wrap(ps []agentgateway.Policy, h http.Handler) http.Handler {
	ps = agentgateway.SortPolicies(ps)
	for i := len(ps) - 1; i >= 0; i-- {
		h = ps[i].Wrap(h)
	}
	return h
}

// noRoute answers requests no rule matches with 404, after every rule (it is last and matches
// nothing in particular). The body is plain text, as clients of Gateway API implementations expect:
// a JSON content type on a bodiless HEAD answer breaks those that parse JSON answers.
func noRoute() agentgateway.RouteConfig {
	p, _ := agentgateway.Respond(agentgateway.DirectResponse{Status: http.StatusNotFound, Body: []byte("no route matched\n"),
		Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}})
	return agentgateway.RouteConfig{Name: "gwapi/no-route", Policies: []agentgateway.Policy{p}}
}

func respond500(msg string) agentgateway.Policy {
	p, _ := agentgateway.Respond(agentgateway.DirectResponse{Status: http.StatusInternalServerError, Body: []byte(msg + "\n")})
	return p
}

func match(m gwv1.HTTPRouteMatch) agentgateway.Match {
	out := agentgateway.Match{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/"}}
	if m.Path != nil {
		if m.Path.Value != nil {
			out.Path.Value = *m.Path.Value
		}
		if m.Path.Type != nil {
			switch *m.Path.Type {
			case gwv1.PathMatchExact:
				out.Path.Type = agentgateway.PathExact
			case gwv1.PathMatchRegularExpression:
				out.Path.Type = agentgateway.PathRegex
			}
		}
	}
	if m.Method != nil {
		out.Method = string(*m.Method)
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, agentgateway.ValueMatch{Name: string(h.Name), Value: h.Value,
			Regex: h.Type != nil && *h.Type == gwv1.HeaderMatchRegularExpression})
	}
	for _, q := range m.QueryParams {
		out.Query = append(out.Query, agentgateway.ValueMatch{Name: string(q.Name), Value: q.Value,
			Regex: q.Type != nil && *q.Type == gwv1.QueryParamMatchRegularExpression})
	}
	return out
}

func headerModifier(f *gwv1.HTTPHeaderFilter) agentgateway.HeaderModifier {
	m := agentgateway.HeaderModifier{Set: map[string]string{}, Add: map[string]string{}, Remove: f.Remove}
	for _, h := range f.Set {
		m.Set[string(h.Name)] = h.Value
	}
	for _, h := range f.Add {
		m.Add[string(h.Name)] = h.Value
	}
	return m
}

func pathModifier(p *gwv1.HTTPPathModifier) *agentgateway.PathModifier {
	if p == nil {
		return nil
	}
	switch p.Type {
	case gwv1.FullPathHTTPPathModifier:
		return &agentgateway.PathModifier{ReplaceFullPath: p.ReplaceFullPath}
	case gwv1.PrefixMatchHTTPPathModifier:
		return &agentgateway.PathModifier{ReplacePrefixMatch: p.ReplacePrefixMatch}
	}
	return nil
}

// filters translates a list of HTTPRoute filters into policies.
func (t *translator) filters(fromKind, ns string, fs []gwv1.HTTPRouteFilter, port int) ([]agentgateway.Policy, error) {
	var out []agentgateway.Policy
	add := func(p agentgateway.Policy, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	}
	for _, f := range fs {
		var err error
		switch {
		case f.Type == gwv1.HTTPRouteFilterRequestHeaderModifier && f.RequestHeaderModifier != nil:
			err = add(agentgateway.RequestHeaderModifier(headerModifier(f.RequestHeaderModifier)))
		case f.Type == gwv1.HTTPRouteFilterResponseHeaderModifier && f.ResponseHeaderModifier != nil:
			err = add(agentgateway.ResponseHeaderModifier(headerModifier(f.ResponseHeaderModifier)))
		case f.Type == gwv1.HTTPRouteFilterRequestRedirect && f.RequestRedirect != nil:
			rr := f.RequestRedirect
			red := agentgateway.RequestRedirect{Path: pathModifier(rr.Path), StatusCode: http.StatusFound}
			if rr.Scheme != nil {
				red.Scheme = *rr.Scheme
			}
			if rr.Hostname != nil {
				red.Hostname = string(*rr.Hostname)
			}
			switch {
			case rr.Port != nil:
				red.Port = int(*rr.Port)
			case rr.Scheme == nil:
				red.Port = port // Gateway API: the listener's port (dropped when well known)
			}
			if rr.StatusCode != nil {
				red.StatusCode = *rr.StatusCode
			}
			err = add(agentgateway.Redirect(red))
		case f.Type == gwv1.HTTPRouteFilterURLRewrite && f.URLRewrite != nil:
			u := agentgateway.URLRewrite{Path: pathModifier(f.URLRewrite.Path)}
			if f.URLRewrite.Hostname != nil {
				u.Hostname = string(*f.URLRewrite.Hostname)
			}
			err = add(agentgateway.Rewrite(u))
		case f.Type == gwv1.HTTPRouteFilterRequestMirror && f.RequestMirror != nil:
			h, rerr := t.backend(fromKind, ns, f.RequestMirror.BackendRef, fromKind == kindGRPC)
			if rerr != nil {
				return nil, fmt.Errorf("mirror backend: %s", rerr.msg)
			}
			pct := 1.0
			if f.RequestMirror.Percent != nil {
				pct = float64(*f.RequestMirror.Percent) / 100
			} else if fr := f.RequestMirror.Fraction; fr != nil {
				den := int32(100)
				if fr.Denominator != nil {
					den = *fr.Denominator
				}
				if den > 0 {
					pct = float64(fr.Numerator) / float64(den)
				}
			}
			m, merr := policy.NewMirror(policy.MirrorConfig{Percentage: pct}, h)
			if merr != nil {
				return nil, merr
			}
			out = append(out, m)
		case f.Type == gwv1.HTTPRouteFilterCORS && f.CORS != nil:
			err = add(corsPolicy(f.CORS))
		default:
			return nil, fmt.Errorf("filter %s: %w", f.Type, ErrUnsupported)
		}
		if err != nil {
			return nil, fmt.Errorf("filter %s: %w", f.Type, err)
		}
	}
	return out, nil
}

func corsPolicy(c *gwv1.HTTPCORSFilter) (agentgateway.Policy, error) {
	cfg := policy.CORSConfig{AllowCredentials: c.AllowCredentials != nil && *c.AllowCredentials}
	for _, o := range c.AllowOrigins {
		cfg.AllowOrigins = append(cfg.AllowOrigins, string(o))
	}
	for _, m := range c.AllowMethods {
		cfg.AllowMethods = append(cfg.AllowMethods, string(m))
	}
	for _, h := range c.AllowHeaders {
		cfg.AllowHeaders = append(cfg.AllowHeaders, string(h))
	}
	for _, h := range c.ExposeHeaders {
		cfg.ExposeHeaders = append(cfg.ExposeHeaders, string(h))
	}
	age := time.Duration(c.MaxAge) * time.Second
	if c.MaxAge == 0 {
		age = 5 * time.Second // the CRD default
	}
	cfg.MaxAge = &age
	return policy.NewCORS(cfg)
}

func parseDuration(d *gwv1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	v, err := time.ParseDuration(string(*d))
	if err != nil {
		return 0
	}
	return v
}

func timeoutPolicy(t *gwv1.HTTPRouteTimeouts) agentgateway.Policy {
	if t == nil {
		return nil
	}
	cfg := policy.TimeoutConfig{RequestTimeout: parseDuration(t.Request), BackendRequestTimeout: parseDuration(t.BackendRequest)}
	if cfg == (policy.TimeoutConfig{}) {
		return nil
	}
	p, err := policy.NewTimeout(cfg)
	if err != nil {
		return nil
	}
	return p
}

func retryPolicy(r *gwv1.HTTPRouteRetry) agentgateway.Policy {
	if r == nil {
		return nil
	}
	cfg := policy.RetryConfig{Attempts: 2, Backoff: parseDuration(r.Backoff)}
	if r.Attempts != nil {
		cfg.Attempts = *r.Attempts + 1
	}
	for _, c := range r.Codes {
		cfg.Codes = append(cfg.Codes, int(c))
	}
	if len(cfg.Codes) == 0 {
		cfg.Codes = []int{http.StatusServiceUnavailable}
	}
	if cfg.Attempts < 2 {
		return nil
	}
	p, err := policy.NewRetry(cfg)
	if err != nil {
		return nil
	}
	return p
}

// refError is an unresolvable backendRef, with the ResolvedRefs reason it causes.
type refError struct{ reason, msg string }

// backend resolves a backendRef of a route of kind fromKind to a proxy over the Service's ready
// endpoints; forceH2C speaks h2c whatever the Service's appProtocol (gRPC backends).
func (t *translator) backend(fromKind, routeNS string, ref gwv1.BackendObjectReference, forceH2C bool) (http.Handler, *refError) {
	group, kind := "", kindService
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	if group == agwv1a1.GroupName && kind == agwv1a1.KindBackend {
		return t.agwBackend(fromKind, routeNS, ref)
	}
	if group == infv1.GroupName && kind == infv1.KindInferencePool {
		return t.inferencePool(fromKind, routeNS, ref)
	}
	eps, sp, rerr := t.serviceEndpoints(fromKind, routeNS, ref) // l4.go
	if rerr != nil {
		return nil, rerr
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	name := fmt.Sprintf("%s/%s:%d", ns, ref.Name, *ref.Port)
	if len(eps) == 0 {
		t.noteBackendTLSAncestors(ns, string(ref.Name), sp) // backend_tls_policy.go
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			agentgateway.WriteError(w, http.StatusServiceUnavailable, "no ready endpoints for "+name)
		}), nil
	}
	h2c := forceH2C || (sp.AppProtocol != nil && *sp.AppProtocol == "kubernetes.io/h2c")
	cfg := agentgateway.HTTPBackendConfig{Name: name, Endpoints: eps, HTTP2: h2c, EjectAfter: -1}
	cfg.Transport = t.transports.get(h2c)
	bs := t.serviceBackendSet(&cfg, ns, string(ref.Name), sp) // backend_policy.go
	if rerr := t.applyBackendTLSPolicy(&cfg, ns, string(ref.Name), sp); rerr != nil {
		return nil, rerr
	}
	b, err := agentgateway.NewHTTPBackend(cfg)
	if err != nil {
		return nil, &refError{string(gwv1.RouteReasonUnsupportedValue), err.Error()}
	}
	return withPolicies(b, bs), nil
}
