package llm

import (
	"fmt"
	"log/slog"
	"net/http"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// CondTarget is one target of a [Conditional] virtual model: Model is chosen when When, a CEL
// expression over the request, is true. An empty When is the default target and must come last.
type CondTarget struct {
	When  string
	Model string
}

// Conditional serves the virtual model name by evaluating its targets' conditions in order: the
// first whose When holds chooses the model (resolved against the configured models as a client's
// request would be). Conditions see the request (request.headers, request.path, ...), the caller
// (jwt.*, apiKey.*) and the LLM request (llm.requestModel, llm.streaming), after the route's
// policies have run. A request no condition matches, with no default target, is answered 404 as an
// unknown model. An expression that fails to evaluate counts as false.
func Conditional(name string, targets ...CondTarget) Option {
	return func(r *Router) error {
		if name == "" || len(targets) == 0 {
			return fmt.Errorf("llm: virtual model %q needs a name and targets", name)
		}
		v := &virtual{name: name, kind: "conditional"}
		for i, t := range targets {
			v.targets = append(v.targets, Target{Model: t.Model})
			if t.When == "" {
				if i != len(targets)-1 {
					return fmt.Errorf("llm: virtual model %q: target[%d]: only the last target may omit its condition", name, i)
				}
				v.when = append(v.when, nil)
				continue
			}
			p, err := cel.Compile(t.When, celgo.BoolType)
			if err != nil {
				return fmt.Errorf("llm: virtual model %q: target[%d].when: %w", name, i, err)
			}
			v.when = append(v.when, p)
		}
		r.virtuals = append(r.virtuals, v)
		return nil
	}
}

// resolveRequest is resolve for a request: a conditional virtual model picks its target by the
// request; every other model resolves by name alone.
func (r *Router) resolveRequest(req *http.Request, st *agentgateway.State, name string) []candidate {
	if len(r.matched) > 0 { // entries with request matches (model_match.go)
		if c := r.resolveMatched(req, name); c != nil {
			return c
		}
	}
	v, ok := r.virtual[name]
	if !ok || v.kind != "conditional" {
		return r.resolve(name)
	}
	a := cel.NewActivation(req, st)
	for i, p := range v.when {
		if p != nil {
			match, err := p.EvalBool(req.Context(), a)
			if err != nil {
				r.log().LogAttrs(req.Context(), slog.LevelDebug, "llm: conditional target skipped", slog.String("model", name),
					slog.Int("target", i), slog.String("error", err.Error()))
			}
			if !match {
				continue
			}
		}
		return []candidate{{v.entries[i], v.models[i]}}
	}
	return nil
}

// defaultTarget is the conditional model's default target (none when every target has a condition),
// for callers that resolve a model by name alone.
func (v *virtual) defaultTarget() []candidate {
	if n := len(v.when); n > 0 && v.when[n-1] == nil {
		return []candidate{{v.entries[n-1], v.models[n-1]}}
	}
	return nil
}
