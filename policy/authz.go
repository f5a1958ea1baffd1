package policy

import (
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// AuthorizationConfig configures CEL authorization (agentgateway's `authorization`): rules over the
// request and what authentication established. The rules mean what [cel.RuleSet] says: deny wins, every require must
// hold, and once there is an allow rule one must match.
type AuthorizationConfig struct {
	Rules []cel.Rule
}

// NewAuthorization returns the CEL authorization policy: requests the rules do not allow get 403. It
// runs at agentgateway.PhaseAuthz, after authentication.
func NewAuthorization(spec AuthorizationConfig) (agentgateway.Policy, error) {
	if len(spec.Rules) == 0 {
		return nil, agentgateway.Errorf("rules", "at least one rule is required")
	}
	rs, err := cel.CompileRules(spec.Rules...)
	if err != nil {
		return nil, err
	}
	// Only rules that read request.body make the policy buffer it (known from the compiled rules).
	readsBody := rs.Uses(cel.RequestBody)
	return agentgateway.NewPolicy(agentgateway.PhaseAuthz, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if readsBody && !cel.PrepareBody(w, r, 0) {
				return
			}
			var a cel.Activation
			a.Reset(r, nil)
			if !rs.Allowed(r.Context(), &a) {
				if st := agentgateway.StateFrom(r.Context()); st != nil {
					st.Policy.DeniedBy = "authz"
				}
				agentgateway.WriteError(w, http.StatusForbidden, "authorization denied")
				return
			}
			next.ServeHTTP(w, r)
		})
	}), nil
}
