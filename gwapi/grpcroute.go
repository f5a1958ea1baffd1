package gwapi

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
)

// attachGRPC attaches the GRPCRoutes, oldest first, after the HTTPRoutes: a gRPC call is an HTTP/2
// POST to /{service}/{method}, so a GRPCRoute becomes ordinary routes with path and header matches
// and h2c backends.
func (t *translator) attachGRPC(res *Result, gateways map[types.NamespacedName]*gatewayState) {
	routes := make([]*gwv1.GRPCRoute, 0, len(t.snap.GRPCRoutes))
	for i := range t.snap.GRPCRoutes {
		routes = append(routes, &t.snap.GRPCRoutes[i])
	}
	slices.SortStableFunc(routes, func(a, b *gwv1.GRPCRoute) int {
		return cmp.Or(a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, r := range routes {
		obj := routeObj{kind: kindGRPC, meta: &r.ObjectMeta, parentRefs: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames,
			rules: func(port int) ([]agentgateway.RouteConfig, bool, string, string) { return t.grpcRules(r, port) }}
		if ps := t.attach(obj, gateways); len(ps) > 0 {
			res.GRPCRoutes[nn(r.Namespace, r.Name)] = ps
		}
	}
}

// grpcRules builds a GRPCRoute's rules; the ResolvedRefs outcome covers every backendRef.
func (t *translator) grpcRules(r *gwv1.GRPCRoute, port int) ([]agentgateway.RouteConfig, bool, string, string) {
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
			gm, err := grpcMatch(m)
			if err != nil {
				fail(&refError{string(gwv1.RouteReasonUnsupportedValue), err.Error()})
				continue
			}
			rc.Matches = append(rc.Matches, gm)
		}
		if len(rule.Matches) > 0 && len(rc.Matches) == 0 {
			continue // every match was invalid: the rule matches nothing
		}
		ps, err := t.filters(kindGRPC, r.Namespace, grpcFilters(rule.Filters), port)
		if err != nil {
			rc.Policies = []agentgateway.Policy{respond500(err.Error())}
			out = append(out, rc)
			continue
		}
		rc.Policies = append(t.attachedPolicies(kindGRPC, r.Namespace, r.Name, ruleName(rule.Name)), ps...)
		for _, br := range rule.BackendRefs {
			w := 1
			if br.Weight != nil {
				w = int(*br.Weight)
			}
			h, rerr := t.backend(kindGRPC, r.Namespace, br.BackendObjectReference, true)
			if rerr != nil {
				fail(rerr)
				h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					agentgateway.WriteError(w, http.StatusInternalServerError, "invalid backend")
				})
			} else if len(br.Filters) > 0 {
				bps, err := t.filters(kindGRPC, r.Namespace, grpcFilters(br.Filters), port)
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

// grpcSegment is what a service or method name may contain when the match leaves it open.
const grpcSegment = `[^/]+`

// grpcMatch turns a GRPCRoute match into a path match on /{service}/{method} plus header matches.
func grpcMatch(m gwv1.GRPCRouteMatch) (agentgateway.Match, error) {
	out := agentgateway.Match{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/"}}
	if mm := m.Method; mm != nil {
		svc, method := "", ""
		if mm.Service != nil {
			svc = *mm.Service
		}
		if mm.Method != nil {
			method = *mm.Method
		}
		regex := mm.Type != nil && *mm.Type == gwv1.GRPCMethodMatchRegularExpression
		switch {
		case regex:
			for _, e := range []string{svc, method} {
				if _, err := regexp.Compile(e); err != nil {
					return out, fmt.Errorf("method match: %w", err)
				}
			}
			out.Path = agentgateway.PathMatch{Type: agentgateway.PathRegex, Value: "/" + cmp.Or(group(svc), grpcSegment) + "/" + cmp.Or(group(method), grpcSegment)}
		case svc != "" && method != "":
			out.Path = agentgateway.PathMatch{Type: agentgateway.PathExact, Value: "/" + svc + "/" + method}
		case svc != "":
			out.Path = agentgateway.PathMatch{Type: agentgateway.PathRegex, Value: "/" + regexp.QuoteMeta(svc) + "/" + grpcSegment}
		case method != "":
			out.Path = agentgateway.PathMatch{Type: agentgateway.PathRegex, Value: "/" + grpcSegment + "/" + regexp.QuoteMeta(method)}
		}
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, agentgateway.ValueMatch{Name: string(h.Name), Value: h.Value,
			Regex: h.Type != nil && *h.Type == gwv1.GRPCHeaderMatchRegularExpression})
	}
	return out, nil
}

// group wraps a user regular expression so that its alternations stay inside its path segment.
func group(expr string) string {
	if expr == "" {
		return ""
	}
	return "(?:" + expr + ")"
}

// grpcFilters maps GRPCRoute filters onto their HTTPRoute equivalents (the same structures); an
// ExtensionRef or unknown type stays unknown so that filters reports it unsupported.
func grpcFilters(fs []gwv1.GRPCRouteFilter) []gwv1.HTTPRouteFilter {
	out := make([]gwv1.HTTPRouteFilter, 0, len(fs))
	for _, f := range fs {
		hf := gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterType(f.Type)}
		switch f.Type {
		case gwv1.GRPCRouteFilterRequestHeaderModifier:
			hf.RequestHeaderModifier = f.RequestHeaderModifier
		case gwv1.GRPCRouteFilterResponseHeaderModifier:
			hf.ResponseHeaderModifier = f.ResponseHeaderModifier
		case gwv1.GRPCRouteFilterRequestMirror:
			hf.RequestMirror = f.RequestMirror
		}
		out = append(out, hf)
	}
	return out
}
