package mcp

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"

	agentgateway "github.com/agentgw/agentgateway"
)

// The gateway's own origin is the request's Host with the request's scheme: https over TLS or when a
// trusted proxy says so, ports defaulted from the scheme.
func TestOwnOrigin(t *testing.T) {
	cases := []struct {
		name, host, origin, xfp string
		tls, trusted            bool
		allowed                 []string
		want                    bool
	}{
		{name: "same", host: "gw.example.com:8080", origin: "http://gw.example.com:8080", want: true},
		{name: "default port", host: "gw.example.com", origin: "http://GW.example.com:80", want: true},
		{name: "other port", host: "gw.example.com:8080", origin: "http://gw.example.com:8081"},
		{name: "other host", host: "gw.example.com", origin: "http://evil.example.com"},
		{name: "tls", host: "gw.example.com", origin: "https://gw.example.com", tls: true, want: true},
		{name: "tls, http origin", host: "gw.example.com", origin: "http://gw.example.com", tls: true},
		{name: "https origin on plain http", host: "gw.example.com", origin: "https://gw.example.com"},
		{name: "trusted proxy says https", host: "gw.example.com", origin: "https://gw.example.com", xfp: "https", trusted: true, want: true},
		{name: "untrusted peer says https", host: "gw.example.com", origin: "https://gw.example.com", xfp: "https"},
		{name: "ipv6 loopback", host: "[::1]:8080", origin: "http://[::1]:8080", want: true},
		{name: "loopback alias", host: "[::1]:8080", origin: "http://localhost:8080", want: true},
		{name: "loopback alias, other port", host: "127.0.0.1:8080", origin: "http://localhost:8081"},
		{name: "loopback alias not with a list", host: "127.0.0.1:8080", origin: "http://localhost:8080", allowed: []string{"https://app.example.com"}},
		{name: "own origin with a list", host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080", allowed: []string{"https://app.example.com"}, want: true},
		{name: "listed", host: "gw.example.com", origin: "https://app.example.com", allowed: []string{"https://app.example.com:443"}, want: true},
		{name: "star", host: "gw.example.com", origin: "https://any.example.com", allowed: []string{"*"}, want: true},
		{name: "null", host: "gw.example.com", origin: "null"},
		{name: "listed null", host: "gw.example.com", origin: "null", allowed: []string{"null"}, want: true},
		{name: "junk", host: "gw.example.com", origin: "http://gw.example.com/path"},
		{name: "bad port", host: "gw.example.com", origin: "http://gw.example.com:99999"},
		{name: "userinfo", host: "gw.example.com", origin: "http://x@gw.example.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &Federation{cfg: Config{AllowedOrigins: c.allowed}}
			r := httptest.NewRequest("POST", "/mcp", nil)
			r.Host = c.host
			r.Header.Set("Origin", c.origin)
			if c.xfp != "" {
				r.Header.Set("X-Forwarded-Proto", c.xfp)
			}
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			r = r.WithContext(agentgateway.WithState(r.Context(), &agentgateway.State{TrustedProxy: c.trusted}))
			if got := f.allowedHostOrigin(r); got != c.want {
				t.Fatalf("Host %s, Origin %s: allowed=%v, want %v", c.host, c.origin, got, c.want)
			}
		})
	}
}
