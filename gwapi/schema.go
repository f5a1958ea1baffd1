package gwapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	infv1 "github.com/agentgw/agentgateway/gwapi/apis/inference/v1"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

// SchemaDocument renders a translation as an agentgateway config document (the schema's binds,
// listeners, routes, services and workloads), the form an xDS control plane serves to data planes
// (xds.Server.SetYAML) and package config compiles. Attachment (parentRefs, allowed routes, hostname
// intersection, precedence) is the translation's own: the document carries the routes res
// programmed, so statuses and the document agree.
//
// What it covers: HTTP and HTTPS listeners (certificates inline, from their Secrets), TLS listeners
// (terminating or passthrough) and TCP listeners with their TLSRoutes and TCPRoutes as `tcpRoutes`;
// HTTPRoutes and GRPCRoutes (matches, every core and extended filter: header modifiers, redirects,
// rewrites, mirrors, CORS; per-backend filters; timeouts and retries); Service backendRefs as
// `services` and `workloads` built from the Services' EndpointSlices; AgentgatewayBackends (static,
// mcp, a2a, ai); InferencePools (the pool's pods behind its endpoint picker); and the
// AgentgatewayPolicies attached to Gateways, routes and rules. The Gateways of res share one
// document: listeners of several Gateways on one port are told apart by hostname. What it cannot
// render fails closed, never open: the rule answers 500 saying why.
func SchemaDocument(res *Result) ([]byte, error) {
	return SchemaDocumentFor(res)
}

// SchemaDocumentFor renders the listeners of the given Gateways only (all when none is given): the
// document of a data plane that serves those Gateways' addresses, e.g. one deployment per Gateway.
func SchemaDocumentFor(res *Result, gateways ...types.NamespacedName) ([]byte, error) {
	if res == nil || res.t == nil {
		return nil, fmt.Errorf("gwapi: schema document: %w", ErrUnsupported)
	}
	e := &schemaEmitter{t: res.t, res: res, services: map[string]map[string]any{}, workloads: map[string]map[string]any{}}
	doc := e.document(res, gateways)
	return json.Marshal(escapeDollars(doc))
}

// escapeDollars doubles every "$" in the document's string values: the data plane expands $VAR in
// them (config.Load), and a Kubernetes object's strings (a regex ending in "$", a header value, a
// certificate) are literal. Object keys are not expanded.
func escapeDollars(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "$", "$$")
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = strings.ReplaceAll(s, "$", "$$")
		}
		return out
	case []any:
		for i := range x {
			x[i] = escapeDollars(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = escapeDollars(x[k])
		}
		return x
	case map[string]string:
		out := make(map[string]string, len(x))
		for k, s := range x {
			out[k] = strings.ReplaceAll(s, "$", "$$")
		}
		return out
	}
	return v
}

type schemaEmitter struct {
	t         *translator
	res       *Result
	services  map[string]map[string]any // by "namespace/hostname"
	workloads map[string]map[string]any // by name
	// gs is the Gateway whose listener is being rendered (backend_tls_policy.go).
	gs *gatewayState
}

