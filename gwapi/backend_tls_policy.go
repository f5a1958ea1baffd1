package gwapi

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// btlsPolicy is one BackendTLSPolicy, resolved: the TLS its target Services' connections use, or why
// it is invalid (connections to its targets then fail closed rather than go out in plain text).
type btlsPolicy struct {
	p   *gwv1.BackendTLSPolicy
	cfg policy.BackendTLSConfig
	// reason and msg are set when the policy is invalid (a BackendTLSPolicy ResolvedRefs reason).
	reason, msg string
	// conflict says why the policy is not in force on a target an older one holds, by target.
	conflict map[backendTarget]string
	// gateways are the Gateways whose routes reach a target (the policy's status ancestors), each
	// with why the policy is not in force there ("" when it is, for some route of that Gateway).
	gateways map[types.NamespacedName]string
}

// note records gw as an ancestor of the policy, why being set when the policy is not in force on
// the backend a route of gw reaches; being in force on one backend is enough to be Accepted there.
func (bp *btlsPolicy) note(gw types.NamespacedName, why string) {
	if old, ok := bp.gateways[gw]; ok && old == "" {
		return
	}
	bp.gateways[gw] = why
}

// indexBackendTLSPolicies resolves the BackendTLSPolicies and records them by Service target
// (whole Service, or a port by sectionName). Of two policies on one target the older wins (then the
// first by namespace/name), as GEP-1897 says; the others are Conflicted there.
func (t *translator) indexBackendTLSPolicies() {
	ps := make([]*gwv1.BackendTLSPolicy, 0, len(t.snap.BackendTLSPolicies))
	for i := range t.snap.BackendTLSPolicies {
		ps = append(ps, &t.snap.BackendTLSPolicies[i])
	}
	slices.SortStableFunc(ps, func(a, b *gwv1.BackendTLSPolicy) int {
		return cmp.Or(a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	t.btls, t.btlsLost, t.btlsAll = map[backendTarget]*btlsPolicy{}, map[backendTarget][]*btlsPolicy{}, nil
	for _, p := range ps {
		bp := &btlsPolicy{p: p, gateways: map[types.NamespacedName]string{}, conflict: map[backendTarget]string{}}
		bp.cfg, bp.reason, bp.msg = t.resolveBackendTLSPolicy(p)
		t.btlsAll = append(t.btlsAll, bp)
		for _, tr := range p.Spec.TargetRefs {
			if tr.Group != "" || tr.Kind != kindService {
				continue
			}
			k := backendTarget{kindService, p.Namespace, string(tr.Name), ""}
			if tr.SectionName != nil {
				k.section = string(*tr.SectionName)
			}
			if w, taken := t.btls[k]; taken {
				if w != bp {
					target := "Service " + p.Namespace + "/" + string(tr.Name)
					if k.section != "" {
						target += " port " + k.section
					}
					bp.conflict[k] = fmt.Sprintf("%s is already targeted by BackendTLSPolicy %s/%s, which takes precedence (older, or first by name)", target, w.p.Namespace, w.p.Name)
					t.btlsLost[k] = append(t.btlsLost[k], bp)
				}
				continue
			}
			t.btls[k] = bp
		}
	}
}

// resolveBackendTLSPolicy reads a policy's CA ConfigMaps into the backend TLS configuration.
func (t *translator) resolveBackendTLSPolicy(p *gwv1.BackendTLSPolicy) (policy.BackendTLSConfig, string, string) {
	v := p.Spec.Validation
	cfg := policy.BackendTLSConfig{Hostname: string(v.Hostname), Logger: t.opts.Logger}
	for _, san := range v.SubjectAltNames {
		cfg.SubjectAltNames = append(cfg.SubjectAltNames, cmp.Or(string(san.Hostname), string(san.URI)))
	}
	for _, ref := range v.CACertificateRefs {
		if ref.Group != "" || ref.Kind != kindConfigMap {
			return cfg, string(gwv1.BackendTLSPolicyReasonInvalidKind), fmt.Sprintf("caCertificateRef %s: kind %s is not supported (want a core ConfigMap)", ref.Name, groupKind(string(ref.Group), string(ref.Kind)))
		}
		cm := t.configMap(p.Namespace, string(ref.Name))
		var ca string
		if cm != nil {
			ca = cm.Data[caCertKey]
			if ca == "" {
				ca = string(cm.BinaryData[caCertKey])
			}
		}
		if ca == "" {
			return cfg, string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef), fmt.Sprintf("caCertificateRef ConfigMap %s/%s not found or without %s", p.Namespace, ref.Name, caCertKey)
		}
		cfg.Root = append(cfg.Root, []byte(ca+"\n")...)
	}
	if len(v.CACertificateRefs) == 0 && v.WellKnownCACertificates == nil {
		return cfg, string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef), "neither caCertificateRefs nor wellKnownCACertificates is set"
	}
	if _, err := buildBackendTLS(cfg); err != nil {
		return cfg, string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef), err.Error()
	}
	return cfg, "", ""
}

