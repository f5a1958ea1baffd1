package config

import (
	"net/http"
	"time"

	celgo "github.com/google/cel-go/cel"
	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// healthSpec is the schema's LocalHealthPolicy, a backend policy: passive outlier detection on the
// endpoints of a host or service backend. It configures the backend itself (its ejection), so it is
// taken out of the backend's policies before they are built and handed to the backend's builder.
type healthSpec struct {
	UnhealthyExpression string        `json:"unhealthyExpression"`
	Eviction            *evictionSpec `json:"eviction"`
	// Active is agentgateway's active health check (newer than the schema); only model entries of
	// llm.models serve it (sections_llm_active.go).
	Active *activeHealthSpec `json:"active"`

	path string // of the backend spec that must consume it
	at   string // of the policy, for errors
	used bool
}

// evictionSpec is the schema's LocalEviction.
type evictionSpec struct {
	Duration            time.Duration `json:"duration"`
	ConsecutiveFailures *int          `json:"consecutiveFailures"`
	RestoreHealth       *float64      `json:"restoreHealth"`
	HealthThreshold     *float64      `json:"healthThreshold"`
}

// takeHealth removes `health` from a backend's policies and decodes it for the backend at specPath.
func takeHealth(policies Node, specPath string) (Node, *healthSpec, error) {
	if policies.IsZero() || policies.n.Kind != yaml.MappingNode {
		return policies, nil, nil
	}
	var hs *healthSpec
	rest := *policies.n
	rest.Content = nil
	for i := 0; i+1 < len(policies.n.Content); i += 2 {
		k, v := policies.n.Content[i], policies.n.Content[i+1]
		if k.Value != "health" {
			rest.Content = append(rest.Content, k, v)
			continue
		}
		if v.Tag == "!!null" {
			continue
		}
		fp := joinPath(policies.path, "health")
		s, err := Decode[healthSpec](Node{n: v, path: fp})
		if err != nil {
			return policies, nil, err
		}
		if s.Active != nil {
			return policies, nil, agentgateway.Errorf(fp+".active", "not supported here: active health checks are served on llm.models entries (and their providers' defaults) only; agentgateway also probes ai route backends, and accepts but never probes host and service backends")
		}
		if e := s.Eviction; e != nil {
			switch {
			case e.RestoreHealth != nil && !(*e.RestoreHealth >= 0 && *e.RestoreHealth <= 1):
				return policies, nil, agentgateway.Errorf(fp+".eviction.restoreHealth", "must be between 0.0 and 1.0")
			case e.HealthThreshold != nil && !(*e.HealthThreshold >= 0 && *e.HealthThreshold <= 1):
				return policies, nil, agentgateway.Errorf(fp+".eviction.healthThreshold", "must be between 0.0 and 1.0")
			case e.ConsecutiveFailures != nil && *e.ConsecutiveFailures < 1:
				return policies, nil, agentgateway.Errorf(fp+".eviction.consecutiveFailures", "want at least 1")
			case e.Duration < 0:
				return policies, nil, agentgateway.Errorf(fp+".eviction.duration", "want a positive duration")
			}
		}
		s.path, s.at = specPath, fp
		hs = &s
	}
	if len(rest.Content) == 0 {
		return Node{}, hs, nil
	}
	return Node{n: &rest, path: policies.path}, hs, nil
}

// refuseField refuses a field of a key the table marks supported with differences, in its words.
func refuseField(path, key string) error {
	r, _ := compatRow(key)
	return &agentgateway.ConfigError{Path: path, Err: refusalError("not supported yet (" + key + ": " + r.Note + ")")}
}

// applyHealth sets cfg's ejection from the health policy meant for the backend bc builds, if any.
func applyHealth(bc *BuildContext, cfg *agentgateway.HTTPBackendConfig) error {
	hs := bc.health
	if hs == nil || hs.path != bc.Path {
		return nil
	}
	hs.used = true
	if e := hs.Eviction; e != nil {
		if e.ConsecutiveFailures != nil {
			cfg.EjectAfter = *e.ConsecutiveFailures
		}
		if e.HealthThreshold != nil {
			cfg.EjectBelowHealth = *e.HealthThreshold
			if e.ConsecutiveFailures == nil {
				cfg.EjectAfter = -1 // the score alone decides, as in agentgateway
			}
		}
		cfg.RestoreHealth = e.RestoreHealth
		cfg.EjectFor = e.Duration
	}
	if hs.UnhealthyExpression == "" {
		return nil
	}
	p, err := cel.CompileWith(hs.UnhealthyExpression, celgo.BoolType, responseVar)
	if err != nil {
		return agentgateway.Errorf(hs.at+".unhealthyExpression", "%w", err)
	}
	cfg.Unhealthy = func(r *http.Request, resp *http.Response) bool {
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
			return resp.StatusCode >= 500 // the default when the expression cannot say
		}
		return bad
	}
	return nil
}
