package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/celenv"
)

// AuthorizationSpec is the schema's mcpAuthorization policy: CEL rules over mcp.tool.name,
// mcp.tool.target, mcp.prompt.name, mcp.resource.uri, jwt.*, request.* and source.*.
type AuthorizationSpec struct {
	Rules []RuleSpec `json:"rules"`
}

// RuleSpec is one rule: a bare string (an allow rule) or exactly one of allow, deny, require.
type RuleSpec struct {
	Allow   string `json:"allow,omitempty"`
	Deny    string `json:"deny,omitempty"`
	Require string `json:"require,omitempty"`
}

// UnmarshalJSON accepts the string short form.
func (r *RuleSpec) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*r = RuleSpec{Allow: s}
		return nil
	}
	type plain RuleSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*r = RuleSpec(p)
	return nil
}

// ErrRule is wrapped by rule errors.
var ErrRule = errors.New("mcp: invalid authorization rule")

// Rules is a compiled rule set. An item (a tool, prompt or resource) is allowed when no deny rule
// matches, every require rule holds and, if there are allow rules, at least one matches. A rule that
// fails to evaluate (a missing claim, say) does not match, so allow and require rules fail closed.
// Lists drop what is not allowed, and a call to it is answered exactly as a call to an unknown name.
type Rules struct {
	allow, deny, require []*celenv.Program
}

// NewRules compiles a rule set; each expression is compiled once here.
func NewRules(spec AuthorizationSpec) (*Rules, error) {
	r := &Rules{}
	for i, rs := range spec.Rules {
		n := 0
		for _, pair := range []struct {
			expr string
			into *[]*celenv.Program
		}{{rs.Allow, &r.allow}, {rs.Deny, &r.deny}, {rs.Require, &r.require}} {
			if pair.expr == "" {
				continue
			}
			n++
			p, err := celenv.Compile(pair.expr, cel.BoolType)
			if err != nil {
				return nil, agentgateway.Errorf(fmt.Sprintf("rules[%d]", i), "%w: %v", ErrRule, err)
			}
			*pair.into = append(*pair.into, p)
		}
		if n != 1 {
			return nil, agentgateway.Errorf(fmt.Sprintf("rules[%d]", i), "%w: exactly one of allow, deny, require", ErrRule)
		}
	}
	return r, nil
}

// MustRules is NewRules for rules known to be valid (tests, examples); it panics on error.
func MustRules(spec AuthorizationSpec) *Rules {
	r, err := NewRules(spec)
	if err != nil {
		panic(err)
	}
	return r
}

// allowed evaluates the rules for one item described by mcpVars (the CEL `mcp` variable).
func (r *Rules) allowed(ctx context.Context, a *celenv.Activation) bool {
	for _, p := range r.deny {
		if ok, err := p.EvalBool(ctx, a); err == nil && ok {
			return false
		}
	}
	for _, p := range r.require {
		if ok, err := p.EvalBool(ctx, a); err != nil || !ok {
			return false
		}
	}
	if len(r.allow) == 0 {
		return true
	}
	for _, p := range r.allow {
		if ok, err := p.EvalBool(ctx, a); err == nil && ok {
			return true
		}
	}
	return false
}

type rulesKey struct{}

// Authorization is the route policy form of mcpAuthorization: it attaches rules to the request, and
// the federation behind the route applies them to lists and calls (together with its own
// Config.Authorization). Policies of several routes' layers add up: an item must pass all of them.
func Authorization(rules *Rules) agentgateway.Policy {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			prev, _ := r.Context().Value(rulesKey{}).([]*Rules)
			all := append(append(make([]*Rules, 0, len(prev)+1), prev...), rules)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rulesKey{}, all)))
		})
	}
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
	act := celenv.NewActivation(a.r, a.st)
	act.Extra = map[string]any{"mcp": m}
	for _, s := range a.sets {
		if !s.allowed(a.r.Context(), act) {
			return false
		}
	}
	return true
}
