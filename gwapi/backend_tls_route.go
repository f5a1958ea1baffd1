package gwapi

import (
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
	"github.com/agentgw/agentgateway/policy"
)

// backend.tls on a Gateway or a route applies to every backend behind it, as agentgateway applies
// it: it is the route policy the schema calls backendTLS (policy.BackendTLS, which hands the
// backend its TLS transport for the request), the same one the schema document renders. A backend
// with a backend.tls of its own (an AgentgatewayBackend or Service target, the more specific
// attachment) keeps its own: ownTLS drops the route's transport before it.

// routeTLS is the route policy of p's backend.tls (nil when it has none), built once per policy.
func (t *translator) routeTLS(p *agwv1a1.AgentgatewayPolicy, bs *backendSet) (agentgateway.Policy, error) {
	if bs == nil || bs.tls == nil {
		return nil, nil
	}
	if bs.routeTLS != nil {
		return bs.routeTLS, nil
	}
	cfg, err := t.backendTLSConfig(p.Namespace, p.Spec.Backend.TLS)
	if err != nil {
		return nil, err // backendPolicies built bs.tls from the same config: not reached
	}
	b, err := policy.NewBackendTLS(cfg)
	if err != nil {
		return nil, err
	}
	bs.routeTLS = agentgateway.NewClosingPolicy(agentgateway.PhaseBackend, b.Wrap, b.Close)
	return bs.routeTLS, nil
}

// ownTLS wraps a backend that dials with its own backend.tls: a route's backendTLS transport does
// not replace it.
var ownTLS = agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(agentgateway.WithUpstreamTransport(r.Context(), nil)))
	})
})
