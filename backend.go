package agentgateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/agentgw/agentgateway/internal/proxy"
)

// HTTPBackendConfig configures an HTTP backend: a streaming reverse proxy to one or more endpoints.
type HTTPBackendConfig struct {
	// Name is recorded in State.Backend and the access log; default: the first endpoint.
	Name string
	// Endpoints are "host:port" or "http(s)://host[:port][/base/path]"; at least one, all with the same
	// scheme. A base path is prepended to every request path.
	Endpoints []string
	// Transport, when set, replaces the built-in pooled transport; TLS, HTTP2 and the timeouts below
	// then do not apply. A per-request override ([WithUpstreamTransport]) wins over both.
	Transport http.RoundTripper
	// TLS configures https endpoints (root CAs, client certificate, ServerName for SNI).
	TLS *tls.Config
	// HTTP2 speaks HTTP/2 to the upstream: h2c (prior knowledge) for http endpoints, h2 for https ones.
	// Upgrade requests (WebSocket) still use HTTP/1.1.
	HTTP2 bool
	// Dial, when set, opens the upstream connections in place of a direct TCP connection
	// (backendTunnel: through an HTTP CONNECT proxy, see [DialThroughConnect]); TLS to https endpoints
	// runs over it, and DialTimeout bounds it. Such a backend is served by net/http's client, not the
	// built-in HTTP/1.1 one.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTimeout bounds connecting (default 10s). ResponseHeaderTimeout bounds the wait for the
	// response header once the request is sent, on every route (default none here; the gateway's
	// default backend timeout, see [WithDefaultBackendTimeout], bounds the same wait on routes without
	// a timeout policy, and the tighter applies). IdleConnTimeout closes pooled connections idle that long (default 90s).
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
	// KeepAlive sets the TCP keepalive probes of upstream connections (nil: probes after 30s idle,
	// Go's dialer otherwise). Enable false with negative Idle, Interval and Count turns them off.
	KeepAlive *net.KeepAliveConfig
	// MaxIdleConnsPerHost is the keep-alive pool size per endpoint (default 100).
	MaxIdleConnsPerHost int
	// MaxResponseHeaderBytes bounds the size of an upstream response header, informational responses
	// before it included (default [DefaultMaxResponseHeaderBytes]); MaxResponseHeaders bounds its
	// number of field lines (default [DefaultMaxResponseHeaders]). Negative values lift the bounds
	// (to net/http's 10 MB for the size). A response over either is answered 502 "upstream error" and
	// its connection is not reused. They apply to every transport except a custom Transport, which
	// keeps its own size bound (the field count is checked all the same).
	MaxResponseHeaderBytes int64
	MaxResponseHeaders     int
	// BodyIdleTimeout bounds each wait for response body bytes once the header has come: an upstream
	// that stalls mid-body for that long has the response cut (the client sees a truncated body) and
	// its connection closed. Default [DefaultBodyIdleTimeout]; negative disables. Server-sent events
	// and other streams count every byte, keep-alive comments included, so only a silent stream is
	// cut. Tunnels after an upgrade (WebSocket) are not bounded.
	BodyIdleTimeout time.Duration
	// EjectAfter is the number of consecutive connect errors or 5xx responses after which an endpoint
	// is ejected from load balancing (default 5; negative disables ejection).
	EjectAfter int
	// EjectFor is how long an ejected endpoint is left alone (default 30s). An endpoint ejected again
	// without a success in between stays out twice as long each time, up to 5 minutes (or EjectFor if
	// that is longer).
	EjectFor time.Duration
	// EjectBelowHealth, when positive (up to 1), also ejects an endpoint on a failure that finds its
	// health score below it, whichever of the two comes first; with a negative EjectAfter it is the
	// only trigger. The score is a moving average of the endpoint's outcomes (1 a success, 0 a
	// failure, the newest weighing 0.3) and starts at 1, so a threshold of 0.5 ejects on the third
	// failure in a row of a healthy endpoint, and sooner when successes and failures alternate.
	EjectBelowHealth float64
	// RestoreHealth, when set, is the health score (0..1) an endpoint gets back when its ejection
	// ends; nil leaves its score as it was, so with EjectBelowHealth one more failure ejects it again.
	RestoreHealth *float64
	// Unhealthy, when set, decides whether a response counts toward EjectAfter (by default a 5xx
	// does); connect errors always count. r is the client's request. It runs on every response.
	Unhealthy func(r *http.Request, resp *http.Response) bool
	// FlushInterval controls how the response body is flushed to the client. Zero flushes streams —
	// server-sent events and responses of unknown length — after every write, and leaves responses of
	// known length to the server's buffering. A positive value flushes at most that often instead
	// (server-sent events are still flushed after every write). A negative value flushes every response
	// after every write.
	FlushInterval time.Duration
	// StdlibHTTP1 sends plain HTTP/1.1 requests through net/http's Transport too. By default the
	// built-in transport sends them (http endpoints without HTTP2) with a leaner synchronous client of
	// its own, which writes the request and reads the response on the handler's goroutine with a
	// keep-alive pool of its own (same timeouts and pool size). Upgrades, requests with trailers or
	// Expect: 100-continue, and requests with a per-request transport use the Transport either way.
	// The built-in client writes the whole request body before it reads the response (an upstream
	// that answers early and stops reading still gets its answer through); set StdlibHTTP1 for an
	// upstream that streams its response while it is still reading a streamed request body
	// (full duplex), whose response would otherwise wait for the end of the upload.
	StdlibHTTP1 bool
	// Upgrades lists the protocols a request may upgrade to and tunnel through the backend, matched
	// without regard to case against the tokens of its Upgrade header; "websocket" also matches a
	// versioned token ("websocket/13"), "name/version" only that version. nil means {"websocket"};
	// an empty non-nil list allows no upgrade. A request asking for a protocol not listed is
	// forwarded as a plain request, without Upgrade and the Connection "upgrade" token (as Envoy
	// does), and is never tunnelled; an upstream answering it with 101 gets a 502. "h2c" is never
	// allowed (NewHTTPBackend rejects it): its tunnel would carry the client's next requests to the
	// upstream past the gateway's routes.
	Upgrades []string
}