// buildBackendTLS builds a client TLS configuration as the schema's backendTLS does.
func buildBackendTLS(cfg policy.BackendTLSConfig) (*tls.Config, error) {
	b, err := policy.NewBackendTLS(cfg)
	if err != nil {
		return nil, err
	}
	c := b.Transport().TLSClientConfig.Clone()
	_ = b.Close() // only its configuration is used: the backend pools its own connections
	return c, nil
}

// btlsSections are the targets a Service port can be selected by, most specific first: its name,
// its number, the whole Service.
func btlsSections(ns, name string, sp *corev1.ServicePort) []backendTarget {
	secs := []string{strconv.Itoa(int(sp.Port)), ""}
	if sp.Name != "" {
		secs = append([]string{sp.Name}, secs...)
	}
	out := make([]backendTarget, len(secs))
	for i, sec := range secs {
		out[i] = backendTarget{kindService, ns, name, sec}
	}
	return out
}

// backendTLSPolicyFor is the policy on a Service port (the port's own before the whole Service's).
func (t *translator) backendTLSPolicyFor(ns, name string, sp *corev1.ServicePort) *btlsPolicy {
	for _, k := range btlsSections(ns, name, sp) {
		if bp := t.btls[k]; bp != nil {
			return bp
		}
	}
	return nil
}

// noteBackendTLSAncestors records the Gateway being built as an ancestor of the policies on a
// Service port its routes reach (endpoints or not): the one in force, unless an AgentgatewayPolicy's
// backend.tls overrides it, and those that lost a conflict on the same target.
func (t *translator) noteBackendTLSAncestors(ns, name string, sp *corev1.ServicePort) {
	if t.curGW == nil {
		return
	}
	gw := nn(t.curGW.gw.Namespace, t.curGW.gw.Name)
	for _, k := range btlsSections(ns, name, sp) {
		for _, l := range t.btlsLost[k] {
			l.note(gw, l.conflict[k])
		}
	}
	bp := t.backendTLSPolicyFor(ns, name, sp)
	if bp == nil {
		return
	}
	if bs := t.backendSetFor(kindService, ns, name, sp.Name, strconv.Itoa(int(sp.Port))); bs != nil && bs.tls != nil {
		// GEP-713: a policy not in force because another one on the same target wins, with no merge
		// possible, is Accepted=False/Conflicted, the message naming the winner.
		bp.note(gw, fmt.Sprintf("AgentgatewayPolicy %s sets backend.tls for Service %s/%s port %d, which takes precedence over BackendTLSPolicy", bs.tlsFrom, ns, name, sp.Port))
		return
	}
	bp.note(gw, "")
}

// gatewayBackendCert is a Gateway's spec.tls.backend client certificate, resolved.
type gatewayBackendCert struct {
	certPEM, keyPEM []byte
	// reason and msg are set when the reference is invalid (a Gateway ResolvedRefs reason).
	reason, msg string
}

