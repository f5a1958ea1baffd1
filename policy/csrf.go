package policy

import (
	"errors"
	"fmt"
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
)

// CSRFConfig configures cross-site request forgery protection (agentgateway's `csrf`).
type CSRFConfig struct {
	// AdditionalOrigins are origins ("https://app.example.com") trusted to send state-changing
	// requests besides the request's own origin.
	AdditionalOrigins []string
}

// ErrCrossOrigin is State.Err for a state-changing request refused as cross-site.
var ErrCrossOrigin = errors.New("cross-origin request refused")

// NewCSRF returns the CSRF policy: a state-changing request (any method but GET, HEAD and OPTIONS)
// that a browser marks as cross-site — by Sec-Fetch-Site, or failing that by an Origin that is not
// the request's own host — is answered 403, unless its origin is listed. Requests without either
// header (not from a browser: curl, SDKs, servers) pass, as do safe methods. It is net/http's
// CrossOriginProtection, which implements the current browser-based rules without tokens or
// cookies; it runs right after CORS.
func NewCSRF(cfg CSRFConfig) (agentgateway.Policy, error) {
	cop := http.NewCrossOriginProtection()
	for i, o := range cfg.AdditionalOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, agentgateway.Errorf(fmt.Sprintf("additionalOrigins[%d]", i), "%v", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := agentgateway.StateFrom(r.Context()); st != nil {
			st.Err = ErrCrossOrigin
		}
		agentgateway.WriteError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	return agentgateway.NewPolicy(agentgateway.PhaseCORS+1, cop.Handler), nil
}
