package config

import (
	"fmt"
	"net/netip"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// ipAccessPolicies is agentgateway's ipAccessControl: client-IP allow and deny lists, on a route or a
// listener (where it merges with the routes' own, see mergeIPAccess).
var ipAccessPolicies = []PolicySection{
	Policy("ipAccessControl", buildIPAccess),
}

type ipAccessSpec struct {
	Allow             []string `json:"allow"`
	Deny              []string `json:"deny"`
	XFFNumTrustedHops *int     `json:"xffNumTrustedHops"`
	SkipPrivateIPs    *bool    `json:"skipPrivateIps"`
	EnforceFullChain  *bool    `json:"enforceFullChain"`
	MaxXFFLength      *int     `json:"maxXffLength"`
}

func buildIPAccess(bc *BuildContext, s ipAccessSpec) (agentgateway.Policy, error) {
	cfg := policy.IPAccessConfig{
		XFFNumTrustedHops: s.XFFNumTrustedHops, SkipPrivateIPs: s.SkipPrivateIPs,
		EnforceFullChain: s.EnforceFullChain, MaxXFFLength: s.MaxXFFLength,
	}
	var err error
	if cfg.Allow, err = parsePrefixes(bc, "allow", s.Allow); err != nil {
		return nil, err
	}
	if cfg.Deny, err = parsePrefixes(bc, "deny", s.Deny); err != nil {
		return nil, err
	}
	p, err := policy.NewIPAccess(cfg)
	if err != nil {
		return nil, bc.Wrap(err)
	}
	return p, nil
}

// parsePrefixes reads CIDRs; a bare address is its own /32 or /128.
func parsePrefixes(bc *BuildContext, field string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, bc.Errorf(fmt.Sprintf("%s[%d]", field, i), "not a CIDR or IP address: %q", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// mergeIPAccess applies a listener's ipAccessControl to one route as agentgateway does: when the
// route has its own, the two merge into the route's (lists unioned, the listener's flags winning) and
// the listener's is dropped for that route; otherwise the listener's runs as it is. It returns the
// listener policies and the route policies to use for the route.
func mergeIPAccess(listener, route []agentgateway.Policy) ([]agentgateway.Policy, []agentgateway.Policy) {
	li := -1
	for i, p := range listener {
		if _, ok := p.(*policy.IPAccess); ok {
			li = i
		}
	}
	if li < 0 {
		return listener, route
	}
	outer := listener[li].(*policy.IPAccess)
	merged := false
	out := make([]agentgateway.Policy, len(route))
	for i, p := range route {
		if ip, ok := p.(*policy.IPAccess); ok {
			p, merged = ip.Merge(outer), true
		}
		out[i] = p
	}
	if !merged {
		return listener, route
	}
	rest := append(append([]agentgateway.Policy(nil), listener[:li]...), listener[li+1:]...)
	return rest, out
}