// backendClientCert resolves a Gateway's spec.tls.backend.clientCertificateRef (nil when unset).
func (t *translator) backendClientCert(gw *gwv1.Gateway) *gatewayBackendCert {
	if gw.Spec.TLS == nil || gw.Spec.TLS.Backend == nil || gw.Spec.TLS.Backend.ClientCertificateRef == nil {
		return nil
	}
	ref := gw.Spec.TLS.Backend.ClientCertificateRef
	invalid := func(format string, args ...any) *gatewayBackendCert {
		return &gatewayBackendCert{reason: string(gwv1.GatewayReasonInvalidClientCertificateRef), msg: fmt.Sprintf(format, args...)}
	}
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != kindSecret) {
		g, k := "", kindSecret
		if ref.Group != nil {
			g = string(*ref.Group)
		}
		if ref.Kind != nil {
			k = string(*ref.Kind)
		}
		return invalid("clientCertificateRef %s: kind %s is not supported (want a core Secret)", ref.Name, groupKind(g, k))
	}
	ns := gw.Namespace
	if ref.Namespace != nil && string(*ref.Namespace) != gw.Namespace {
		ns = string(*ref.Namespace)
		if !t.granted(groupGateway, kindGateway, gw.Namespace, "", kindSecret, ns, string(ref.Name)) {
			return &gatewayBackendCert{reason: string(gwv1.GatewayReasonRefNotPermitted),
				msg: fmt.Sprintf("clientCertificateRef Secret %s/%s: %v", ns, ref.Name, errRefNotPermitted)}
		}
	}
	s := t.secrets[nn(ns, string(ref.Name))]
	if s == nil {
		return invalid("clientCertificateRef Secret %s/%s not found", ns, ref.Name)
	}
	crt, okc := secretValue(s, corev1.TLSCertKey)
	key, okk := secretValue(s, corev1.TLSPrivateKeyKey)
	if !okc || !okk {
		return invalid("clientCertificateRef Secret %s/%s needs %s and %s", ns, ref.Name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	if _, err := tls.X509KeyPair([]byte(crt), []byte(key)); err != nil {
		return invalid("clientCertificateRef Secret %s/%s: %v", ns, ref.Name, err)
	}
	return &gatewayBackendCert{certPEM: []byte(crt), keyPEM: []byte(key)}
}

// condition is the Gateway's ResolvedRefs condition for spec.tls.backend.
func (c *gatewayBackendCert) condition(gen int64) metav1.Condition {
	if c.reason != "" {
		return cond(string(gwv1.GatewayConditionResolvedRefs), false, c.reason, c.msg, gen)
	}
	return cond(string(gwv1.GatewayConditionResolvedRefs), true, string(gwv1.GatewayReasonResolvedRefs), "backend client certificate resolved", gen)
}

// valid is the certificate to present, nil when unset or invalid.
func (c *gatewayBackendCert) valid() *gatewayBackendCert {
	if c == nil || c.reason != "" {
		return nil
	}
	return c
}

// applyBackendTLSPolicy makes a Service backend's connections TLS as the BackendTLSPolicy on its
// port says, unless an AgentgatewayPolicy's backend.tls already did; the Gateway being built
// (t.curGW) presents its spec.tls.backend client certificate on them. An invalid policy fails
// closed.
func (t *translator) applyBackendTLSPolicy(cfg *agentgateway.HTTPBackendConfig, ns, name string, sp *corev1.ServicePort) *refError {
	bp := t.backendTLSPolicyFor(ns, name, sp)
	t.noteBackendTLSAncestors(ns, name, sp)
	var gc *gatewayBackendCert
	if t.curGW != nil {
		gc = t.curGW.backendCert.valid()
	}
	switch {
	case cfg.TLS != nil: // backend.tls of an AgentgatewayPolicy
		if gc != nil && len(cfg.TLS.Certificates) == 0 {
			if pair, err := tls.X509KeyPair(gc.certPEM, gc.keyPEM); err == nil {
				cfg.TLS.Certificates = []tls.Certificate{pair}
			}
		}
		return nil
	case bp == nil:
		return nil
	case bp.reason != "":
		return &refError{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("BackendTLSPolicy %s/%s is invalid: %s", bp.p.Namespace, bp.p.Name, bp.msg)}
	}
	c := bp.cfg
	if gc != nil {
		c.Cert, c.Key = gc.certPEM, gc.keyPEM
	}
	tc, err := buildBackendTLS(c)
	if err != nil {
		return &refError{string(gwv1.RouteReasonUnsupportedValue), err.Error()}
	}
	eps := make([]string, len(cfg.Endpoints))
	for i, ep := range cfg.Endpoints {
		eps[i] = "https://" + ep
	}
	cfg.Endpoints, cfg.Transport, cfg.TLS, cfg.Dial = eps, nil, tc, t.transports.dialer()
	return nil
}

// backendTLSPolicyStatuses are the BackendTLSPolicies' ancestor statuses: one per Gateway whose
// routes reach a target.
func (t *translator) backendTLSPolicyStatuses() map[types.NamespacedName][]gwv1.PolicyAncestorStatus {
	out := map[types.NamespacedName][]gwv1.PolicyAncestorStatus{}
	for _, bp := range t.btlsAll {
		gen := bp.p.Generation
		res := cond(string(gwv1.BackendTLSPolicyConditionResolvedRefs), true, string(gwv1.BackendTLSPolicyReasonResolvedRefs), "resolved", gen)
		if bp.reason != "" {
			res = cond(string(gwv1.BackendTLSPolicyConditionResolvedRefs), false, bp.reason, bp.msg, gen)
		}
		keys := slices.SortedFunc(maps.Keys(bp.gateways), func(a, b types.NamespacedName) int { return cmp.Compare(a.String(), b.String()) })
		var as []gwv1.PolicyAncestorStatus
		for _, k := range keys {
			acc := cond(string(gwv1.PolicyConditionAccepted), true, string(gwv1.PolicyReasonAccepted), "accepted", gen)
			switch why := bp.gateways[k]; {
			case why != "":
				acc = cond(string(gwv1.PolicyConditionAccepted), false, string(gwv1.PolicyReasonConflicted), why, gen)
			case bp.reason != "":
				acc = cond(string(gwv1.PolicyConditionAccepted), false, string(gwv1.BackendTLSPolicyReasonNoValidCACertificate), bp.msg, gen)
			}
			as = append(as, gwv1.PolicyAncestorStatus{ControllerName: t.opts.ControllerName,
				AncestorRef: gwv1.ParentReference{Group: ptr(gwv1.Group(groupGateway)), Kind: ptr(gwv1.Kind(kindGateway)),
					Namespace: ptr(gwv1.Namespace(k.Namespace)), Name: gwv1.ObjectName(k.Name)},
				Conditions: []metav1.Condition{acc, res}})
		}
		out[nn(bp.p.Namespace, bp.p.Name)] = as
	}
	return out
}

// schemaBackendTLSPolicy renders what applyBackendTLSPolicy does into a Service backend's schema
// policies (pols, which may hold an AgentgatewayPolicy's backendTLS); why is set to fail closed.
func (e *schemaEmitter) schemaBackendTLSPolicy(pols map[string]any, ns, name string, sp *corev1.ServicePort) (map[string]any, string) {
	var gc *gatewayBackendCert
	if e.gs != nil {
		gc = e.gs.backendCert.valid()
	}
	if bt, ok := pols["backendTLS"].(map[string]any); ok {
		if gc != nil && bt["cert"] == nil {
			bt["cert"], bt["key"] = string(gc.certPEM), string(gc.keyPEM)
		}
		return pols, ""
	}
	bp := e.t.backendTLSPolicyFor(ns, name, sp)
	if bp == nil {
		return pols, ""
	}
	if bp.reason != "" {
		return nil, fmt.Sprintf("BackendTLSPolicy %s/%s is invalid: %s", bp.p.Namespace, bp.p.Name, bp.msg)
	}
	c := bp.cfg
	if gc != nil {
		c.Cert, c.Key = gc.certPEM, gc.keyPEM
	}
	if pols == nil {
		pols = map[string]any{}
	}
	pols["backendTLS"] = schemaBackendTLS(c)
	return pols, ""
}
