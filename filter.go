package agentgateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The Gateway API core filters. Each constructor validates its input and returns a Policy, so a filter
// is composed with the rest of a route once, when the configuration is compiled.

// HeaderModifier sets, adds and removes headers, in that order (the Gateway API HTTPHeaderFilter).
type HeaderModifier struct {
	// Set replaces any existing values.
	Set map[string]string
	// Add appends a value, keeping existing ones.
	Add map[string]string
	// Remove deletes headers by name.
	Remove []string
}

type headerOp struct{ name, value string }

type compiledModifier struct {
	set, add []headerOp
	remove   []string
}

func (m HeaderModifier) compile() (compiledModifier, error) {
	var c compiledModifier
	for k, v := range m.Set {
		if !httpguts.ValidHeaderFieldName(k) {
			return c, fmt.Errorf("set: invalid header name %q", k)
		}
		c.set = append(c.set, headerOp{http.CanonicalHeaderKey(k), v})
	}
	for k, v := range m.Add {
		if !httpguts.ValidHeaderFieldName(k) {
			return c, fmt.Errorf("add: invalid header name %q", k)
		}
		c.add = append(c.add, headerOp{http.CanonicalHeaderKey(k), v})
	}
	for _, k := range m.Remove {
		if !httpguts.ValidHeaderFieldName(k) {
			return c, fmt.Errorf("remove: invalid header name %q", k)
		}
		c.remove = append(c.remove, http.CanonicalHeaderKey(k))
	}
	return c, nil
}

func (c *compiledModifier) apply(h http.Header) {
	for _, op := range c.set {
		h[op.name] = []string{op.value}
	}
	for _, op := range c.add {
		h[op.name] = append(h[op.name], op.value)
	}
	for _, k := range c.remove {
		delete(h, k)
	}
}

// RequestHeaderModifier returns a policy that modifies the request headers sent to the backend.
// Setting "Host" rewrites the request's host.
func RequestHeaderModifier(m HeaderModifier) (Policy, error) {
	c, err := m.compile()
	if err != nil {
		return nil, fmt.Errorf("requestHeaderModifier: %w", err)
	}
	return NewPolicy(PhaseFilter, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.apply(r.Header)
			if hs, ok := r.Header["Host"]; ok {
				if len(hs) > 0 {
					r.Host = hs[0]
				}
				delete(r.Header, "Host")
			}
			next.ServeHTTP(w, r)
		})
	}), nil
}

// ResponseHeaderModifier returns a policy that modifies the response headers sent to the client.
func ResponseHeaderModifier(m HeaderModifier) (Policy, error) {
	c, err := m.compile()
	if err != nil {
		return nil, fmt.Errorf("responseHeaderModifier: %w", err)
	}
	return NewPolicy(PhaseFilter, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mw := &modifiedWriter{c: &c}
			mw.Init(w, mw, nil)
			next.ServeHTTP(mw, r)
		})
	}), nil
}

// modifiedWriter applies a response header modifier as the header is sent.
type modifiedWriter struct {
	HookedWriter
	c *compiledModifier
}

func (m *modifiedWriter) BeforeHeader(h http.Header, status int) int {
	m.c.apply(h)
	return status
}

// PathModifier replaces the whole path or the matched prefix (exactly one must be set).
type PathModifier struct {
	ReplaceFullPath    *string
	ReplacePrefixMatch *string
}

func (p *PathModifier) validate() error {
	if p == nil {
		return nil
	}
	switch {
	case p.ReplaceFullPath != nil && p.ReplacePrefixMatch != nil:
		return errors.New("path: set either full or prefix, not both")
	case p.ReplaceFullPath != nil && !strings.HasPrefix(*p.ReplaceFullPath, "/"):
		return fmt.Errorf("path: full path %q must start with /", *p.ReplaceFullPath)
	case p.ReplacePrefixMatch != nil && *p.ReplacePrefixMatch != "" && !strings.HasPrefix(*p.ReplacePrefixMatch, "/"):
		return fmt.Errorf("path: prefix %q must start with /", *p.ReplacePrefixMatch)
	case p.ReplaceFullPath == nil && p.ReplacePrefixMatch == nil:
		return errors.New("path: set full or prefix")
	}
	return nil
}

// apply returns the rewritten path. A prefix replacement needs the prefix that matched; for a route
// matched exactly or by regex it falls back to replacing the whole path, as Envoy does.
func (p *PathModifier) apply(path, matched string) string {
	if p.ReplaceFullPath != nil {
		return *p.ReplaceFullPath
	}
	rest := ""
	if matched != "" && strings.HasPrefix(path, matched) {
		rest = path[len(matched):]
	}
	out := strings.TrimSuffix(*p.ReplacePrefixMatch, "/") + rest
	if out == "" || out[0] != '/' {
		out = "/" + out
	}
	return out
}

