package cel

import (
	"fmt"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
)

// CompileRulesWith is [CompileRules] in the shared environment extended with vars (celgo.Variable
// options), whose values the caller passes in [Activation.Extra]: rules over something other than an
// HTTP request, such as network authorization's `destination`.
func CompileRulesWith(vars []celgo.EnvOption, rules ...Rule) (*RuleSet, error) {
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
			p, err := CompileWith(x.expr, celgo.BoolType, vars...)
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
