package agentgateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
)

// Config is the declarative form of a gateway: what the fluent API builds, what the config package
// decodes YAML into, and what [Gateway.Apply] compiles into the immutable routing table.
type Config struct {
	Listeners []ListenerConfig
	// Ports sets how ports are served beyond their listeners (CONNECT tunnels, internal ports).
	Ports []PortConfig
}

// Validate compiles the configuration without applying it and reports every problem, with field paths
// relative to the Config ("listeners[0].routes[2].matches[0].path").
func (c Config) Validate() error {
	_, err := compile(c, nil)
	return err
}

// ListenerConfig groups routes by the port and hostname a request arrived on.
type ListenerConfig struct {
	Name string
	// Port selects requests accepted on this local port, which [Gateway.Run] binds. 0 binds nothing
	// and serves every port (after the listeners naming it), including those of Serve, ServeListener
	// and httptest servers; a port no listener names is served by port-less listeners only.
	Port int
	// Hostnames selects requests by Host (exact or "*.example.com"); empty means any host.
	Hostnames []string
	// TLS makes the port [Gateway.Run] binds for this listener serve HTTPS (HTTP/2 by ALPN); nil is
	// plain HTTP (and h2c). Listeners sharing a port are all TLS or all plain; on a TLS port the client's
	// SNI picks the listener, and so its certificate and client-certificate rules, by Hostnames: an
	// exact name, then the longest wildcard, then a listener without hostnames. Requests on that
	// connection are served by that listener only (421 Misdirected Request otherwise).
	// GetConfigForClient, if set, is called with the handshake's ClientHelloInfo.
	TLS    *tls.Config
	Routes []RouteConfig
	// Protocol is what the listener accepts: HTTP routes (the zero value), or TCP and TLS routes.
	Protocol ListenerProtocol
	// TCPRoutes serve a TCP or TLS listener's connections; an HTTP listener has none.
	TCPRoutes []TCPRouteConfig
}

// RouteConfig is one route: which requests it takes, what runs in front of the backend, and the backend.
type RouteConfig struct {
	Name string
	// Hostnames restricts the route to these hosts (exact or "*.example.com"); empty means any host.
	Hostnames []string
	// Matches are alternatives: a request that satisfies any of them takes the route. None means a
	// prefix match on "/".
	Matches []Match
	// Policies run in front of the backend, ordered by [Phase] (outermost first) and, within a phase,
	// in the order given.
	Policies []Policy
	// Backends receive the requests, split by weight when there are several. An attempt that a retry
	// policy repeats goes to another backend of weight, when there is one; a backend whose endpoints
	// are all ejected (see [HTTPBackend.Available]) gets no traffic while another takes it.
	Backends []WeightedBackend
}

// WeightedBackend is one backend of a route with its share of traffic.
type WeightedBackend struct {
	// Name is recorded in State.Backend and the access log; when empty it is taken from the handler's
	// BackendName method, or the route name.
	Name    string
	Handler http.Handler
	// Weight is the relative share of requests; a zero weight takes no traffic. When every backend of a
	// route has weight 0 the route answers 500, as Gateway API requires.
	Weight int
}

// PathMatchType says how a [PathMatch] compares the request path.
type PathMatchType int

const (
	// PathPrefix matches the path by whole segments: "/api" matches "/api" and "/api/x", not "/apix".
	PathPrefix PathMatchType = iota
	// PathExact matches the path exactly.
	PathExact
	// PathRegex matches when the whole path matches an RE2 regular expression.
	PathRegex
)

func (t PathMatchType) String() string {
	switch t {
	case PathExact:
		return "exact"
	case PathRegex:
		return "regex"
	default:
		return "pathPrefix"
	}
}

// PathMatch compares the request path.
type PathMatch struct {
	Type  PathMatchType
	Value string
}

// ValueMatch compares a header or query value exactly, or as an RE2 regular expression that must match
// the whole value.
type ValueMatch struct {
	Name  string
	Value string
	Regex bool
}

