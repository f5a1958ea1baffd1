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

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
)

// SchemaDocument renders the HTTP part of a translation as an agentgateway config document (the
// schema's binds, listeners, routes, services and workloads), the form an xDS control plane serves
// to data planes (xds.Server.SetYAML) and package config compiles. Attachment (parentRefs, allowed
// routes, hostname intersection, precedence) is the translation's own: the document carries the
// routes res programmed, so statuses and the document agree.
//
// What it covers: plain-HTTP listeners; HTTPRoute matches (path, headers, query, method), the
// header modifier, redirect and URL rewrite filters, timeouts and retries; weighted Service
// backendRefs, as `services` and `workloads` built from the Services' EndpointSlices. What it does
// not render fails closed, never open: a rule with another filter, an AgentgatewayBackend or
// InferencePool backendRef, or an AgentgatewayPolicy attached (which may authenticate) answers
// 500; HTTPS, TLS and TCP listeners and GRPCRoutes are left out of the document.
func SchemaDocument(res *Result) ([]byte, error) {
	if res == nil || res.t == nil {
		return nil, fmt.Errorf("gwapi: schema document: %w", ErrUnsupported)
	}
	e := &schemaEmitter{t: res.t, services: map[string]map[string]any{}, workloads: map[string]map[string]any{}}
	doc := e.document(res)
	return json.Marshal(doc)
}

type schemaEmitter struct {
	t         *translator
	services  map[string]map[string]any // by "namespace/hostname"
	workloads map[string]map[string]any // by name
}