// RequestRedirect answers with a redirect (the Gateway API HTTPRequestRedirectFilter).
type RequestRedirect struct {
	// Scheme replaces the scheme ("http" or "https").
	Scheme string
	// Hostname replaces the host; Port replaces the port (0 keeps the request's, or the scheme's
	// well-known port when Scheme changes it).
	Hostname string
	Port     int
	// Path replaces the path; the query is kept.
	Path *PathModifier
	// StatusCode is 301, 302 (default), 303, 307 or 308.
	StatusCode int
}

// Redirect returns a policy that answers every request with a redirect.
func Redirect(rr RequestRedirect) (Policy, error) {
	if rr.StatusCode == 0 {
		rr.StatusCode = http.StatusFound
	}
	switch rr.StatusCode {
	case 301, 302, 303, 307, 308:
	default:
		return nil, fmt.Errorf("requestRedirect: status %d is not a redirect status", rr.StatusCode)
	}
	if rr.Scheme != "" && rr.Scheme != "http" && rr.Scheme != "https" {
		return nil, fmt.Errorf("requestRedirect: scheme %q must be http or https", rr.Scheme)
	}
	if rr.Port < 0 || rr.Port > 65535 {
		return nil, fmt.Errorf("requestRedirect: port %d out of range", rr.Port)
	}
	if err := rr.Path.validate(); err != nil {
		return nil, fmt.Errorf("requestRedirect: %w", err)
	}
	return NewPolicy(PhaseFilter, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", rr.location(r))
			w.WriteHeader(rr.StatusCode)
		})
	}), nil
}

func (rr *RequestRedirect) location(r *http.Request) string {
	reqScheme := "http"
	if r.TLS != nil {
		reqScheme = "https"
	}
	scheme := reqScheme
	if rr.Scheme != "" {
		scheme = rr.Scheme
	}
	host, port := r.Host, ""
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host, port = h, p
	}
	if rr.Hostname != "" {
		host = rr.Hostname
	}
	switch {
	case rr.Port != 0:
		port = strconv.Itoa(rr.Port)
	case rr.Scheme != "":
		port = "" // the well-known port of the new scheme
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	authority := host
	if port != "" {
		authority = net.JoinHostPort(host, port)
	}
	path := r.URL.Path
	if rr.Path != nil {
		var matched string
		if st := StateFrom(r.Context()); st != nil {
			matched = st.MatchedPrefix
		}
		path = rr.Path.apply(path, matched)
	}
	loc := scheme + "://" + authority + path
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	return loc
}

// URLRewrite rewrites the request before it is forwarded (the Gateway API HTTPURLRewriteFilter).
type URLRewrite struct {
	// Hostname replaces the Host header sent to the backend.
	Hostname string
	Path     *PathModifier
}

// Rewrite returns a policy that rewrites the host and/or path of each request.
func Rewrite(u URLRewrite) (Policy, error) {
	if err := u.Path.validate(); err != nil {
		return nil, fmt.Errorf("urlRewrite: %w", err)
	}
	if u.Hostname == "" && u.Path == nil {
		return nil, errors.New("urlRewrite: set a hostname or a path")
	}
	return NewPolicy(PhaseFilter, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u.Hostname != "" {
				r.Host = u.Hostname
			}
			if u.Path != nil {
				var matched string
				if st := StateFrom(r.Context()); st != nil {
					matched = st.MatchedPrefix
				}
				u2 := *r.URL
				u2.Path = u.Path.apply(r.URL.Path, matched)
				u2.RawPath = ""
				r.URL = &u2
			}
			next.ServeHTTP(w, r)
		})
	}), nil
}

// DirectResponse answers requests from the gateway itself.
type DirectResponse struct {
	Status int
	Body   []byte
	Header http.Header
}

// Respond returns a policy that answers every request with d; the backend is never called.
func Respond(d DirectResponse) (Policy, error) {
	if d.Status < 100 || d.Status > 999 {
		return nil, fmt.Errorf("directResponse: status %d out of range", d.Status)
	}
	length := strconv.Itoa(len(d.Body))
	return NewPolicy(PhaseFilter, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for k, v := range d.Header {
				h[k] = v
			}
			if len(d.Body) > 0 && h.Get("Content-Type") == "" {
				h.Set("Content-Type", "text/plain; charset=utf-8")
			}
			h.Set("Content-Length", length)
			w.WriteHeader(d.Status)
			if r.Method != http.MethodHead {
				_, _ = w.Write(d.Body)
			}
		})
	}), nil
}
