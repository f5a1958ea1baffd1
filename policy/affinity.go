package policy

import (
	"net/http"

	"github.com/google/cel-go/common/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/internal/proxy"
)

// SessionAffinityConfig configures best-effort session affinity (agentgateway's `sessionAffinity`).
type SessionAffinityConfig struct {
	// Source is a CEL expression over the request returning the affinity key as a string or bytes,
	// e.g. `request.headers["x-session-id"]` or `string(source.address)`. A request whose key is
	// empty, or does not evaluate, is balanced normally.
	Source string
}

// NewSessionAffinity returns the session affinity policy: requests with the same key go to the same
// one of a route's weighted backends, and to the same endpoint of an HTTP backend, by rendezvous
// hashing (see State.Affinity) — consistent across replicas with nothing shared, and moving only the
// keys of a backend or endpoint that goes away or becomes unhealthy.
func NewSessionAffinity(cfg SessionAffinityConfig) (agentgateway.Policy, error) {
	if cfg.Source == "" {
		return nil, agentgateway.Errorf("source", "source is required")
	}
	prg, err := cel.Compile(cfg.Source, nil)
	if err != nil {
		return nil, agentgateway.Errorf("source", "%v", err)
	}
	return agentgateway.NewPolicy(agentgateway.PhaseFilter, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if st := agentgateway.StateFrom(r.Context()); st != nil {
				if v, err := prg.Eval(r.Context(), cel.NewActivation(r, st)); err == nil {
					switch k := v.(type) {
					case types.String:
						if k != "" {
							st.Affinity = proxy.HashKey([]byte(k))
						}
					case types.Bytes:
						if len(k) > 0 {
							st.Affinity = proxy.HashKey(k)
						}
					}
				}
			}
			next.ServeHTTP(w, r)
		})
	}), nil
}