// HTTPBackend is an http.Handler that proxies requests to HTTP/1.1 or HTTP/2 upstreams.
//
// It streams in both directions (server-sent events reach the client event by event), passes
// WebSocket upgrades through (and those to the other protocols of HTTPBackendConfig.Upgrades, never
// h2c), keeps a pool of keep-alive connections, and sets X-Forwarded-For (appending the peer),
// X-Forwarded-Proto and X-Forwarded-Host. Hop-by-hop headers are dropped in both directions, those a
// Connection header nominates included, and the inbound Host is passed to the upstream unchanged; URL
// rewrites set the request's Host before the backend sees it. (net/http drops the Connection header of
// a response that also lists "close"; the built-in transport reads it anyway, but through a custom or
// per-request Transport, or from an HTTP2 backend's HTTP/1.1 responses, the headers it nominates
// pass.) A response without Content-Type is forwarded without one: the gateway's server does not
// sniff one from the body. The inbound request is never modified, so retry and mirror policies can
// reuse it.
// X-Forwarded-Proto and X-Forwarded-Host already present are kept only when the peer is a
// trusted proxy (see [WithTrustedProxies]).
//
// With several endpoints it balances by the power of two choices on in-flight requests, and ejects an
// endpoint after EjectAfter consecutive connect errors or 5xx responses. When every endpoint is ejected
// it still tries the one ejected longest ago rather than failing closed, answers 503 if that fails to
// connect, and ends that endpoint's ejection if it succeeds. A request that failed to connect (nothing
// was sent) is retried once on another endpoint; a request the upstream received is never retried.
//
// Errors are answered with [WriteError] and recorded in State.Err: 502 when the upstream cannot be
// reached or fails (or its response header is over the limits), 400 when the client's request body is
// malformed ([ErrMalformedRequestBody]), 503 when no endpoint is healthy, 504 when the response header
// does not arrive in time (HTTPBackendConfig.ResponseHeaderTimeout, or the gateway's default backend
// timeout, see [WithDefaultBackendTimeout]) or the request's deadline passes. A client that goes away
// cancels the upstream request (the access log shows 499). The built-in transport ignores HTTP_PROXY
// and friends, and passes the
// upstream's Content-Encoding through untouched.
type HTTPBackend struct {
	name       string
	err        error
	proxy      *proxy.Proxy
	transports []*http.Transport // built-in transports, for Close
	// ownTransport: HTTPBackendConfig.Transport was given, so the gateway's transport hook is not applied.
	ownTransport bool
	tel          atomic.Pointer[backendTelemetry] // set by Provision
}