func (e *schemaEmitter) document(res *Result, only []types.NamespacedName) map[string]any {
	binds := map[int][]any{}
	keys := slices.SortedFunc(maps.Keys(res.gateways), func(a, b types.NamespacedName) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, k := range keys {
		if len(only) > 0 && !slices.Contains(only, k) {
			continue
		}
		gs := res.gateways[k]
		for _, ls := range gs.listeners {
			if ls.cfg == nil || gs.problem != nil { // a Gateway not served as specified (gateway_spec.go)
				continue
			}
			if l := e.listener(k, gs, ls); l != nil {
				binds[int(ls.spec.Port)] = append(binds[int(ls.spec.Port)], l)
			}
		}
	}
	out := map[string]any{}
	var bl []any
	for _, p := range slices.Sorted(maps.Keys(binds)) {
		bl = append(bl, map[string]any{"port": p, "listeners": binds[p]})
	}
	if bl == nil {
		bl = []any{}
	}
	out["binds"] = bl
	if len(e.services) > 0 {
		var ss, ws []any
		for _, k := range slices.Sorted(maps.Keys(e.services)) {
			ss = append(ss, e.services[k])
		}
		for _, k := range slices.Sorted(maps.Keys(e.workloads)) {
			ws = append(ws, e.workloads[k])
		}
		out["services"] = ss
		if len(ws) > 0 {
			out["workloads"] = ws
		}
	}
	return out
}

// listener renders one programmed listener and the routes attached to it.
func (e *schemaEmitter) listener(k types.NamespacedName, gs *gatewayState, ls *listenerState) map[string]any {
	port := int(ls.spec.Port)
	e.gs = gs
	l := map[string]any{"name": k.Namespace + "." + k.Name + "." + string(ls.spec.Name)}
	if ls.spec.Hostname != nil && *ls.spec.Hostname != "" {
		l["hostname"] = string(*ls.spec.Hostname)
	}
	if ls.cfg.TLS != nil {
		tls, err := e.listenerTLS(gs.gw, ls.spec)
		if err != nil {
			return nil // the translation loaded these certificates; a Secret that vanished since serves nothing
		}
		if ls.frontend != nil && len(ls.frontend.pems) > 0 {
			ls.frontend.schemaMTLS(tls) // frontend_tls.go
		}
		l["tls"] = tls
	}
	switch ls.cfg.Protocol {
	case agentgateway.ProtocolTLS, agentgateway.ProtocolTCP:
		l["protocol"] = string(ls.spec.Protocol)
		routes := []any{}
		for _, a := range ls.httpRoutes {
			routes = append(routes, e.l4Routes(a, ls.cfg.Protocol == agentgateway.ProtocolTLS)...)
		}
		l["tcpRoutes"] = routes
		return l
	}
	l["protocol"] = "HTTP"
	if ls.cfg.TLS != nil {
		l["protocol"] = "HTTPS"
	}
	gwPolicies := e.policiesOf(kindGateway, gs.gw.Namespace, gs.gw.Name, string(ls.spec.Name))
	routes := []any{}
	for _, a := range ls.httpRoutes {
		switch a.kind {
		case kindHTTP:
			routes = append(routes, e.routes(a, port, gwPolicies)...)
		case kindGRPC:
			routes = append(routes, e.grpcRoutes(a, port, gwPolicies)...)
		}
	}
	// The translation ends every HTTP listener with its plain-text 404 (noRoute).
	routes = append(routes, map[string]any{"name": l["name"].(string) + ".no-route", "policies": map[string]any{
		"directResponse": map[string]any{"status": 404, "body": "no route matched\n",
			"headers": map[string]string{"content-type": "'text/plain; charset=utf-8'"}}}})
	l["routes"] = routes
	return l
}

// listenerTLS renders the certificates a terminating listener names, inline (PEM), from their
// Secrets; the translation validated them.
func (e *schemaEmitter) listenerTLS(gw *gwv1.Gateway, l *gwv1.Listener) (map[string]any, error) {
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		return nil, fmt.Errorf("listener %s has no certificateRefs: %w", l.Name, ErrUnsupported)
	}
	var certs []any
	for _, ref := range l.TLS.CertificateRefs {
		ns := gw.Namespace
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		s := e.t.secrets[nn(ns, string(ref.Name))]
		if s == nil {
			return nil, fmt.Errorf("secret %s/%s not found", ns, ref.Name)
		}
		certs = append(certs, map[string]any{"cert": string(s.Data[corev1.TLSCertKey]), "key": string(s.Data[corev1.TLSPrivateKeyKey])})
	}
	// The schema's listener has one certificate: the first, which clients without a matching SNI get
	// from the runtime too; the others go in our additionalCertificates, chosen by SNI as the
	// runtime's tls.Config.Certificates are.
	out := certs[0].(map[string]any)
	if len(certs) > 1 {
		out["additionalCertificates"] = certs[1:]
	}
	return out, nil
}

// fail500 is the policy of a rule the document cannot express: it answers 500 with why.
func fail500(why string) map[string]any {
	return map[string]any{"directResponse": map[string]any{"status": 500, "body": why + "\n"}}
}

// schemaRule is what a rule of an HTTPRoute or a GRPCRoute renders from.
type schemaRule struct {
	name     string
	matches  []any
	filters  []gwv1.HTTPRouteFilter
	timeouts *gwv1.HTTPRouteTimeouts
	retry    *gwv1.HTTPRouteRetry
	backends []schemaBackendRef
	grpc     bool
}

type schemaBackendRef struct {
	ref     gwv1.BackendObjectReference
	weight  *int32
	filters []gwv1.HTTPRouteFilter
}

