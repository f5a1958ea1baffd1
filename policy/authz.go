package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// Rule is one authorization rule (the schema's RuleSerde): exactly one of Allow, Deny and Require. In
// YAML a plain string is an allow rule.
type Rule struct {
	// Allow permits the request when true.
	Allow string `json:"allow,omitempty"`
	// Deny rejects the request when true. An expression that fails to evaluate does not deny, so
	// prefer Allow or Require.
	Deny string `json:"deny,omitempty"`
	// Require rejects the request unless true; an evaluation error rejects.
	Require string `json:"require,omitempty"`
}

// UnmarshalJSON accepts a string (an allow rule) or {allow|deny|require: expr}.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*r = Rule{Allow: s}
		return nil
	}
	type plain Rule
	var p plain
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("want a CEL string or one of allow, deny, require: %v", err)
	}
	*r = Rule(p)
	return nil
}

// AuthorizationSpec is the schema's `authorization` (RuleSet).
type AuthorizationSpec struct {
	Rules []Rule `json:"rules"`
}

// RuleSet is a compiled set of CEL authorization rules. It writes nothing: the HTTP authorization
// policy answers 403 when it denies, and package mcp reuses it to filter tools per call
// (`mcpAuthorization`). Safe for concurrent use.
//
// Semantics, as agentgateway defines them:
//   - a deny rule that evaluates to true denies;
//   - a require rule that is not true (false or an evaluation error) denies;
//   - when any allow rule exists, at least one must be true (deny by default); with none, the
//     request is allowed unless a deny or require rule rejected it;
//   - an evaluation error (a missing claim, say) counts as "no match";
//   - each evaluation is bounded by celenv's cost limit.
type RuleSet struct {
	allow, deny, require []*cel.Program
}

// ErrEmptyRule is wrapped when a rule sets none (or more than one) of allow, deny, require.
var ErrEmptyRule = errors.New("set exactly one of allow, deny, require")

// CompileRules compiles rules; errors name the rule by index ("rules[2].allow").
func CompileRules(rules []Rule) (*RuleSet, error) {
	rs := &RuleSet{}
	for i, r := range rules {
		n := 0
		for _, x := range []struct {
			expr string
			kind string
			dst  *[]*cel.Program
		}{{r.Allow, "allow", &rs.allow}, {r.Deny, "deny", &rs.deny}, {r.Require, "require", &rs.require}} {
			if x.expr == "" {
				continue
			}
			n++
			p, err := cel.Compile(x.expr, celgo.BoolType)
			if err != nil {
				return nil, agentgateway.Errorf(fieldf("rules", i, x.kind), "%w", err)
			}
			*x.dst = append(*x.dst, p)
		}
		if n != 1 {
			return nil, agentgateway.Errorf(fieldf("rules", i, ""), "%w", ErrEmptyRule)
		}
	}
	return rs, nil
}

// CompileAllowRules compiles allow rules given as plain CEL strings.
func CompileAllowRules(exprs ...string) (*RuleSet, error) {
	rules := make([]Rule, len(exprs))
	for i, e := range exprs {
		rules[i] = Rule{Allow: e}
	}
	return CompileRules(rules)
}

// Allowed evaluates the rules for one request (or one MCP call: fill State.MCP first, or pass
// attributes in a.Extra).
func (rs *RuleSet) Allowed(ctx context.Context, a *cel.Activation) bool {
	for _, p := range rs.deny {
		if ok, err := p.EvalBool(ctx, a); err == nil && ok {
			return false
		}
	}
	for _, p := range rs.require {
		if ok, err := p.EvalBool(ctx, a); err != nil || !ok {
			return false
		}
	}
	if len(rs.allow) == 0 {
		return true
	}
	for _, p := range rs.allow {
		if ok, err := p.EvalBool(ctx, a); err == nil && ok {
			return true
		}
	}
	return false
}

// Uses reports whether any rule references variable (e.g. "mcp"), so a caller can tell whether the
// rules depend on per-call attributes.
func (rs *RuleSet) Uses(variable string) bool {
	for _, l := range [][]*cel.Program{rs.allow, rs.deny, rs.require} {
		for _, p := range l {
			if p.Uses(variable) {
				return true
			}
		}
	}
	return false
}

// Len returns the number of rules.
func (rs *RuleSet) Len() int { return len(rs.allow) + len(rs.deny) + len(rs.require) }

// NewAuthorization returns the CEL authorization policy: requests the rules do not allow get 403.
func NewAuthorization(spec AuthorizationSpec) (agentgateway.Policy, error) {
	if len(spec.Rules) == 0 {
		return nil, agentgateway.Errorf("rules", "at least one rule is required")
	}
	rs, err := CompileRules(spec.Rules)
	if err != nil {
		return nil, err
	}
	return agentgateway.NewPolicy(agentgateway.PhaseAuthz, rs.Middleware), nil
}

// Middleware is the HTTP form of the rule set: 403 when the request is not allowed.
func (rs *RuleSet) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a cel.Activation
		a.Reset(r, nil)
		if !rs.Allowed(r.Context(), &a) {
			agentgateway.WriteError(w, http.StatusForbidden, "authorization denied")
			return
		}
		next.ServeHTTP(w, r)
	})
}