// ErrMalformedRequestBody is in State.Err when a request was answered 400 because its body could not
// be read from the client (malformed chunked encoding, a body shorter than its Content-Length). The
// built-in HTTP/1.1 client keeps its upstream connection when nothing of the request had been sent.
var ErrMalformedRequestBody = proxy.ErrRequestBody

// ErrUpstreamBodyIdle is the cause recorded in State.Err when an upstream stalled mid-body for longer
// than HTTPBackendConfig.BodyIdleTimeout.
var ErrUpstreamBodyIdle = proxy.ErrBodyIdle

// DefaultBodyIdleTimeout is the default of HTTPBackendConfig.BodyIdleTimeout: Envoy's stream idle
// timeout.
const DefaultBodyIdleTimeout = 5 * time.Minute

// defaultUpgrades is HTTPBackendConfig.Upgrades when nil.
var defaultUpgrades = []string{"websocket"}

// ErrH2CUpgrade is returned by NewHTTPBackend for an HTTPBackendConfig.Upgrades that lists h2c.
var ErrH2CUpgrade = errors.New("h2c upgrades are never tunnelled: their tunnel would bypass the routes")

// Defaults for HTTPBackendConfig.
const (
	defaultDialTimeout     = 10 * time.Second
	defaultIdleConnTimeout = 90 * time.Second
	defaultMaxIdlePerHost  = 100
	defaultEjectAfter      = 5
	defaultEjectFor        = 30 * time.Second
	maxEjectFor            = 5 * time.Minute
)

// Defaults of HTTPBackendConfig's response header limits: Envoy's (60 KiB, 100 fields), with the
// size rounded up to 64 KiB. net/http accepts 10 MB, which lets an upstream make the gateway hold
// that much per request.
const (
	DefaultMaxResponseHeaderBytes = 64 << 10
	DefaultMaxResponseHeaders     = 100
)

// headerLimits returns cfg's response header limits with the defaults applied; 0 means none.
func headerLimits(cfg HTTPBackendConfig) (bytes int64, fields int) {
	bytes, fields = cfg.MaxResponseHeaderBytes, cfg.MaxResponseHeaders
	if bytes == 0 {
		bytes = DefaultMaxResponseHeaderBytes
	}
	if fields == 0 {
		fields = DefaultMaxResponseHeaders
	}
	return max(bytes, 0), max(fields, 0)
}

