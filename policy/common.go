package policy

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// Mode says whether an authentication policy requires a credential and what it does with a bad one.
type Mode string

// The modes, as agentgateway defines them.
const (
	// ModeStrict requires a valid credential. It is what an empty Mode means in Go: adding an
	// authentication policy never leaves a route open by omission. (agentgateway's config files default
	// to optional; the config package applies that default when a file names no mode.)
	ModeStrict Mode = "strict"
	// ModeOptional validates a credential when one is present: a missing credential passes, an
	// invalid one is rejected.
	ModeOptional Mode = "optional"
	// ModePermissive never rejects: valid credentials are recorded for later policies, missing or
	// invalid ones are ignored.
	ModePermissive Mode = "permissive"
)

func (m Mode) validate(field string, allowed ...Mode) (Mode, error) {
	if m == "" {
		return ModeStrict, nil
	}
	for _, a := range allowed {
		if m == a {
			return m, nil
		}
	}
	return "", agentgateway.Errorf(field, "unknown mode %q (want one of %v)", m, allowed)
}

// Errors wrapped by request-time failures, so callers and tests can match them.
var (
	// ErrMissingCredential: the request carries no credential where one is required.
	ErrMissingCredential = errors.New("missing credential")
	// ErrInvalidCredential: the credential is malformed, unknown or fails verification.
	ErrInvalidCredential = errors.New("invalid credential")
)

// Location is where a credential is read from (or, for backend auth, written to): exactly one of
// Header, QueryParameter, Cookie and Expression (read only). The schema's AuthorizationLocation.
type Location struct {
	Header         *HeaderLocation `json:"header,omitempty"`
	QueryParameter *NamedLocation  `json:"queryParameter,omitempty"`
	Cookie         *NamedLocation  `json:"cookie,omitempty"`
	// Expression is a CEL expression returning the credential string.
	Expression string `json:"expression,omitempty"`
}

// HeaderLocation is a header and the prefix (e.g. "Bearer ") stripped from its value; the prefix is
// matched case-insensitively, as auth schemes are.
type HeaderLocation struct {
	Name   string  `json:"name"`
	Prefix *string `json:"prefix,omitempty"`
}

// NamedLocation names a query parameter or cookie.
type NamedLocation struct {
	Name string `json:"name"`
}

// BearerLocation is the default location: the Authorization header with the "Bearer " prefix.
func BearerLocation() *Location {
	p := "Bearer "
	return &Location{Header: &HeaderLocation{Name: "Authorization", Prefix: &p}}
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
	if l.Header != nil {
		n++
		if !validToken(l.Header.Name) {
			return nil, agentgateway.Errorf(field+".header.name", "invalid header name %q", l.Header.Name)
		}
		c = locator{kind: locHeader, name: http.CanonicalHeaderKey(l.Header.Name)}
		if l.Header.Prefix != nil {
			c.prefix = *l.Header.Prefix
		}
	}
	if l.QueryParameter != nil {
		n++
		if l.QueryParameter.Name == "" {
			return nil, agentgateway.Errorf(field+".queryParameter.name", "required")
		}
		c = locator{kind: locQuery, name: l.QueryParameter.Name}
	}
	if l.Cookie != nil {
		n++
		if !validToken(l.Cookie.Name) {
			return nil, agentgateway.Errorf(field+".cookie.name", "invalid cookie name %q", l.Cookie.Name)
		}
		c = locator{kind: locCookie, name: l.Cookie.Name}
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

// FileOrInline is a value given inline or read from a file: in YAML either a string or {file: path}.
type FileOrInline struct {
	File   string
	Inline string
}

// UnmarshalJSON accepts "inline" or {"file": "path"}.
func (f *FileOrInline) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = FileOrInline{Inline: s}
		return nil
	}
	var o struct {
		File string `json:"file"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil || o.File == "" {
		return errors.New(`want a string or {file: path}`)
	}
	*f = FileOrInline{File: o.File}
	return nil
}

// MarshalJSON writes the form UnmarshalJSON reads.
func (f FileOrInline) MarshalJSON() ([]byte, error) {
	if f.File != "" {
		return json.Marshal(map[string]string{"file": f.File})
	}
	return json.Marshal(f.Inline)
}

// Load returns the value.
func (f FileOrInline) Load() ([]byte, error) {
	if f.File != "" {
		return os.ReadFile(f.File)
	}
	return []byte(f.Inline), nil
}

// IsZero reports whether neither form is set.
func (f FileOrInline) IsZero() bool { return f.File == "" && f.Inline == "" }

// FileInlineOrRemote is a value given inline, read from a file or fetched from a URL: a string,
// {file: path} or {url: "https://..."}.
type FileInlineOrRemote struct {
	File   string
	Inline string
	URL    string
}

// UnmarshalJSON accepts "inline", {"file": "path"} or {"url": "https://..."}.
func (f *FileInlineOrRemote) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = FileInlineOrRemote{Inline: s}
		return nil
	}
	var o struct {
		File string `json:"file"`
		URL  string `json:"url"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil || (o.File == "") == (o.URL == "") {
		return errors.New(`want a string, {file: path} or {url: "https://..."}`)
	}
	*f = FileInlineOrRemote{File: o.File, URL: o.URL}
	return nil
}

// MarshalJSON writes the form UnmarshalJSON reads.
func (f FileInlineOrRemote) MarshalJSON() ([]byte, error) {
	switch {
	case f.File != "":
		return json.Marshal(map[string]string{"file": f.File})
	case f.URL != "":
		return json.Marshal(map[string]string{"url": f.URL})
	}
	return json.Marshal(f.Inline)
}

func (f FileInlineOrRemote) validate(field string) error {
	n := 0
	for _, s := range []string{f.File, f.Inline, f.URL} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return agentgateway.Errorf(field, "set exactly one of an inline value, file or url")
	}
	if f.URL != "" {
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return agentgateway.Errorf(field+".url", "invalid URL %q", f.URL)
		}
	}
	return nil
}

// ConfigPath prefixes the path of a *agentgateway.ConfigError returned by a constructor of this
// package with the section's path (the config package uses it); other errors are located at prefix.
func ConfigPath(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var ce *agentgateway.ConfigError
	if errors.As(err, &ce) {
		p := prefix
		switch {
		case ce.Path == "":
		case p == "":
			p = ce.Path
		case strings.HasPrefix(ce.Path, "["):
			p += ce.Path
		default:
			p += "." + ce.Path
		}
		return &agentgateway.ConfigError{Path: p, Err: ce.Err}
	}
	return &agentgateway.ConfigError{Path: prefix, Err: err}
}

func fieldf(field string, i int, sub string) string { return policyutil.Field(field, i, sub) }

// challenge writes a 401 with a WWW-Authenticate challenge.
func challenge(w http.ResponseWriter, wwwAuth, msg string) {
	w.Header().Set("WWW-Authenticate", wwwAuth)
	agentgateway.WriteError(w, http.StatusUnauthorized, msg)
}

// stateOf returns the request's State, or a throwaway one when the policy runs outside a Gateway.
func stateOf(r *http.Request) (*agentgateway.State, *http.Request) { return policyutil.StateOf(r) }
