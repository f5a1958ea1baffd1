// Package policyutil holds the small helpers package policy shares with its subpackages (extauthz,
// remoteratelimit, awsauth, gcpauth), so that they agree on field paths and header validation.
package policyutil

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"

	agentgateway "github.com/agentgw/agentgateway"
)

// Field names element i of a list field, with an optional sub-field: Field("keys", 2, "key") is
// "keys[2].key".
func Field(field string, i int, sub string) string {
	s := fmt.Sprintf("%s[%d]", field, i)
	if sub != "" {
		s += "." + sub
	}
	return s
}

// ValidToken reports whether s is an RFC 9110 token (header names, methods).
func ValidToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }

// StateOf returns the request's State, or a throwaway one when the policy runs outside a Gateway.
func StateOf(r *http.Request) (*agentgateway.State, *http.Request) {
	if st := agentgateway.StateFrom(r.Context()); st != nil {
		return st, r
	}
	st := &agentgateway.State{}
	return st, r.WithContext(agentgateway.WithState(r.Context(), st))
}

// SortedKeys returns the keys of m in order, so compiled policies behave the same on every build.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// HostOnly strips the port from a Host value ("example.com:443" -> "example.com", "[::1]:80" ->
// "[::1]").
func HostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	return h
}

// Outbound is the transport of a policy's own HTTP client (JWKS fetches, ext_authz over HTTP, token
// sources) that the gateway's [agentgateway.Services] may wrap. The wrapping is swapped atomically, so
// a Gateway may provision a policy again while requests use it.
type Outbound struct {
	base http.RoundTripper
	cur  atomic.Pointer[roundTripper]
}

type roundTripper struct{ http.RoundTripper }

// NewOutbound returns an Outbound over base (http.DefaultTransport when nil), unwrapped until
// Provision. A policy that closes its connections passes a transport of its own.
func NewOutbound(base http.RoundTripper) *Outbound {
	if base == nil {
		base = http.DefaultTransport
	}
	o := &Outbound{base: base}
	o.cur.Store(&roundTripper{base})
	return o
}

// Provision wraps the base transport with svc's hook. It is idempotent: each call wraps the base,
// never a previous wrapping.
func (o *Outbound) Provision(svc agentgateway.Services) {
	o.cur.Store(&roundTripper{svc.Transport(o.base)})
}

// RoundTrip sends r through the current transport.
func (o *Outbound) RoundTrip(r *http.Request) (*http.Response, error) {
	return o.cur.Load().RoundTrip(r)
}

// CloseIdleConnections closes the base transport's idle connections (those of
// http.DefaultTransport too, when that is the base: harmless, they are only idle).
func (o *Outbound) CloseIdleConnections() {
	if c, ok := o.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