func (e *schemaEmitter) document(res *Result) map[string]any {
	binds := map[int][]any{}
	keys := slices.SortedFunc(maps.Keys(res.gateways), func(a, b types.NamespacedName) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, k := range keys {
		gs := res.gateways[k]
		for _, ls := range gs.listeners {
			if ls.cfg == nil || ls.cfg.Protocol != agentgateway.ProtocolHTTP || ls.cfg.TLS != nil {
				continue // HTTPS/TLS/TCP listeners are not rendered yet
			}
			port := int(ls.spec.Port)
			l := map[string]any{"name": k.Namespace + "." + k.Name + "." + string(ls.spec.Name), "protocol": "HTTP"}
			if ls.spec.Hostname != nil && *ls.spec.Hostname != "" {
				l["hostname"] = string(*ls.spec.Hostname)
			}
			gwPolicies := len(e.t.attachedPolicies(kindGateway, gs.gw.Namespace, gs.gw.Name, string(ls.spec.Name))) > 0
			routes := []any{}
			for _, a := range ls.httpRoutes {
				routes = append(routes, e.routes(a, port, gwPolicies)...)
			}
			l["routes"] = routes
			binds[port] = append(binds[port], l)
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
		out["services"], out["workloads"] = ss, ws
	}
	return out
}

// fail500 is the policy of a rule the document cannot express: it answers 500 with why.
func fail500(why string) map[string]any {
	return map[string]any{"directResponse": map[string]any{"status": 500, "body": why + "\n"}}
}

// routes renders one attached HTTPRoute's rules, as routeRules builds them for the runtime.
func (e *schemaEmitter) routes(a attachedHTTP, port int, gwPolicies bool) []any {
	r := a.route
	var out []any
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		rn := "rule" + strconv.Itoa(i)
		if rule.Name != nil {
			rn = string(*rule.Name)
		}
		rt := map[string]any{"name": r.Namespace + "." + r.Name + "." + rn}
		if len(a.hosts) > 0 {
			rt["hostnames"] = a.hosts
		}
		var matches []any
		for _, m := range rule.Matches {
			matches = append(matches, schemaMatch(match(m)))
		}
		if len(matches) > 0 {
			rt["matches"] = matches
		}
		out = append(out, rt)
		if gwPolicies || len(e.t.attachedPolicies(kindHTTP, r.Namespace, r.Name, ruleName(rule.Name))) > 0 {
			rt["policies"] = fail500("an AgentgatewayPolicy applies, which the schema document does not carry yet")
			continue
		}
		pol, err := schemaFilters(rule.Filters, port)
		if err != nil {
			rt["policies"] = fail500(err.Error())
			continue
		}
		if to := rule.Timeouts; to != nil {
			tp := map[string]any{}
			if d := parseDuration(to.Request); d > 0 {
				tp["requestTimeout"] = d.String()
			}
			if d := parseDuration(to.BackendRequest); d > 0 {
				tp["backendRequestTimeout"] = d.String()
			}
			if len(tp) > 0 {
				pol["timeout"] = tp
			}
		}
		if rp := schemaRetry(rule.Retry); rp != nil {
			pol["retry"] = rp
		}
		if len(pol) > 0 {
			rt["policies"] = pol
		}
		var backends []any
		for _, br := range rule.BackendRefs {
			if len(br.Filters) > 0 {
				rt["policies"] = fail500("backendRef filters are not carried by the schema document yet")
				backends = nil
				break
			}
			b, why := e.backend(r.Namespace, br)
			if why != "" {
				// Gateway API: requests to an invalid backend get 500. The runtime keeps the weight
				// share; here the whole rule answers 500 only when no backend is valid.
				continue
			}
			backends = append(backends, b)
		}
		if len(backends) == 0 && len(rule.BackendRefs) > 0 && rt["policies"] == nil {
			rt["policies"] = fail500("invalid backend")
		}
		if len(backends) > 0 {
			rt["backends"] = backends
		}
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

// schemaFilters renders a rule's filters as schema route policies; a filter it cannot express is an
// error (the rule then fails closed).
func schemaFilters(fs []gwv1.HTTPRouteFilter, port int) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range fs {
		switch {
		case f.Type == gwv1.HTTPRouteFilterRequestHeaderModifier && f.RequestHeaderModifier != nil:
			out["requestHeaderModifier"] = schemaHeaderModifier(f.RequestHeaderModifier)
		case f.Type == gwv1.HTTPRouteFilterResponseHeaderModifier && f.ResponseHeaderModifier != nil:
			out["responseHeaderModifier"] = schemaHeaderModifier(f.ResponseHeaderModifier)
		case f.Type == gwv1.HTTPRouteFilterRequestRedirect && f.RequestRedirect != nil:
			rr := f.RequestRedirect
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
			out["requestRedirect"] = red
		case f.Type == gwv1.HTTPRouteFilterURLRewrite && f.URLRewrite != nil:
			u := map[string]any{}
			if f.URLRewrite.Hostname != nil {
				u["authority"] = map[string]any{"full": string(*f.URLRewrite.Hostname)}
			}
			if sp := schemaPath(f.URLRewrite.Path); sp != nil {
				u["path"] = sp
			}
			out["urlRewrite"] = u
		default:
			return nil, fmt.Errorf("filter %s is not carried by the schema document yet: %w", f.Type, ErrUnsupported)
		}
	}
	return out, nil
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

// backend renders a Service backendRef as a service backend of the document's catalog; why is set
// when the ref is invalid or of a kind the document does not carry.
func (e *schemaEmitter) backend(routeNS string, br gwv1.HTTPBackendRef) (map[string]any, string) {
	ref := br.BackendObjectReference
	eps, sp, rerr := e.t.serviceEndpoints(kindHTTP, routeNS, ref)
	if rerr != nil {
		return nil, rerr.msg
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	host := string(ref.Name) + "." + ns + ".svc.cluster.local"
	key := ns + "/" + host
	port := strconv.Itoa(int(*ref.Port))
	svc := e.services[key]
	if svc == nil {
		svc = map[string]any{"name": string(ref.Name), "namespace": ns, "hostname": host, "vips": []string{},
			"ports": map[string]int{}, "appProtocols": map[string]string{}}
		e.services[key] = svc
	}
	svc["ports"].(map[string]int)[port] = int(*ref.Port)
	if sp.AppProtocol != nil && *sp.AppProtocol == "kubernetes.io/h2c" {
		svc["appProtocols"].(map[string]string)[port] = "Http2"
	}
	// One workload per endpoint: endpoints of one Service may share an IP on different ports.
	for _, ep := range eps {
		ip, tp, err := net.SplitHostPort(ep)
		if err != nil {
			continue
		}
		target, err := strconv.Atoi(tp)
		if err != nil {
			continue
		}
		name := strings.NewReplacer("/", ".", ":", "-").Replace(key + "." + port + "." + ep)
		e.workloads[name] = map[string]any{"name": name, "namespace": ns, "workloadIps": []string{ip},
			"services": map[string]map[string]int{key: {port: target}}}
	}
	w := 1
	if br.Weight != nil {
		w = int(*br.Weight)
	}
	return map[string]any{"service": map[string]any{"name": key, "port": int(*ref.Port)}, "weight": w}, ""
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