// NewHTTPBackend validates cfg and returns its backend.
func NewHTTPBackend(cfg HTTPBackendConfig) (*HTTPBackend, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("http backend: no endpoints")
	}
	eps := make([]proxy.Endpoint, 0, len(cfg.Endpoints))
	for i, s := range cfg.Endpoints {
		e, err := proxy.ParseEndpoint(s)
		if err != nil {
			return nil, fmt.Errorf("http backend: endpoints[%d]: %w", i, err)
		}
		if i > 0 && e.Scheme != eps[0].Scheme {
			return nil, fmt.Errorf("http backend: endpoints[%d]: scheme %s differs from %s of endpoints[0]", i, e.Scheme, eps[0].Scheme)
		}
		eps = append(eps, e)
	}
	if cfg.TLS != nil && eps[0].Scheme != "https" && cfg.Transport == nil {
		return nil, errors.New("http backend: TLS is set but the endpoints are not https")
	}
	if h := cfg.EjectBelowHealth; !(h >= 0 && h <= 1) {
		return nil, fmt.Errorf("http backend: EjectBelowHealth %v is not between 0 and 1", h)
	}
	if h := cfg.RestoreHealth; h != nil && !(*h >= 0 && *h <= 1) {
		return nil, fmt.Errorf("http backend: RestoreHealth %v is not between 0 and 1", *h)
	}
	upgrades := cfg.Upgrades
	if upgrades == nil {
		upgrades = defaultUpgrades
	}
	for i, u := range upgrades {
		name, version, versioned := strings.Cut(u, "/")
		if !httpguts.ValidHeaderFieldName(name) || versioned && !httpguts.ValidHeaderFieldName(version) {
			return nil, fmt.Errorf("http backend: upgrades[%d]: %q is not a protocol token", i, u)
		}
		if strings.EqualFold(name, "h2c") {
			return nil, fmt.Errorf("http backend: upgrades[%d]: %w", i, ErrH2CUpgrade)
		}
	}
	b := &HTTPBackend{name: cfg.Name, ownTransport: cfg.Transport != nil}
	if b.name == "" {
		b.name = cfg.Endpoints[0]
	}
	rt := cfg.Transport
	var upgradeRT http.RoundTripper
	if rt == nil {
		t := newTransport(cfg, eps[0].Scheme == "https", cfg.HTTP2)
		rt = t
		b.transports = append(b.transports, t)
		if cfg.HTTP2 {
			u := newTransport(cfg, eps[0].Scheme == "https", false)
			upgradeRT = u
			b.transports = append(b.transports, u)
		}
	}
	ejectAfter := cfg.EjectAfter
	if ejectAfter == 0 {
		ejectAfter = defaultEjectAfter
	}
	ejectFor := cfg.EjectFor
	if ejectFor <= 0 {
		ejectFor = defaultEjectFor
	}
	var h1 *proxy.H1Options
	hdrBytes, hdrFields := headerLimits(cfg)
	bodyIdle := cmpOr(cfg.BodyIdleTimeout, DefaultBodyIdleTimeout)
	if cfg.Transport == nil && !cfg.HTTP2 && !cfg.StdlibHTTP1 && cfg.Dial == nil && eps[0].Scheme == "http" {
		h1 = &proxy.H1Options{
			DialTimeout:            cmpOr(cfg.DialTimeout, defaultDialTimeout),
			ResponseHeaderTimeout:  cfg.ResponseHeaderTimeout,
			IdleConnTimeout:        cmpOr(cfg.IdleConnTimeout, defaultIdleConnTimeout),
			MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
			MaxResponseHeaderBytes: hdrBytes,
			MaxResponseHeaders:     hdrFields,
			BodyIdleTimeout:        bodyIdle,
			KeepAlive:              cfg.KeepAlive,
		}
	}
	b.proxy = proxy.New(proxy.Options{
		H1:               h1,
		Endpoints:        eps,
		Transport:        rt,
		UpgradeTransport: upgradeRT,
		EjectAfter:       ejectAfter,
		EjectFor:         ejectFor,
		MaxEjectFor:      maxEjectFor,
		EjectBelowHealth: cfg.EjectBelowHealth,
		RestoreHealth:    cfg.RestoreHealth,
		Unhealthy:        cfg.Unhealthy,
		FlushInterval:    cfg.FlushInterval,
		Upgrades:         upgrades,
		// MaxResponseHeaders is checked on every path; the size bound is the transports' own.
		MaxResponseHeaders: hdrFields,
		BodyIdleTimeout:    bodyIdle,
		// The built-in HTTP/1.1 transport shows the proxy the Connection fields net/http drops. An
		// HTTP2 backend's is left as it is: HTTP/2 has no Connection field, and the h2 transport
		// needs the *tls.Conn (its HTTP/1.1 fallback over TLS and the upgrades are not covered).
		WatchConns: cfg.Transport == nil && !cfg.HTTP2,
	})
	return b, nil
}

