package config

import (
	"net/http"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

var dynamicBackends = []BackendSection{Backend("dynamic", buildDynamic)}

// dynamicSpec is the schema's dynamic backend: target is a CEL expression giving "host:port" (the
// request's Host when unset). AllowPrivate is an extension: targets on loopback, private and
// link-local addresses are refused unless it is set.
type dynamicSpec struct {
	Target       string `json:"target"`
	AllowPrivate bool   `json:"allowPrivate"`
}

func buildDynamic(bc *BuildContext, s dynamicSpec) (http.Handler, error) {
	cfg := agentgateway.DynamicBackendConfig{AllowPrivate: s.AllowPrivate}
	if s.Target != "" {
		p, err := cel.Compile(s.Target, celgo.StringType)
		if err != nil {
			return nil, bc.Errorf("target", "%w", err)
		}
		cfg.Target = func(r *http.Request) (string, error) {
			return p.EvalString(r.Context(), cel.NewActivation(r, agentgateway.StateFrom(r.Context())))
		}
	}
	b, err := agentgateway.NewDynamicBackend(cfg)
	if err != nil {
		return nil, bc.Wrap(err)
	}
	return b, nil
}
