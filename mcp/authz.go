package mcp

import (
	"context"
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
)

// AuthorizationSpec is the schema's mcpAuthorization policy: CEL rules over mcp.tool.name,
// mcp.tool.target, mcp.prompt.name, mcp.resource.uri, jwt.*, request.* and source.*. It is the
// policy package's rule set, shared with the HTTP `authorization` policy.
type AuthorizationSpec = policy.AuthorizationSpec

// RuleSpec is one rule: a bare string (an allow rule) or exactly one of allow, deny, require.
type RuleSpec = policy.Rule

// Rules is a compiled rule set (policy.RuleSet's semantics): an item (a tool, prompt or resource) is
// allowed when no deny rule matches, every require rule holds and, if there are allow rules, at least
// one matches; a rule that fails to evaluate does not match, so allow and require rules fail closed.
// Lists drop what is not allowed, and a call to it is answered exactly as a call to an unknown name.
type Rules struct {
	set *policy.RuleSet
}

// NewRules compiles a rule set; each expression is compiled once here.
func NewRules(spec AuthorizationSpec) (*Rules, error) {
	set, err := policy.CompileRules(spec.Rules)
	if err != nil {
		return nil, err
	}
	return &Rules{set: set}, nil
}

// MustRules is NewRules for rules known to be valid (tests, examples); it panics on error.
func MustRules(spec AuthorizationSpec) *Rules {
	r, err := NewRules(spec)
	if err != nil {
		panic(err)
	}
	return r
}

type rulesKey struct{}

// Authorization is the route policy form of mcpAuthorization: it attaches rules to the request, and
// the federation behind the route applies them to lists and calls (together with its own
// Config.Authorization). Policies of several routes' layers add up: an item must pass all of them.
func Authorization(rules *Rules) agentgateway.Policy {
	return agentgateway.NewPolicy(agentgateway.PhaseAuthz, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			prev, _ := r.Context().Value(rulesKey{}).([]*Rules)
			all := append(append(make([]*Rules, 0, len(prev)+1), prev...), rules)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rulesKey{}, all)))
		})
	})
}

// authorizer evaluates every rule set that applies to one request.
type authorizer struct {
	sets []*Rules
	r    *http.Request
	st   *agentgateway.State
}

func (f *Federation) authorizer(r *http.Request, st *agentgateway.State) *authorizer {
	sets, _ := r.Context().Value(rulesKey{}).([]*Rules)
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
		if !s.set.Allowed(a.r.Context(), act) {
			return false
		}
	}
	return true
}
