package config

import (
	"fmt"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// Top-level `policies` (the schema's LocalPolicy): a policy attached by target instead of inline. A
// route target merges it under the route's own policies (the route's inline keys win, as the more
// specific attachment); a gateway target in the gateway phase adds it to the gateway's (or one
// listener's) policies, which run before route selection. Backend and listener-set targets, and
// route-phase policies on gateways, are refused.

// targetedPolicySpec is one entry of `policies`.
type targetedPolicySpec struct {
	Name   string `json:"name"`
	Target struct {
		Gateway *struct {
			GatewayName      string `json:"gatewayName"`
			GatewayNamespace string `json:"gatewayNamespace"`
			ListenerName     string `json:"listenerName"`
			Port             *int   `json:"port"`
		} `json:"gateway"`
		Route *struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
			RuleName  string `json:"ruleName"`
			Kind      string `json:"kind"`
		} `json:"route"`
		Backend     Node `json:"backend"`
		ListenerSet Node `json:"listenerSet"`
	} `json:"target"`
	Phase  string `json:"phase"`
	Policy Node   `json:"policy"`
}

// applyTargetedPolicies attaches the top-level policies to their targets (after every other
// section is decoded).
func (f *File) applyTargetedPolicies(n *yaml.Node) []error {
	specs, err := Decode[[]targetedPolicySpec](Node{n: n, path: "policies"})
	if err != nil {
		return []error{err}
	}
	var errs []error
	for i, s := range specs {
		p := fmt.Sprintf("policies[%d]", i)
		t := s.Target
		switch {
		case s.Name == "":
			errs = append(errs, agentgateway.Errorf(p+".name", "a policy needs a name"))
		case s.Policy.IsZero():
			errs = append(errs, agentgateway.Errorf(p+".policy", "a policy needs policy"))
		case s.Phase != "" && s.Phase != "route" && s.Phase != "gateway":
			errs = append(errs, agentgateway.Errorf(p+".phase", "want route or gateway, got %q", s.Phase))
		case !t.Backend.IsZero() || !t.ListenerSet.IsZero():
			errs = append(errs, refuseField(p+".target", "policies"))
		case t.Route != nil && t.Gateway == nil:
			if s.Phase == "gateway" {
				errs = append(errs, agentgateway.Errorf(p+".phase", "a route target runs in the route phase"))
				continue
			}
			if n := f.attachToRoutes(t.Route.Name, t.Route.Namespace, t.Route.RuleName, s.Policy); n == 0 {
				errs = append(errs, agentgateway.Errorf(p+".target.route", "no route named %q", t.Route.Name))
			}
		case t.Gateway != nil && t.Route == nil:
			if s.Phase != "gateway" {
				errs = append(errs, refuseField(p+".phase", "policies"))
				continue
			}
			if err := f.attachToGateway(t.Gateway.GatewayName, t.Gateway.ListenerName, s.Policy); err != nil {
				errs = append(errs, agentgateway.Errorf(p+".target.gateway", "%w", err))
			}
		default:
			errs = append(errs, agentgateway.Errorf(p+".target", "set exactly one of gateway, route, backend, listenerSet"))
		}
	}
	return errs
}

// attachToRoutes merges pol under the policies of every route with that name (and namespace and
// rule name when given), and reports how many there were.
func (f *File) attachToRoutes(name, ns, rule string, pol Node) int {
	n := 0
	visit := func(r *RouteSpec) {
		if r.Name == name && (ns == "" || r.Namespace == ns) && (rule == "" || r.RuleName == rule) {
			r.Policies = mergePolicies(pol, r.Policies)
			n++
		}
	}
	for i := range f.Binds {
		for j := range f.Binds[i].Listeners {
			for k := range f.Binds[i].Listeners[j].Routes {
				visit(&f.Binds[i].Listeners[j].Routes[k])
			}
		}
	}
	for i := range f.routes {
		visit(&f.routes[i].Route)
	}
	for i := range f.routeGroups {
		for j := range f.routeGroups[i].Routes {
			visit(&f.routeGroups[i].Routes[j])
		}
	}
	return n
}

// attachToGateway merges pol under the policies of a named gateway, or of one of its listeners.
func (f *File) attachToGateway(gw, listener string, pol Node) error {
	for i := range f.gateways {
		g := &f.gateways[i]
		if g.Name != gw {
			continue
		}
		if listener == "" {
			if len(g.Listeners) > 0 {
				for j := range g.Listeners {
					g.Listeners[j].Policies = mergePolicies(pol, g.Listeners[j].Policies)
				}
				return nil
			}
			g.Policies = mergePolicies(pol, g.Policies)
			return nil
		}
		for j := range g.Listeners {
			if g.Listeners[j].Name == listener {
				g.Listeners[j].Policies = mergePolicies(pol, g.Listeners[j].Policies)
				return nil
			}
		}
		return fmt.Errorf("gateway %q has no listener %q", gw, listener)
	}
	return fmt.Errorf("no gateway named %q in gateways", gw)
}