func newTransport(cfg HTTPBackendConfig, https, h2 bool) *http.Transport {
	dialTimeout := cmpOr(cfg.DialTimeout, defaultDialTimeout)
	respTimeout := max(cfg.ResponseHeaderTimeout, 0)
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	setKeepAlive(dialer, cfg.KeepAlive)
	dial := dialer.DialContext
	if cfg.Dial != nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			return cfg.Dial(ctx, network, addr)
		}
	}
	t := &http.Transport{
		Proxy:                 nil, // a gateway does not obey HTTP_PROXY from its environment
		DialContext:           dial,
		TLSHandshakeTimeout:   dialTimeout,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       cmpOr(cfg.IdleConnTimeout, defaultIdleConnTimeout),
		ResponseHeaderTimeout: respTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass the upstream's encoding through untouched
	}
	t.MaxResponseHeaderBytes, _ = headerLimits(cfg) // 0 (no bound asked for) is net/http's 10 MB
	if t.MaxIdleConnsPerHost <= 0 {
		t.MaxIdleConnsPerHost = defaultMaxIdlePerHost
	}
	if cfg.TLS != nil {
		t.TLSClientConfig = cfg.TLS.Clone()
	}
	t.Protocols = new(http.Protocols)
	switch {
	case h2 && https:
		t.Protocols.SetHTTP1(true)
		t.Protocols.SetHTTP2(true)
		t.ForceAttemptHTTP2 = true
	case h2:
		t.Protocols.SetUnencryptedHTTP2(true)
	default:
		t.Protocols.SetHTTP1(true)
		if !cfg.HTTP2 {
			watchConns(t, dial, https)
		}
	}
	return t
}