// Match is one set of conditions, all of which must hold.
type Match struct {
	Path    PathMatch
	Method  string
	Headers []ValueMatch
	Query   []ValueMatch
}

// ErrInvalidConfig is wrapped by every error that Apply and the builders report for a bad configuration.
var ErrInvalidConfig = errors.New("invalid config")

// ConfigError is a configuration error located by its field path, e.g.
// "listeners[0].routes[2].matches[0].path".
type ConfigError struct {
	Path string
	Err  error
}

func (e *ConfigError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

func (e *ConfigError) Unwrap() []error { return []error{ErrInvalidConfig, e.Err} }

// Errorf returns a *ConfigError at path.
func Errorf(path, format string, args ...any) error {
	return &ConfigError{Path: path, Err: fmt.Errorf(format, args...)}
}

// RouteBuilder is the fluent way to add a route: set matches and filters, add policies, and finish with
// To. Errors (a bad regex, a rewrite without a prefix match) are kept and returned by To, and by
// [Gateway.Err], [Gateway.Serve] and [Gateway.ListenAndServe].
type RouteBuilder struct {
	gw       *Gateway
	listener string
	cfg      RouteConfig
	cur      *Match // the match being built; nil until a condition is set
	errs     []error
	answers  bool // Respond or Redirect answers every request, so no backend is needed
}

func (b *RouteBuilder) match() *Match {
	if b.cur == nil {
		b.cfg.Matches = append(b.cfg.Matches, Match{})
		b.cur = &b.cfg.Matches[len(b.cfg.Matches)-1]
	}
	return b.cur
}

// Or starts another alternative set of conditions; the route takes requests matching any set.
func (b *RouteBuilder) Or() *RouteBuilder {
	b.cfg.Matches = append(b.cfg.Matches, Match{})
	b.cur = &b.cfg.Matches[len(b.cfg.Matches)-1]
	return b
}

// Host restricts the route to these hostnames ("api.example.com" or "*.example.com").
func (b *RouteBuilder) Host(hostnames ...string) *RouteBuilder {
	b.cfg.Hostnames = append(b.cfg.Hostnames, hostnames...)
	return b
}

// Path matches the path exactly.
func (b *RouteBuilder) Path(path string) *RouteBuilder {
	b.match().Path = PathMatch{Type: PathExact, Value: path}
	return b
}

// PathPrefix matches the path by whole segments.
func (b *RouteBuilder) PathPrefix(prefix string) *RouteBuilder {
	b.match().Path = PathMatch{Type: PathPrefix, Value: prefix}
	return b
}

// PathRegex matches when the whole path matches the RE2 expression.
func (b *RouteBuilder) PathRegex(expr string) *RouteBuilder {
	b.match().Path = PathMatch{Type: PathRegex, Value: expr}
	return b
}

// Method matches the request method.
func (b *RouteBuilder) Method(method string) *RouteBuilder {
	b.match().Method = method
	return b
}

// Header requires the header to equal value.
func (b *RouteBuilder) Header(name, value string) *RouteBuilder {
	m := b.match()
	m.Headers = append(m.Headers, ValueMatch{Name: name, Value: value})
	return b
}

// HeaderRegex requires the header to match the RE2 expression.
func (b *RouteBuilder) HeaderRegex(name, expr string) *RouteBuilder {
	m := b.match()
	m.Headers = append(m.Headers, ValueMatch{Name: name, Value: expr, Regex: true})
	return b
}

// Query requires the query parameter to equal value.
func (b *RouteBuilder) Query(name, value string) *RouteBuilder {
	m := b.match()
	m.Query = append(m.Query, ValueMatch{Name: name, Value: value})
	return b
}

// QueryRegex requires the query parameter to match the RE2 expression.
func (b *RouteBuilder) QueryRegex(name, expr string) *RouteBuilder {
	m := b.match()
	m.Query = append(m.Query, ValueMatch{Name: name, Value: expr, Regex: true})
	return b
}

// Use adds policies. They run by [Phase] whatever order they are added in (authentication before
// authorization before rate limits ...); policies of one phase run in the order added. A plain
// middleware can be added as a [PolicyFunc].
func (b *RouteBuilder) Use(policies ...Policy) *RouteBuilder {
	b.cfg.Policies = append(b.cfg.Policies, policies...)
	return b
}

// Policy appends one policy straight from a constructor that can fail, so construction errors are
// reported by To with the route's other errors:
//
//	gw.Route("api").Policy(policy.NewCORS(cors)).Policy(policy.NewJWT(jwt)).To(backend)
func (b *RouteBuilder) Policy(p Policy, err error) *RouteBuilder { return b.use(p, err) }

func (b *RouteBuilder) use(p Policy, err error) *RouteBuilder {
	if err != nil {
		b.errs = append(b.errs, err)
		return b
	}
	return b.Use(p)
}

// RequestHeaders modifies request headers before they reach the backend.
func (b *RouteBuilder) RequestHeaders(m HeaderModifier) *RouteBuilder {
	return b.use(RequestHeaderModifier(m))
}

// ResponseHeaders modifies response headers before they reach the client.
func (b *RouteBuilder) ResponseHeaders(m HeaderModifier) *RouteBuilder {
	return b.use(ResponseHeaderModifier(m))
}

// Redirect answers with a redirect instead of forwarding.
func (b *RouteBuilder) Redirect(r RequestRedirect) *RouteBuilder {
	b.answers = true
	return b.use(Redirect(r))
}

// Rewrite rewrites the path and/or host before forwarding.
func (b *RouteBuilder) Rewrite(r URLRewrite) *RouteBuilder {
	return b.use(Rewrite(r))
}

// RewritePrefix replaces the matched path prefix with prefix before forwarding.
func (b *RouteBuilder) RewritePrefix(prefix string) *RouteBuilder {
	return b.Rewrite(URLRewrite{Path: &PathModifier{ReplacePrefixMatch: &prefix}})
}

// Respond answers directly with status and body; no backend is called.
func (b *RouteBuilder) Respond(status int, body string) *RouteBuilder {
	b.answers = true
	return b.use(Respond(DirectResponse{Status: status, Body: []byte(body)}))
}

// To finishes the route with its backend and adds it to the gateway. The route is validated now — a
// bad regex, a failed policy constructor or an invalid backend is returned here, and affects no other
// route — and the routing table is compiled once for all the routes added before the next request.
// To(nil) is an error unless the route answers by itself (Respond or Redirect); [RouteBuilder.Done]
// says that more plainly.
func (b *RouteBuilder) To(backend http.Handler) error {
	if backend == nil {
		if !b.answers {
			return b.fail(errors.New("nil backend: the route has no backend and neither Respond nor Redirect answers its requests"))
		}
		return b.ToWeighted()
	}
	return b.ToWeighted(WeightedBackend{Handler: backend, Weight: 1})
}

// Done finishes a route that answers by itself (Respond or Redirect) and adds it to the gateway.
func (b *RouteBuilder) Done() error { return b.To(nil) }

func (b *RouteBuilder) fail(err error) error {
	err = &ConfigError{Path: fmt.Sprintf("route %q", b.cfg.Name), Err: err}
	b.gw.recordErr(err)
	return err
}

// ToWeighted finishes the route with several backends that split traffic by weight.
func (b *RouteBuilder) ToWeighted(backends ...WeightedBackend) error {
	b.cfg.Backends = backends
	if err := errors.Join(b.errs...); err != nil {
		return b.fail(err)
	}
	for i, be := range backends {
		if be.Handler == nil {
			return b.fail(fmt.Errorf("backends[%d]: nil handler", i))
		}
	}
	return b.gw.addRoute(b.listener, b.cfg)
}

// Weighted pairs a backend with a weight, for [RouteBuilder.ToWeighted].
func Weighted(backend http.Handler, weight int) WeightedBackend {
	return WeightedBackend{Handler: backend, Weight: weight}
}
