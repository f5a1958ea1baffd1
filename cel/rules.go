package cel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
)

// Rule is one authorization rule, agentgateway's RuleSerde: exactly one of Allow, Deny and Require is
// set. In YAML and JSON a bare string is an allow rule; otherwise the rule is {allow|deny|require: expr}.
type Rule struct {
	// Allow permits the request when true. Once a rule set has an allow rule, a request no allow
	// rule matches is denied.
	Allow string `json:"allow,omitempty"`
	// Deny rejects the request when true. An expression that fails to evaluate does not deny (as in
	// agentgateway), so prefer Allow or Require, or write deny rules that cannot fail (has(...)).
	Deny string `json:"deny,omitempty"`
	// Require rejects the request unless true; an expression that fails to evaluate rejects.
	Require string `json:"require,omitempty"`
}

// Allow returns an allow rule.
func Allow(expr string) Rule { return Rule{Allow: expr} }

// Deny returns a deny rule.
func Deny(expr string) Rule { return Rule{Deny: expr} }

// Require returns a require rule.
func Require(expr string) Rule { return Rule{Require: expr} }

// UnmarshalJSON accepts a string (an allow rule) or {allow|deny|require: expr}.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*r = Rule{Allow: s}
		return nil
	}
	type plain Rule
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("want a CEL string or one of allow, deny, require: %w", err)
	}
	*r = Rule(p)
	return nil
}

// RuleSet is a compiled set of authorization rules with agentgateway's semantics, the one meaning
// every authorization of the gateway shares (the `authorization` policy, MCP's mcpAuthorization, A2A's
// Authorize):
//
//   - deny wins: a deny rule that evaluates to true rejects, whatever else matches;
//   - every require rule must evaluate to true;
//   - once the set has any allow rule, at least one must evaluate to true (deny by default); a set
//     without allow rules allows what no deny or require rule rejected;
//   - an evaluation error (a missing claim, a cost-limit overrun) is "no match" for an allow or deny
//     rule and a failure for a require rule, so allow and require rules fail closed;
//   - each evaluation is bounded by [DefaultCostLimit].
//
// A RuleSet writes nothing and knows no protocol: the caller decides what a denial looks like (403, a
// JSON-RPC error, an item missing from a list). It is safe for concurrent use; a nil *RuleSet allows
// everything, like an empty one.
type RuleSet struct {
	allow, deny, require []*Program
}

// ErrRule is wrapped when a rule sets none (or more than one) of allow, deny, require.
var ErrRule = errors.New("set exactly one of allow, deny, require")

// CompileRules compiles rules in the shared environment. Errors are *agentgateway.ConfigError values
// that name the rule as the schema does ("rules[2].allow") and wrap [ErrCompile] or [ErrRule].
func CompileRules(rules ...Rule) (*RuleSet, error) {
	rs := &RuleSet{}
	for i, r := range rules {
		n := 0
		for _, x := range [...]struct {
			expr, kind string
			dst        *[]*Program
		}{{r.Allow, "allow", &rs.allow}, {r.Deny, "deny", &rs.deny}, {r.Require, "require", &rs.require}} {
			if x.expr == "" {
				continue
			}
			n++
			p, err := Compile(x.expr, celgo.BoolType)
			if err != nil {
				return nil, agentgateway.Errorf(fmt.Sprintf("rules[%d].%s", i, x.kind), "%w", err)
			}
			*x.dst = append(*x.dst, p)
		}
		if n != 1 {
			return nil, agentgateway.Errorf(fmt.Sprintf("rules[%d]", i), "%w", ErrRule)
		}
	}
	return rs, nil
}

// MustCompileRules is [CompileRules] for rules known to be valid (tests, examples, rules written in
// Go); it panics on error.
func MustCompileRules(rules ...Rule) *RuleSet {
	rs, err := CompileRules(rules...)
	if err != nil {
		panic(err)
	}
	return rs
}

// Allowed evaluates the rules for one request, or one item of a request (an MCP tool: fill State.MCP
// or pass the item's attributes in a.Extra).
func (rs *RuleSet) Allowed(ctx context.Context, a *Activation) bool {
	if rs == nil {
		return true
	}
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
	if rs == nil {
		return false
	}
	for _, l := range [...][]*Program{rs.allow, rs.deny, rs.require} {
		for _, p := range l {
			if p.Uses(variable) {
				return true
			}
		}
	}
	return false
}

// Len returns the number of rules.
func (rs *RuleSet) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.allow) + len(rs.deny) + len(rs.require)
}
