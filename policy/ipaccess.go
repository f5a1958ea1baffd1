package policy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
)

// PhaseIPAccess is where IP access control runs: before CORS and authentication, so a client the
// lists refuse costs nothing more (agentgateway runs it in its gateway phase, before routing).
const PhaseIPAccess = agentgateway.PhaseCORS - 5

// DefaultMaxXFFLength is IPAccessConfig.MaxXFFLength's default.
const DefaultMaxXFFLength = 30

// ErrIPDenied is what a refused client's error wraps.
var ErrIPDenied = errors.New("client IP not allowed")

// IPAccessConfig is agentgateway's ipAccessControl: CIDR allow and deny lists over the client's IP.
// Deny is checked first and wins; a non-empty Allow admits only addresses in it. The flags are
// pointers so that a merge can tell "unset" from "false" (see [IPAccess.Merge]).
type IPAccessConfig struct {
	Allow []netip.Prefix
	Deny  []netip.Prefix
	// XFFNumTrustedHops, when set and positive, takes the client IP from X-Forwarded-For: the entry at
	// position len(XFF)-n (counting from 0; the first entry when the chain is shorter). A missing or
	// unparsable header falls back to the connection's IP.
	XFFNumTrustedHops *int
	// SkipPrivateIPs lets private addresses (RFC 1918, loopback, link-local, IPv6 ULA) through
	// unchecked.
	SkipPrivateIPs *bool
	// EnforceFullChain checks every X-Forwarded-For entry and the connection's IP, not only the client.
	EnforceFullChain *bool
	// MaxXFFLength rejects requests whose X-Forwarded-For chain is longer (default 30).
	MaxXFFLength *int
}

// IPAccess is the ipAccessControl policy; refused clients get 403.
type IPAccess struct {
	cfg IPAccessConfig
}

// NewIPAccess validates cfg.
func NewIPAccess(cfg IPAccessConfig) (*IPAccess, error) {
	if cfg.XFFNumTrustedHops != nil && *cfg.XFFNumTrustedHops < 0 {
		return nil, agentgateway.Errorf("xffNumTrustedHops", "must not be negative")
	}
	if cfg.MaxXFFLength != nil && *cfg.MaxXFFLength < 0 {
		return nil, agentgateway.Errorf("maxXffLength", "must not be negative")
	}
	return &IPAccess{cfg: cfg}, nil
}

// Merge combines the policy of an outer layer (a listener's) with p (a route's), as agentgateway
// merges ipAccessControl across attachment levels: the allow lists and the deny lists are each
// unioned, and a flag the outer layer sets wins over p's.
func (p *IPAccess) Merge(outer *IPAccess) *IPAccess {
	c := p.cfg
	c.Allow = append(append([]netip.Prefix(nil), outer.cfg.Allow...), p.cfg.Allow...)
	c.Deny = append(append([]netip.Prefix(nil), outer.cfg.Deny...), p.cfg.Deny...)
	if outer.cfg.XFFNumTrustedHops != nil {
		c.XFFNumTrustedHops = outer.cfg.XFFNumTrustedHops
	}
	if outer.cfg.SkipPrivateIPs != nil {
		c.SkipPrivateIPs = outer.cfg.SkipPrivateIPs
	}
	if outer.cfg.EnforceFullChain != nil {
		c.EnforceFullChain = outer.cfg.EnforceFullChain
	}
	if outer.cfg.MaxXFFLength != nil {
		c.MaxXFFLength = outer.cfg.MaxXFFLength
	}
	return &IPAccess{cfg: c}
}

// Phase implements the gateway's phase ordering.
func (p *IPAccess) Phase() agentgateway.Phase { return PhaseIPAccess }

// Wrap implements agentgateway.Policy.
func (p *IPAccess) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Check(r); err != nil {
			if st := agentgateway.StateFrom(r.Context()); st != nil {
				st.Policy.DeniedBy = "ipAccessControl"
			}
			agentgateway.WriteError(w, http.StatusForbidden, err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Check reports whether r's client may pass: nil, or an error wrapping ErrIPDenied.
func (p *IPAccess) Check(r *http.Request) error {
	conn, connOK := remoteIP(r)
	xff, xffOK := parseXFF(r.Header.Values("X-Forwarded-For"))
	limit := DefaultMaxXFFLength
	if p.cfg.MaxXFFLength != nil {
		limit = *p.cfg.MaxXFFLength
	}
	if xffOK && len(xff) > limit {
		return fmt.Errorf("%w: X-Forwarded-For has %d entries (at most %d)", ErrIPDenied, len(xff), limit)
	}
	var check []netip.Addr
	switch {
	case p.cfg.EnforceFullChain != nil && *p.cfg.EnforceFullChain:
		check = append(check, xff...)
		if connOK {
			check = append(check, conn)
		}
	case p.cfg.XFFNumTrustedHops != nil && *p.cfg.XFFNumTrustedHops > 0 && xffOK && len(xff) > 0:
		i := max0(len(xff) - *p.cfg.XFFNumTrustedHops)
		check = append(check, xff[i])
	case connOK:
		check = append(check, conn)
	}
	if len(check) == 0 {
		return fmt.Errorf("%w: the client's IP is unknown", ErrIPDenied)
	}
	for _, a := range check {
		if err := p.checkOne(a); err != nil {
			return err
		}
	}
	return nil
}

func max0(i int) int {
	if i < 0 {
		return 0
	}
	return i
}

func (p *IPAccess) checkOne(a netip.Addr) error {
	if p.cfg.SkipPrivateIPs != nil && *p.cfg.SkipPrivateIPs && isPrivate(a) {
		return nil
	}
	for _, d := range p.cfg.Deny {
		if d.Contains(a) {
			return fmt.Errorf("%w: %s is denied", ErrIPDenied, a)
		}
	}
	if len(p.cfg.Allow) == 0 {
		return nil
	}
	for _, al := range p.cfg.Allow {
		if al.Contains(a) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not in the allow list", ErrIPDenied, a)
}

var privateNets = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"),
}

func isPrivate(a netip.Addr) bool {
	for _, n := range privateNets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// remoteIP is the connection's peer address.
func remoteIP(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseXFF reads every X-Forwarded-For header as one chain; false when there is none or an entry
// does not parse (agentgateway then uses the connection's IP).
func parseXFF(vals []string) ([]netip.Addr, bool) {
	if len(vals) == 0 {
		return nil, false
	}
	var out []netip.Addr
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			a, err := netip.ParseAddr(strings.Trim(part, "[]"))
			if err != nil {
				if ap, err2 := netip.ParseAddrPort(part); err2 == nil {
					a = ap.Addr()
				} else {
					return nil, false
				}
			}
			out = append(out, a.Unmap())
		}
	}
	return out, len(out) > 0
}
