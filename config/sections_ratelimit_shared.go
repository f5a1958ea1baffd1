package config

import (
	"fmt"
	"net/http"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// A limit of a localRateLimit list may name a `shared` bucket: every limit of the build with that
// name counts against one bucket, wherever its policy is attached. This is the form a Kubernetes
// control plane renders a Gateway- or route-wide limit in: the document repeats the policy on each
// route it reaches, and the schema's plain list gives each route its own buckets.

// sharedLimit is the policy built for a shared bucket's name, with the limit it was built from.
type sharedLimit struct {
	spec rateLimitSpec
	p    agentgateway.Policy
}

// sharedLocalRateLimit builds a list with shared limits: the unnamed limits as one policy, each
// named one as the build's policy of that name, all applied in list order.
func sharedLocalRateLimit(bc *BuildContext, s localRateLimitSpec) (agentgateway.Policy, error) {
	var plain localRateLimitSpec
	var ps []agentgateway.Policy
	for i, r := range s.list {
		if r.Shared == "" {
			plain.list = append(plain.list, r)
			continue
		}
		if prev, ok := bc.res.sharedLimits[r.Shared]; ok {
			if prev.spec != r {
				return nil, bc.Errorf(fmt.Sprintf("[%d].shared", i), "bucket %q is named by another limit with different settings", r.Shared)
			}
			ps = append(ps, prev.p)
			continue
		}
		l, err := r.limit(bc, fmt.Sprintf("[%d]", i))
		if err != nil {
			return nil, err
		}
		p, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{l}})
		if err != nil {
			return nil, bc.Wrap(mapPaths(err, func(p string) string {
				return fmt.Sprintf("[%d]", i) + strings.TrimPrefix(p, "limits[0]")
			}))
		}
		if bc.res.sharedLimits == nil {
			bc.res.sharedLimits = map[string]sharedLimit{}
		}
		bc.res.sharedLimits[r.Shared] = sharedLimit{spec: r, p: p}
		ps = append(ps, p)
	}
	if len(plain.list) > 0 {
		p, err := newLocalRateLimit(bc, plain)
		if err != nil {
			return nil, err
		}
		ps = append([]agentgateway.Policy{p}, ps...)
	}
	return agentgateway.NewPolicy(agentgateway.PhaseRateLimit, func(next http.Handler) http.Handler {
		for i := len(ps) - 1; i >= 0; i-- {
			next = ps[i].Wrap(next)
		}
		return next
	}), nil
}