// routes renders one attached HTTPRoute's rules, as routeRules builds them for the runtime.
func (e *schemaEmitter) routes(a attachedHTTP, port int, gwPolicies map[string]any) []any {
	r := a.route
	var out []any
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		sr := schemaRule{name: ruleLabel(i, rule.Name), filters: rule.Filters, timeouts: rule.Timeouts, retry: rule.Retry}
		for _, m := range rule.Matches {
			sr.matches = append(sr.matches, schemaMatch(match(m)))
		}
		for _, br := range rule.BackendRefs {
			sr.backends = append(sr.backends, schemaBackendRef{br.BackendObjectReference, br.Weight, br.Filters})
		}
		out = append(out, e.rule(kindHTTP, r.Namespace, r.Name, rule.Name, sr, a.hosts, port, gwPolicies))
	}
	return out
}

func ruleLabel(i int, name *gwv1.SectionName) string {
	if name != nil {
		return string(*name)
	}
	return "rule" + strconv.Itoa(i)
}

// rule renders one rule of a route of kind in namespace ns named name.
func (e *schemaEmitter) rule(kind, ns, name string, ruleName *gwv1.SectionName, sr schemaRule, hosts []string, port int, gwPolicies map[string]any) map[string]any {
	rt := map[string]any{"name": ns + "." + name + "." + sr.name}
	if kind == kindGRPC {
		rt["name"] = "grpc." + rt["name"].(string)
	}
	if len(hosts) > 0 {
		rt["hostnames"] = hosts
	}
	if len(sr.matches) > 0 {
		rt["matches"] = sr.matches
	}
	pol, err := e.schemaFilters(kind, ns, sr.filters, port)
	if err != nil {
		rt["policies"] = fail500(err.Error())
		return rt
	}
	// The translation's order: Gateway policies, the route's, the rule's, then the filters.
	attached := e.policiesOf(kind, ns, name, ruleLabelOrEmpty(ruleName))
	pol = mergePolicies(gwPolicies, attached, pol)
	if to := sr.timeouts; to != nil {
		tp := map[string]any{}
		if d := parseDuration(to.Request); d > 0 {
			tp["requestTimeout"] = d.String()
		}
		if d := parseDuration(to.BackendRequest); d > 0 {
			tp["backendRequestTimeout"] = d.String()
		}
		if len(tp) > 0 {
			mergeFirst(pol, map[string]any{"timeout": tp})
		}
	}
	if rp := schemaRetry(sr.retry); rp != nil {
		mergeFirst(pol, map[string]any{"retry": rp}) // an AgentgatewayPolicy's retry, set first, wins
	}
	var backends []any
	var lifted []map[string]any // route policies the valid backends bring (schema_lift.go)
	valid := 0
	for _, br := range sr.backends {
		w := 1
		if br.weight != nil {
			w = int(*br.weight)
		}
		b, why := e.backend(kind, ns, br.ref, sr.grpc)
		if why != "" {
			// Gateway API: requests to an invalid backend get 500, in proportion to its weight.
			backends = append(backends, invalidBackend(w))
			continue
		}
		if len(br.filters) > 0 {
			bp, err := e.schemaFilters(kind, ns, br.filters, port)
			if err != nil {
				b = invalidBackend(w) // the translation's status says UnsupportedValue; fail closed
			} else if len(bp) > 0 {
				own, _ := b["policies"].(map[string]any) // the backend's own: kept, as the translation wraps them
				if own == nil {
					own = map[string]any{}
				}
				mergeFirst(own, bp)
				b["policies"] = own
			}
		}
		lifted = append(lifted, takeLifted(b))
		b["weight"] = w
		backends = append(backends, b)
		valid++
	}
	if why := liftRoutePolicies(pol, lifted); why != "" {
		rt["policies"] = fail500(why)
		return rt
	}
	if valid == 0 {
		// No backend to call: unless a redirect answers, the runtime's table answers 500.
		_, redirect := pol["requestRedirect"]
		_, direct := pol["directResponse"]
		if !redirect && !direct {
			why := "route has no backend"
			if len(sr.backends) > 0 {
				why = "invalid backend"
			}
			pol["directResponse"] = fail500(why)["directResponse"]
		}
		backends = nil
	}
	if len(pol) > 0 {
		rt["policies"] = pol
	}
	if len(backends) > 0 {
		rt["backends"] = backends
	}
	return rt
}

func ruleLabelOrEmpty(n *gwv1.SectionName) string {
	if n == nil {
		return ""
	}
	return string(*n)
}

