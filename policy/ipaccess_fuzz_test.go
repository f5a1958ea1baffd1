package policy

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// Any X-Forwarded-For and peer address gives a verdict, never a panic; a verdict of "denied" always
// wraps ErrIPDenied; and a chain longer than maxXffLength is always refused.
func FuzzIPAccessXFF(f *testing.F) {
	for _, s := range []struct{ xff, peer string }{
		{"203.0.113.9, 10.0.0.1", "10.0.0.2:1"},
		{"", "[2001:db8::1]:443"},
		{"[::1]:80, 1.2.3.4:99", "garbage"},
		{strings.Repeat("1.1.1.1,", 40), "8.8.8.8:1"},
		{",,, ,", "127.0.0.1:0"},
		{"::ffff:10.0.0.1", "[::ffff:10.0.0.1]:1"},
	} {
		f.Add(s.xff, s.peer)
	}
	hops, yes, limit := 2, true, 5
	p, err := NewIPAccess(IPAccessConfig{
		Allow:             []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		Deny:              []netip.Prefix{netip.MustParsePrefix("203.0.113.128/25")},
		XFFNumTrustedHops: &hops, SkipPrivateIPs: &yes, MaxXFFLength: &limit,
	})
	if err != nil {
		f.Fatal(err)
	}
	full := p.Merge(&IPAccess{cfg: IPAccessConfig{EnforceFullChain: &yes}})
	f.Fuzz(func(t *testing.T, xff, peer string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		for _, pol := range []*IPAccess{p, full} {
			if err := pol.Check(r); err != nil && !errors.Is(err, ErrIPDenied) {
				t.Fatalf("error %v does not wrap ErrIPDenied", err)
			}
		}
		if chain, ok := parseXFF(r.Header.Values("X-Forwarded-For")); ok && len(chain) > limit {
			if p.Check(r) == nil || full.Check(r) == nil {
				t.Fatalf("a chain of %d entries passed (limit %d)", len(chain), limit)
			}
		}
	})
}
