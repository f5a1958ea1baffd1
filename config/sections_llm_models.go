package config

import (
	"fmt"
	"net/http"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/llm"
)

// llm.models[].transformation, matches and health (and a provider's defaults.transformation and
// health, for the models that reference it and set none).

// llmRouteMatchSpec is the schema's LLMRouteMatch.
type llmRouteMatchSpec struct {
	Headers []ValueSpec `json:"headers"`
}

// modelExtras builds a model entry's transformation, matches and health; the provider's
// transformation and health apply when the model sets none.
func modelExtras(bc *BuildContext, transformation, matches, health, provTransformation, provHealth Node) ([]llm.ModelOption, error) {
	var opts []llm.ModelOption
	if transformation.IsZero() && !provTransformation.IsZero() {
		transformation = provTransformation
	}
	if !transformation.IsZero() {
		fields, err := Decode[map[string]string](transformation)
		if err != nil {
			return nil, err
		}
		opts = append(opts, llm.Transform(fields))
	}
	if !matches.IsZero() {
		ms, err := Decode[[]llmRouteMatchSpec](matches)
		if err != nil {
			return nil, err
		}
		for i, m := range ms {
			var hs []agentgateway.ValueMatch
			for j, h := range m.Headers {
				hp := fmt.Sprintf("matches[%d].headers[%d]", i, j)
				switch v := h.Value; {
				case h.Name == "":
					return nil, bc.Errorf(hp+".name", "a header name is required")
				case v.Exact != nil && v.Regex == nil:
					hs = append(hs, agentgateway.ValueMatch{Name: h.Name, Value: *v.Exact})
				case v.Regex != nil && v.Exact == nil:
					hs = append(hs, agentgateway.ValueMatch{Name: h.Name, Value: *v.Regex, Regex: true})
				default:
					return nil, bc.Errorf(hp+".value", "set exactly one of exact, regex")
				}
			}
			if len(hs) == 0 {
				return nil, bc.Errorf(fmt.Sprintf("matches[%d].headers", i), "at least one header is required")
			}
			opts = append(opts, llm.MatchHeaders(hs...))
		}
	}
	field := "health"
	if health.IsZero() && !provHealth.IsZero() {
		health, field = provHealth, provHealth.Path()
	}
	if !health.IsZero() {
		hbc := bc.At(field)
		if field != "health" {
			sub := *bc
			sub.Path = field
			hbc = &sub
		}
		hs, err := Decode[healthSpec](health)
		if err != nil {
			return nil, err
		}
		var p llm.ModelHealthPolicy
		if e := hs.Eviction; e != nil {
			switch {
			case e.RestoreHealth != nil && *e.RestoreHealth != 1:
				// 1.0 (full health on return) is what an entry without health scores does.
				return nil, hbc.Errorf("eviction.restoreHealth", "not supported yet (health scores; only 1.0, full health on return, is served)")
			case e.HealthThreshold != nil:
				return nil, hbc.Errorf("eviction.healthThreshold", "not supported yet (health scores)")
			case e.ConsecutiveFailures != nil && *e.ConsecutiveFailures < 1:
				return nil, hbc.Errorf("eviction.consecutiveFailures", "want at least 1")
			case e.Duration < 0:
				return nil, hbc.Errorf("eviction.duration", "want a positive duration")
			}
			if e.ConsecutiveFailures != nil {
				p.ConsecutiveFailures = *e.ConsecutiveFailures
			}
			p.EvictFor = e.Duration
		}
		if hs.UnhealthyExpression != "" {
			prg, err := cel.CompileWith(hs.UnhealthyExpression, celgo.BoolType, responseVar)
			if err != nil {
				return nil, hbc.Errorf("unhealthyExpression", "%v", err)
			}
			p.Unhealthy = unhealthyFunc(prg)
		}
		opts = append(opts, llm.Health(p))
		if hs.Active != nil {
			c, err := hs.Active.check(hbc.At("active"))
			if err != nil {
				return nil, err
			}
			opts = append(opts, llm.ActiveHealth(c))
		}
	}
	return opts, nil
}

// unhealthyFunc evaluates an unhealthyExpression over a response (response.code, response.headers
// by canonical name); an expression that cannot say counts a 5xx as unhealthy.
func unhealthyFunc(p *cel.Program) func(r *http.Request, resp *http.Response) bool {
	return func(r *http.Request, resp *http.Response) bool {
		a := cel.NewActivation(r, agentgateway.StateFrom(r.Context()))
		hdr := make(map[string]any, len(resp.Header))
		for k, v := range resp.Header {
			if len(v) > 0 {
				hdr[http.CanonicalHeaderKey(k)] = v[0]
			}
		}
		a.Extra = map[string]any{"response": map[string]any{"code": resp.StatusCode, "headers": hdr}}
		bad, err := p.EvalBool(r.Context(), a)
		if err != nil {
			return resp.StatusCode >= 500
		}
		return bad
	}
}