// invalidBackend keeps an invalid backendRef's share of the traffic, answering it 500 (a backend
// policy answers before the unreachable host is dialled).
func invalidBackend(weight int) map[string]any {
	return map[string]any{"host": "invalid.invalid:9", "weight": weight,
		"policies": map[string]any{"directResponse": map[string]any{"status": 500, "body": "invalid backend\n"}}}
}

// mergePolicies joins policy objects in the translation's order; a key several set is resolved by
// mergeFirst (schema_merge.go).
func mergePolicies(parts ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, p := range parts {
		mergeRoute(out, p)
	}
	return out
}

// schemaMatch renders a runtime Match in the schema's RouteMatch form.
func schemaMatch(m agentgateway.Match) map[string]any {
	out := map[string]any{}
	switch m.Path.Type {
	case agentgateway.PathExact:
		out["path"] = map[string]any{"exact": m.Path.Value}
	case agentgateway.PathRegex:
		out["path"] = map[string]any{"regex": m.Path.Value}
	default:
		out["path"] = map[string]any{"pathPrefix": m.Path.Value}
	}
	if m.Method != "" {
		out["method"] = m.Method
	}
	vm := func(v agentgateway.ValueMatch) map[string]any {
		if v.Regex {
			return map[string]any{"name": v.Name, "value": map[string]any{"regex": v.Value}}
		}
		return map[string]any{"name": v.Name, "value": map[string]any{"exact": v.Value}}
	}
	for _, h := range m.Headers {
		out["headers"] = append(asList(out["headers"]), vm(h))
	}
	for _, q := range m.Query {
		out["query"] = append(asList(out["query"]), vm(q))
	}
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func schemaHeaderModifier(f *gwv1.HTTPHeaderFilter) map[string]any {
	m := headerModifier(f)
	out := map[string]any{}
	if len(m.Set) > 0 {
		out["set"] = m.Set
	}
	if len(m.Add) > 0 {
		out["add"] = m.Add
	}
	if len(m.Remove) > 0 {
		out["remove"] = m.Remove
	}
	return out
}

func schemaPath(p *gwv1.HTTPPathModifier) map[string]any {
	switch pm := pathModifier(p); {
	case pm == nil:
		return nil
	case pm.ReplaceFullPath != nil:
		return map[string]any{"full": *pm.ReplaceFullPath}
	case pm.ReplacePrefixMatch != nil:
		return map[string]any{"prefix": *pm.ReplacePrefixMatch}
	}
	return nil
}

// schemaFilters renders a rule's (or a backendRef's) filters as schema policies; a filter it cannot
// express is an error (the rule then fails closed), as filters reports for the runtime.
func (e *schemaEmitter) schemaFilters(kind, ns string, fs []gwv1.HTTPRouteFilter, port int) (map[string]any, error) {
	out := map[string]any{}
	var mirrors []any
	for _, f := range fs {
		switch {
		case f.Type == gwv1.HTTPRouteFilterRequestHeaderModifier && f.RequestHeaderModifier != nil:
			out["requestHeaderModifier"] = schemaHeaderModifier(f.RequestHeaderModifier)
		case f.Type == gwv1.HTTPRouteFilterResponseHeaderModifier && f.ResponseHeaderModifier != nil:
			out["responseHeaderModifier"] = schemaHeaderModifier(f.ResponseHeaderModifier)
		case f.Type == gwv1.HTTPRouteFilterRequestRedirect && f.RequestRedirect != nil:
			out["requestRedirect"] = schemaRedirect(f.RequestRedirect, port)
		case f.Type == gwv1.HTTPRouteFilterURLRewrite && f.URLRewrite != nil:
			u := map[string]any{}
			if f.URLRewrite.Hostname != nil {
				u["authority"] = map[string]any{"full": string(*f.URLRewrite.Hostname)}
			}
			if sp := schemaPath(f.URLRewrite.Path); sp != nil {
				u["path"] = sp
			}
			out["urlRewrite"] = u
		case f.Type == gwv1.HTTPRouteFilterRequestMirror && f.RequestMirror != nil:
			m, err := e.schemaMirror(kind, ns, f.RequestMirror)
			if err != nil {
				return nil, fmt.Errorf("filter %s: %w", f.Type, err)
			}
			mirrors = append(mirrors, m)
		case f.Type == gwv1.HTTPRouteFilterCORS && f.CORS != nil:
			out["cors"] = schemaCORS(f.CORS)
		default:
			return nil, fmt.Errorf("filter %s: %w", f.Type, ErrUnsupported)
		}
	}
	switch len(mirrors) {
	case 0:
	case 1:
		out["requestMirror"] = mirrors[0]
	default:
		out["requestMirror"] = mirrors // a list: each mirror gets its own copy
	}
	return out, nil
}

func schemaRedirect(rr *gwv1.HTTPRequestRedirectFilter, port int) map[string]any {
	red := map[string]any{"status": 302}
	if rr.StatusCode != nil {
		red["status"] = *rr.StatusCode
	}
	if rr.Scheme != nil {
		red["scheme"] = *rr.Scheme
	}
	p := 0
	switch {
	case rr.Port != nil:
		p = int(*rr.Port)
	case rr.Scheme == nil:
		p = port // Gateway API: the listener's port (dropped when well known)
	}
	switch {
	case rr.Hostname != nil && p != 0:
		red["authority"] = map[string]any{"full": net.JoinHostPort(string(*rr.Hostname), strconv.Itoa(p))}
	case rr.Hostname != nil:
		red["authority"] = map[string]any{"host": string(*rr.Hostname)}
	case p != 0:
		red["authority"] = map[string]any{"port": p}
	}
	if sp := schemaPath(rr.Path); sp != nil {
		red["path"] = sp
	}
	return red
}

// schemaMirror renders a RequestMirror filter: the mirror's backend (a Service of the document's
// catalog) and the fraction of requests copied, as filters computes it.
func (e *schemaEmitter) schemaMirror(kind, ns string, m *gwv1.HTTPRequestMirrorFilter) (map[string]any, error) {
	b, why := e.backend(kind, ns, m.BackendRef, kind == kindGRPC)
	if why != "" {
		return nil, fmt.Errorf("mirror backend: %s", why)
	}
	svc, ok := b["service"]
	if !ok {
		return nil, fmt.Errorf("mirror backend: only a Service can be mirrored to in the schema document: %w", ErrUnsupported)
	}
	pct := 1.0
	if m.Percent != nil {
		pct = float64(*m.Percent) / 100
	} else if fr := m.Fraction; fr != nil {
		den := int32(100)
		if fr.Denominator != nil {
			den = *fr.Denominator
		}
		if den > 0 {
			pct = float64(fr.Numerator) / float64(den)
		}
	}
	return map[string]any{"backend": map[string]any{"service": svc}, "percentage": pct}, nil
}

// schemaCORS renders a CORS filter as the schema's cors policy, with the CRD's default max age.
func schemaCORS(c *gwv1.HTTPCORSFilter) map[string]any {
	out := map[string]any{"allowCredentials": c.AllowCredentials != nil && *c.AllowCredentials}
	strs := func(key string, n int, at func(int) string) {
		if n == 0 {
			return
		}
		l := make([]string, n)
		for i := range l {
			l[i] = at(i)
		}
		out[key] = l
	}
	strs("allowOrigins", len(c.AllowOrigins), func(i int) string { return string(c.AllowOrigins[i]) })
	strs("allowMethods", len(c.AllowMethods), func(i int) string { return string(c.AllowMethods[i]) })
	strs("allowHeaders", len(c.AllowHeaders), func(i int) string { return string(c.AllowHeaders[i]) })
	strs("exposeHeaders", len(c.ExposeHeaders), func(i int) string { return string(c.ExposeHeaders[i]) })
	age := c.MaxAge
	if age == 0 {
		age = 5 // the CRD default
	}
	out["maxAge"] = strconv.Itoa(int(age)) + "s"
	return out
}

func schemaRetry(r *gwv1.HTTPRouteRetry) map[string]any {
	if r == nil {
		return nil
	}
	attempts := 2
	if r.Attempts != nil {
		attempts = *r.Attempts + 1
	}
	if attempts < 2 {
		return nil
	}
	codes := []int{503}
	if len(r.Codes) > 0 {
		codes = codes[:0]
		for _, c := range r.Codes {
			codes = append(codes, int(c))
		}
	}
	out := map[string]any{"attempts": attempts, "codes": codes}
	if d := parseDuration(r.Backoff); d > 0 {
		out["backoff"] = d.String()
	}
	return out
}

// backend renders a backendRef: a Service as a service backend of the document's catalog, an
// AgentgatewayBackend or an InferencePool as theirs; why is set when the ref is invalid (as the
// translation resolved it). h2c forces HTTP/2 without TLS to a Service (gRPC).
func (e *schemaEmitter) backend(kind, routeNS string, ref gwv1.BackendObjectReference, h2c bool) (map[string]any, string) {
	group, rkind := "", kindService
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		rkind = string(*ref.Kind)
	}
	switch {
	case group == agwv1a1.GroupName && rkind == agwv1a1.KindBackend:
		return e.agwBackend(kind, routeNS, ref)
	case group == infv1.GroupName && rkind == infv1.KindInferencePool:
		return e.poolBackend(kind, routeNS, ref)
	}
	eps, sp, rerr := e.t.serviceEndpoints(kind, routeNS, ref)
	if rerr != nil {
		return nil, rerr.msg
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	var pols map[string]any // spec.backend of the policies that target the Service or this port
	if e.t.backendSetFor(kindService, ns, string(ref.Name), sp.Name, strconv.Itoa(int(sp.Port))) != nil {
		var why string
		if pols, why = e.backendTargetBodies("", kindService, ns, string(ref.Name), sp.Name, strconv.Itoa(int(sp.Port))); why != "" {
			return nil, why
		}
		// As the translation: TLS to a Service verifies its cluster DNS name unless the policy says.
		if t, ok := pols["backendTLS"].(map[string]any); ok && t["hostname"] == nil {
			t["hostname"] = string(ref.Name) + "." + ns + ".svc.cluster.local"
		}
	}
	var why string
	if pols, why = e.schemaBackendTLSPolicy(pols, ns, string(ref.Name), sp); why != "" { // backend_tls_policy.go
		return nil, why
	}
	key := e.catalogService(ns, string(ref.Name), int(*ref.Port), eps)
	if h2c || (sp.AppProtocol != nil && *sp.AppProtocol == "kubernetes.io/h2c") {
		e.services[key]["appProtocols"].(map[string]string)[strconv.Itoa(int(*ref.Port))] = "Http2"
	}
	out := map[string]any{"service": map[string]any{"name": key, "port": int(*ref.Port)}}
	if len(pols) > 0 {
		out["policies"] = pols
	}
	return out, ""
}

// catalogService adds (or extends) the document's service name.ns.svc.cluster.local with port and
// one workload per endpoint ("ip:targetPort"), and returns its catalog key.
func (e *schemaEmitter) catalogService(ns, name string, port int, eps []string) string {
	host := name + "." + ns + ".svc.cluster.local"
	key := ns + "/" + host
	ps := strconv.Itoa(port)
	svc := e.services[key]
	if svc == nil {
		svc = map[string]any{"name": name, "namespace": ns, "hostname": host, "vips": []string{},
			"ports": map[string]int{}, "appProtocols": map[string]string{}}
		e.services[key] = svc
	}
	svc["ports"].(map[string]int)[ps] = port
	// One workload per IP, mapping each port of the Service to its target there: a workload the
	// Service selects serves every port of it (a port it does not map goes to the service port),
	// so a workload per port would add an endpoint on the wrong port to the Service's other ports.
	// An IP with two targets for one port (endpoints of different slices) gets one more workload.
	rep := strings.NewReplacer("/", ".", ":", "-")
	for _, ep := range eps {
		ip, tp, err := net.SplitHostPort(ep)
		if err != nil {
			continue
		}
		target, err := strconv.Atoi(tp)
		if err != nil {
			continue
		}
		wn := rep.Replace(key + "." + ip)
		if w := e.workloads[wn]; w != nil {
			if t, ok := w["services"].(map[string]map[string]int)[key][ps]; ok && t != target {
				wn = rep.Replace(key + "." + ps + "." + ep)
			}
		}
		w := e.workloads[wn]
		if w == nil {
			w = map[string]any{"name": wn, "namespace": ns, "workloadIps": []string{ip},
				"services": map[string]map[string]int{key: {}}}
			e.workloads[wn] = w
		}
		w["services"].(map[string]map[string]int)[key][ps] = target
	}
	return key
}

// SchemaServer is what [PublishXDS] needs of an xDS control plane (xds.Server).
type SchemaServer interface {
	SetYAML(doc []byte) error
}

// PublishXDS returns a [Controller].Publish that serves each translation's [SchemaDocument] on srv,
// so that data planes configured with config.xdsAddress serve the cluster's routes.
func PublishXDS(srv SchemaServer) func(*Result) error {
	return func(res *Result) error {
		doc, err := SchemaDocument(res)
		if err != nil {
			return err
		}
		return srv.SetYAML(doc)
	}
}
