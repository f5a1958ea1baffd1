package policy

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// Mode says whether an authentication policy requires a credential and what it does with a bad one.
type Mode uint8

// The modes, as agentgateway defines them.
const (
	// ModeStrict requires a valid credential. It is the zero value: adding an authentication policy
	// never leaves a route open by omission. (agentgateway's config files default to optional; the
	// config package applies that default when a file names no mode.)
	ModeStrict Mode = iota
	// ModeOptional validates a credential when one is present: a missing credential passes, an
	// invalid one is rejected.
	ModeOptional
	// ModePermissive never rejects: valid credentials are recorded for later policies, missing or
	// invalid ones are ignored.
	ModePermissive
)

// String returns the mode as agentgateway's schema spells it ("strict", "optional", "permissive").
func (m Mode) String() string {
	switch m {
	case ModeStrict:
		return "strict"
	case ModeOptional:
		return "optional"
	case ModePermissive:
		return "permissive"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

func (m Mode) validate(field string, allowed ...Mode) (Mode, error) {
	for _, a := range allowed {
		if m == a {
			return m, nil
		}
	}
	return 0, agentgateway.Errorf(field, "unknown mode %q (want one of %v)", m, allowed)
}

// Errors wrapped by request-time failures, so callers and tests can match them.
var (
	// ErrMissingCredential: the request carries no credential where one is required.
	ErrMissingCredential = errors.New("missing credential")
	// ErrInvalidCredential: the credential is malformed, unknown or fails verification.
	ErrInvalidCredential = errors.New("invalid credential")
)

// Location is where a credential is read from (or, for backend auth, written to): exactly one of
// Header, QueryParameter, Cookie and Expression (read only).
type Location struct {
	// Header names a request header; Prefix (e.g. "Bearer ") is stripped from its value when reading
	// and put in front when writing. The prefix is matched case-insensitively, as auth schemes are.
	Header string
	Prefix string
	// QueryParameter names a query parameter.
	QueryParameter string
	// Cookie names a cookie.
	Cookie string
	// Expression is a CEL expression returning the credential string.
	Expression string
}

// BearerLocation is the default location: the Authorization header with the "Bearer " prefix.
func BearerLocation() *Location {
	return &Location{Header: "Authorization", Prefix: "Bearer "}
}

type locKind uint8

const (
	locHeader locKind = iota
	locQuery
	locCookie
	locExpr
)

type locator struct {
	kind   locKind
	name   string // canonical header name, query or cookie name
	prefix string
	expr   *cel.Program
}

func (l *Location) compile(field string, def *Location, writable bool) (*locator, error) {
	if l == nil {
		l = def
	}
	n := 0
	var c locator
	if l.Header != "" {
		n++
		if !validToken(l.Header) {
			return nil, agentgateway.Errorf(field+".header", "invalid header name %q", l.Header)
		}
		c = locator{kind: locHeader, name: http.CanonicalHeaderKey(l.Header), prefix: l.Prefix}
	} else if l.Prefix != "" {
		return nil, agentgateway.Errorf(field+".prefix", "a prefix needs a header")
	}
	if l.QueryParameter != "" {
		n++
		c = locator{kind: locQuery, name: l.QueryParameter}
	}
	if l.Cookie != "" {
		n++
		if !validToken(l.Cookie) {
			return nil, agentgateway.Errorf(field+".cookie", "invalid cookie name %q", l.Cookie)
		}
		c = locator{kind: locCookie, name: l.Cookie}
	}
	if l.Expression != "" {
		n++
		if writable {
			return nil, agentgateway.Errorf(field+".expression", "an expression can read a credential but not place one")
		}
		p, err := cel.Compile(l.Expression, celgo.StringType)
		if err != nil {
			return nil, agentgateway.Errorf(field+".expression", "%w", err)
		}
		c = locator{kind: locExpr, expr: p}
	}
	if n != 1 {
		return nil, agentgateway.Errorf(field, "set exactly one of header, queryParameter, cookie, expression")
	}
	return &c, nil
}

// extract returns the credential and whether the request carries one at this location. For a header
// with a prefix, a value without the prefix counts as present but malformed (ok true, cred "").
func (l *locator) extract(r *http.Request) (cred string, present bool) {
	switch l.kind {
	case locHeader:
		vs := r.Header[l.name]
		if len(vs) == 0 {
			return "", false
		}
		return StripPrefix(vs[0], l.prefix), true
	case locQuery:
		if r.URL == nil || !strings.Contains(r.URL.RawQuery, l.name) {
			return "", false
		}
		q := r.URL.Query()
		if !q.Has(l.name) {
			return "", false
		}
		return q.Get(l.name), true
	case locCookie:
		c, err := r.Cookie(l.name)
		if err != nil {
			return "", false
		}
		return c.Value, true
	case locExpr:
		s, err := l.expr.EvalString(r.Context(), cel.NewActivation(r, nil))
		if err != nil || s == "" {
			return "", false
		}
		return s, true
	}
	return "", false
}

// remove deletes the credential from the request, so it is not forwarded to the backend.
func (l *locator) remove(r *http.Request) {
	switch l.kind {
	case locHeader:
		delete(r.Header, l.name)
	case locQuery:
		q := r.URL.Query()
		q.Del(l.name)
		u := *r.URL
		u.RawQuery = q.Encode()
		r.URL = &u
	case locCookie:
		cs := r.Cookies()
		r.Header.Del("Cookie")
		for _, c := range cs {
			if c.Name != l.name {
				r.AddCookie(c)
			}
		}
	}
}

// place writes value at the location (backend auth).
func (l *locator) place(r *http.Request, value string) {
	switch l.kind {
	case locHeader:
		r.Header[l.name] = []string{l.prefix + value}
	case locQuery:
		q := r.URL.Query()
		q.Set(l.name, value)
		u := *r.URL
		u.RawQuery = q.Encode()
		r.URL = &u
	case locCookie:
		l.remove(r)
		r.AddCookie(&http.Cookie{Name: l.name, Value: value})
	}
}

// StripPrefix removes prefix from v, comparing case-insensitively (auth schemes are
// case-insensitive, RFC 9110 §11.1) and tolerating extra spaces after it. It returns "" when v does not
// start with the prefix.
func StripPrefix(v, prefix string) string {
	if prefix == "" {
		return strings.TrimSpace(v)
	}
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		// "Bearer" without the space, or another scheme.
		return ""
	}
	return strings.TrimSpace(v[len(prefix):])
}

// validToken reports whether s is an RFC 9110 token (header names, methods).
func validToken(s string) bool { return policyutil.ValidToken(s) }

func fieldf(field string, i int, sub string) string { return policyutil.Field(field, i, sub) }

// challenge writes a 401 with a WWW-Authenticate challenge.
func challenge(w http.ResponseWriter, wwwAuth, msg string) {
	w.Header().Set("WWW-Authenticate", wwwAuth)
	agentgateway.WriteError(w, http.StatusUnauthorized, msg)
}

// stateOf returns the request's State, or a throwaway one when the policy runs outside a Gateway.
func stateOf(r *http.Request) (*agentgateway.State, *http.Request) { return policyutil.StateOf(r) }
