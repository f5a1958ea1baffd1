package config

import (
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// celBodyPhase runs before every other policy, gateway (listener) policies included, so that every
// CEL expression of the request sees the bound.
const celBodyPhase = agentgateway.Phase(-1 << 20)

// applyMaxBufferSize bounds the body CEL's request.body buffers by frontendPolicies.http.maxBufferSize
// on every HTTP route, when it is set: a policy in front of all others puts the bound in the request's
// context, where cel.BufferBody finds it (expressions that set no bound of their own).
func (l *loader) applyMaxBufferSize(cfg *agentgateway.Config) {
	n := l.bc.MaxBufferSize
	if n <= 0 {
		return
	}
	p := agentgateway.At(celBodyPhase, agentgateway.PolicyFunc(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(cel.WithMaxBodyBytes(r.Context(), n)))
		})
	}))
	for i := range cfg.Listeners {
		for j := range cfg.Listeners[i].Routes {
			rc := &cfg.Listeners[i].Routes[j]
			rc.Policies = append([]agentgateway.Policy{p}, rc.Policies...)
		}
	}
}
