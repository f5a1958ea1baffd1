package mcp

import (
	"context"
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

type rulesKey struct{}

// Authorization is the route policy form of mcpAuthorization: it attaches rules to the request, and
// the federation behind the route applies them to lists and calls (together with its own
// [Config.Authorization]). The rules mean what [cel.RuleSet] says (deny wins, every require must hold,
// deny by default once there is an allow rule); they are evaluated once per tool, prompt or resource,
// with mcp.tool.*, mcp.prompt.* or mcp.resource.* describing it. Lists drop what is not allowed, and a
// call to it is answered exactly as a call to an unknown name. Policies of several routes' layers add
// up: an item must pass all of them.
func Authorization(rules *cel.RuleSet) agentgateway.Policy {
	return agentgateway.NewPolicy(agentgateway.PhaseAuthz, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			prev, _ := r.Context().Value(rulesKey{}).([]*cel.RuleSet)
			all := append(append(make([]*cel.RuleSet, 0, len(prev)+1), prev...), rules)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rulesKey{}, all)))
		})
	})
}

// authorizer evaluates every rule set that applies to one request.
type authorizer struct {
	sets []*cel.RuleSet
	r    *http.Request
	st   *agentgateway.State
}

func (f *Federation) authorizer(r *http.Request, st *agentgateway.State) *authorizer {
	sets, _ := r.Context().Value(rulesKey{}).([]*cel.RuleSet)
	if f.cfg.Authorization != nil {
		sets = append(sets[:len(sets):len(sets)], f.cfg.Authorization)
	}
	if len(sets) == 0 {
		return nil
	}
	return &authorizer{sets: sets, r: r, st: st}
}

// allows reports whether an item of the given kind ("tool", "prompt", "resource") is allowed.
func (a *authorizer) allows(kind, target, name string) bool {
	if a == nil {
		return true
	}
	item := map[string]any{"name": name, "target": target}
	m := map[string]any{
		"method": a.st.MCP.Method, "methodName": a.st.MCP.Method, "sessionId": a.st.MCP.SessionID, "target": target,
		"tool": map[string]any{"name": "", "target": ""}, "prompt": map[string]any{"name": "", "target": ""},
		"resource": map[string]any{"uri": "", "name": "", "target": ""},
	}
	if kind == "resource" {
		item = map[string]any{"uri": name, "name": name, "target": target}
	}
	m[kind] = item
	act := cel.NewActivation(a.r, a.st)
	act.Extra = map[string]any{"mcp": m}
	for _, s := range a.sets {
		if !s.Allowed(a.r.Context(), act) {
			return false
		}
	}
	return true
}