// watchConns has t, an HTTP/1.1-only transport, read its responses through proxy.WatchConn (see
// proxy.Options.WatchConns). For https it does the TLS handshake itself, as t would (the endpoint's
// host as ServerName unless set, no ALPN, TLSHandshakeTimeout), so that the wrapper sees plain text.
func watchConns(t *http.Transport, dial func(ctx context.Context, network, addr string) (net.Conn, error), https bool) {
	if !https {
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return proxy.WatchConn(c), nil
		}
		return
	}
	base, timeout := t.TLSClientConfig, t.TLSHandshakeTimeout
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := &tls.Config{}
		if base != nil {
			cfg = base.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		cfg.NextProtos = nil // HTTP/1.1 only
		tc := tls.Client(raw, cfg)
		hctx := ctx
		if timeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		return proxy.WatchConn(tc), nil
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// HTTP returns a backend for one target ("host:port" or "http(s)://host[:port][/base/path]") with the
// default settings. An invalid target is reported by Validate, which the gateway calls when the route
// is applied; served anyway, the backend answers 500.
func HTTP(target string) *HTTPBackend {
	b, err := NewHTTPBackend(HTTPBackendConfig{Endpoints: []string{target}})
	if err != nil {
		return &HTTPBackend{name: target, err: err}
	}
	return b
}

// BackendName returns the configured name, or the first endpoint.
func (b *HTTPBackend) BackendName() string { return b.name }

// Validate reports a configuration error of a backend made by [HTTP], or the use of a zero
// HTTPBackend.
func (b *HTTPBackend) Validate() error {
	if b.err == nil && b.proxy == nil {
		return errNotConfigured
	}
	return b.err
}

var errNotConfigured = errors.New("http backend: not configured (use NewHTTPBackend or HTTP)")

// Close closes the idle connections of the built-in transport. The backend stays usable; a custom
// Transport is left alone.
// Provision implements [Provisioner]: the backend records a client span per upstream call under the
// gateway's tracer provider (its trace context goes upstream in traceparent) and counts connect errors
// and ejections under its meter provider. When the gateway has a transport hook
// ([WithTransportWrapper]) and the backend was not given its own Transport, every request goes through
// the hooked transport (the built-in HTTP/1.1 fast path, which is not a RoundTripper, is then off).
func (b *HTTPBackend) Provision(s Services) error {
	if b.proxy == nil {
		return nil
	}
	b.tel.Store(newBackendTelemetry(s, b.name))
	if b.ownTransport {
		return nil
	}
	b.proxy.WrapTransports(s.WrapTransport)
	return nil
}

// SetEndpoints replaces the backend's endpoints in place, as an xDS or EndpointSlice update does: no
// configuration is rebuilt, endpoints present before and after keep their pooled connections and
// health, requests in flight finish where they started, and removed endpoints' idle connections are
// closed. The scheme (http or https) cannot change. A refused update changes nothing.
func (b *HTTPBackend) SetEndpoints(endpoints []string) error {
	if b.proxy == nil {
		return errNotConfigured
	}
	eps := make([]proxy.Endpoint, 0, len(endpoints))
	for i, s := range endpoints {
		e, err := proxy.ParseEndpoint(s)
		if err != nil {
			return fmt.Errorf("http backend: endpoints[%d]: %w", i, err)
		}
		eps = append(eps, e)
	}
	if err := b.proxy.SetEndpoints(eps); err != nil {
		return fmt.Errorf("http backend: %w", err)
	}
	return nil
}

// Endpoints returns the endpoints the backend currently balances over.
func (b *HTTPBackend) Endpoints() []string {
	if b.proxy == nil {
		return nil
	}
	var out []string
	for _, e := range b.proxy.Endpoints() {
		out = append(out, e.String())
	}
	return out
}

func (b *HTTPBackend) Close() error {
	for _, t := range b.transports {
		t.CloseIdleConnections()
	}
	if b.proxy != nil {
		b.proxy.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP forwards r to one of the backend's endpoints. When the response breaks off after its
// header was sent (the upstream fails mid-body, or the request's deadline passes), ServeHTTP aborts the
// client connection with panic(http.ErrAbortHandler), the net/http way of resetting a response, so
// that the client cannot take the truncated body for a complete one.
func (b *HTTPBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := StateFrom(r.Context())
	if b.proxy == nil {
		if st != nil {
			st.Err = b.Validate()
		}
		WriteError(w, http.StatusInternalServerError, "invalid backend configuration")
		return
	}
	var headerTimeout time.Duration
	var affinity uint64
	if st != nil {
		headerTimeout, affinity = st.BackendTimeout, st.Affinity
	}
	e := b.forward(w, r, st, headerTimeout, affinity)
	if e == nil {
		return
	}
	if st != nil {
		st.Err = e
	}
	if e.Status != 0 {
		WriteError(w, e.Status, e.Msg)
	}
	if e.Abort {
		panic(http.ErrAbortHandler) // the client must see a truncated response, not a complete one
	}
}

// trustedPeer reports whether the gateway trusts the peer's X-Forwarded-* headers.
func trustedPeer(st *State) bool { return st != nil && st.TrustedProxy }

type upstreamTransportKey struct{}

// WithUpstreamTransport returns a context whose requests an HTTP backend sends with rt instead of its
// own transport. Backend policies (backend TLS, backend auth) use it to change how one request reaches
// the upstream.
func WithUpstreamTransport(ctx context.Context, rt http.RoundTripper) context.Context {
	return context.WithValue(ctx, upstreamTransportKey{}, rt)
}

// UpstreamTransportFrom returns the transport set by [WithUpstreamTransport], or nil.
func UpstreamTransportFrom(ctx context.Context) http.RoundTripper {
	rt, _ := ctx.Value(upstreamTransportKey{}).(http.RoundTripper)
	return rt
}

// setKeepAlive applies ka (when set) to d: probes as it says, or none when it disables them.
func setKeepAlive(d *net.Dialer, ka *net.KeepAliveConfig) {
	if ka == nil {
		return
	}
	d.KeepAliveConfig = *ka
	if !ka.Enable {
		d.KeepAlive = -1 // with Enable false, a negative KeepAlive turns the probes off
	}
}
