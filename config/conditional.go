package config

import (
	"errors"
	"fmt"
	"net/http"

	celgo "github.com/google/cel-go/cel"
	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// conditionalKeys are the policies whose schema shape is also LocalConditionalPolicies_X:
// {conditional: [{condition: CEL, ...X}, ...]}. directResponse and localRateLimit decode their own
// conditional form. delay is not in the schema's conditional set, but agentgateway's fault-injection
// example writes it so.
var conditionalKeys = map[string]bool{"extAuthz": true, "extProc": true, "remoteRateLimit": true, "transformations": true, "delay": true}

// isConditional reports whether a policy's node is the conditional form.
func isConditional(val *yaml.Node) bool {
	if val.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(val.Content); i += 2 {
		if val.Content[i].Value == "conditional" {
			return true
		}
	}
	return false
}

// buildConditional builds each entry of a conditional policy with the section's own builder (the
// entry without its condition is the plain policy) and runs, per request, the first entry whose
// condition holds; an entry without a condition is the fallback and must be last. A request no entry
// matches skips the policy. A condition that fails to evaluate does not match, as agentgateway does.
func buildConditional(bc *BuildContext, sec PolicySection, n Node) (agentgateway.Policy, error) {
	if len(n.n.Content) != 2 {
		return nil, bc.Errorf("", "conditional replaces the policy's other fields")
	}
	list := n.n.Content[1]
	at := joinPath(n.path, "conditional")
	if list.Kind != yaml.SequenceNode {
		return nil, errAt(at, list, "want a list, got %s", kindName(list))
	}
	type entry struct {
		cond   *cel.Program
		policy agentgateway.Policy
	}
	entries := make([]entry, 0, len(list.Content))
	var errs []error
	for i, item := range list.Content {
		ip := fmt.Sprintf("%s[%d]", at, i)
		if item.Kind != yaml.MappingNode {
			errs = append(errs, errAt(ip, item, "want an object, got %s", kindName(item)))
			continue
		}
		rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: item.Line, Column: item.Column}
		var e entry
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value != "condition" {
				rest.Content = append(rest.Content, item.Content[j], item.Content[j+1])
				continue
			}
			if v := item.Content[j+1]; v.Tag != "!!null" {
				p, err := cel.Compile(v.Value, celgo.BoolType)
				if err != nil {
					errs = append(errs, errAt(ip+".condition", v, "%v", err))
					continue
				}
				e.cond = p
			}
		}
		if e.cond == nil && i != len(list.Content)-1 {
			errs = append(errs, errAt(ip+".condition", item, "an entry without a condition is the fallback and must be last"))
			continue
		}
		sub := *bc
		sub.Path = ip
		p, err := sec.Build(&sub, Node{n: rest, path: ip})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.policy = p
		entries = append(entries, e)
	}
	// What an entry's builder opened is registered with bc.OnClose, which closes it when the build
	// fails or the configuration is retired.
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, nil
	}
	phase := agentgateway.PhaseCustom
	if ph, ok := entries[0].policy.(interface{ Phase() agentgateway.Phase }); ok {
		phase = ph.Phase()
	}
	wrap := func(next http.Handler) http.Handler {
		hs := make([]http.Handler, len(entries))
		for i, e := range entries {
			if e.policy != nil {
				hs[i] = e.policy.Wrap(next)
			} else {
				hs[i] = next
			}
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			act := cel.NewActivation(r, nil)
			for i, e := range entries {
				if e.cond != nil {
					if ok, err := e.cond.EvalBool(r.Context(), act); err != nil || !ok {
						continue
					}
				}
				hs[i].ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	return agentgateway.NewPolicy(phase, wrap), nil
}
