package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Proxy. Defaults are applied by the caller (agentgateway.NewHTTPBackend).
type Options struct {
	// Endpoints are the upstream addresses; at least one.
	Endpoints []Endpoint
	// Transport sends the requests; required.
	Transport http.RoundTripper
	// UpgradeTransport sends upgrade requests (WebSocket and the like), which need HTTP/1.1; nil means
	// Transport.
	UpgradeTransport http.RoundTripper
	// EjectAfter consecutive connect errors or 5xx responses eject an endpoint for EjectFor, doubled on
	// each repeated ejection up to MaxEjectFor. EjectAfter <= 0 disables ejection.
	EjectAfter  int
	EjectFor    time.Duration
	MaxEjectFor time.Duration
	// EjectBelowHealth, when positive, also ejects an endpoint on a failure that finds its health
	// score (a moving average of its outcomes, 1 healthy .. 0 failing, weight 0.3 on the newest)
	// below it. RestoreHealth, when set, is the score an endpoint gets back when its ejection ends
	// (nil leaves the score as it was).
	EjectBelowHealth float64
	RestoreHealth    *float64
	// FlushInterval: see agentgateway.HTTPBackendConfig.
	FlushInterval time.Duration
	// H1, when set and every endpoint is http, sends plain HTTP/1.1 requests with the built-in client
	// (see [H1Options]) instead of Transport: requests that are not upgrades, carry no trailers and no
	// Expect header, when no per-request transport overrides Transport. Set it only when Transport is
	// an HTTP/1.1 transport with the same timeouts, so that both paths behave alike.
	H1 *H1Options
	// Upgrades lists the protocols a request may upgrade to (WebSocket and the like), matched without
	// regard to case against the tokens of its Upgrade header; an entry without a version
	// ("websocket") matches every version of that protocol. An upgrade request is forwarded with the
	// tokens listed here only, and as a plain request — without Upgrade and the Connection "upgrade"
	// token — when none is: it is then never tunnelled. "h2c" is never forwarded, whatever the list
	// says: its tunnel would carry requests past the routes. Empty means no upgrades.
	Upgrades []string
	// MaxResponseHeaders bounds the number of field lines of a response header on every path (the
	// built-in client checks it too, see H1Options); 0 means no bound. A response over it is answered
	// 502 and its body is not read, so that its connection is not reused.
	MaxResponseHeaders int
	// BodyIdleTimeout bounds each wait for response body bytes on every path (the built-in client
	// takes it from H1Options): an upstream that stalls mid-body has its response cut and its
	// connection closed. 0 means no bound. Tunnels after an upgrade are not bounded.
	BodyIdleTimeout time.Duration
	// Unhealthy, when set, decides whether a response counts as a failure of its endpoint (for
	// ejection) instead of its status being 5xx. Connect errors always count.
	Unhealthy func(r *http.Request, resp *http.Response) bool
	// WatchConns reports that Transport and UpgradeTransport are http.Transports that wrap their
	// HTTP/1.1 connections with [WatchConn], so that the hop-by-hop fields a response nominates in a
	// Connection field that also lists "close" are stripped on that path too (the built-in client
	// strips them by itself).
	WatchConns bool
}

// Proxy forwards requests to a set of endpoints. It is safe for concurrent use.
type Proxy struct {
	bal           balancer
	rt, upgradeRT http.RoundTripper
	// wrapped, when set, replaces rt and upgradeRT and turns the built-in client off (see
	// WrapTransports).
	wrapped       atomic.Pointer[[2]http.RoundTripper]
	flushInterval time.Duration
	h1            *h1Client  // the built-in HTTP/1.1 client; nil when requests go to the Transport
	scheme        string     // of every endpoint: SetEndpoints keeps it, so the client path never changes
	mu            sync.Mutex // serialises SetEndpoints
	upgrades      []string   // Options.Upgrades without h2c
	watchConns    bool
	maxHeaders    int
	bodyIdle      time.Duration
	unhealthy     func(*http.Request, *http.Response) bool // Options.Unhealthy
}

// New returns a Proxy for o. It panics if o has no endpoint or no transport (the caller validates).
func New(o Options) *Proxy {
	if len(o.Endpoints) == 0 || o.Transport == nil {
		panic("proxy: no endpoints or no transport")
	}
	p := &Proxy{rt: o.Transport, upgradeRT: o.UpgradeTransport, flushInterval: o.FlushInterval, watchConns: o.WatchConns,
		maxHeaders: max(o.MaxResponseHeaders, 0), bodyIdle: max(o.BodyIdleTimeout, 0), unhealthy: o.Unhealthy}
	for _, u := range o.Upgrades {
		if name, _, _ := strings.Cut(u, "/"); u != "" && !strings.EqualFold(name, "h2c") {
			p.upgrades = append(p.upgrades, u)
		}
	}
	if p.upgradeRT == nil {
		p.upgradeRT = p.rt
	}
	p.bal = balancer{
		ejectAfter: int32(min(o.EjectAfter, 1<<30)),
		ejectFor:   o.EjectFor,
		maxEject:   o.MaxEjectFor,
		clock:      monotonic,

		healthBelow:   o.EjectBelowHealth,
		restoreHealth: -1,
	}
	if o.RestoreHealth != nil {
		p.bal.restoreHealth = min(max(*o.RestoreHealth, 0), 1)
	}
	p.scheme = o.Endpoints[0].Scheme
	// The built-in client serves plain-HTTP endpoints only, and all of them or none: a request that
	// may go to any endpoint then takes one path throughout, retries included.
	if o.H1 != nil && !slices.ContainsFunc(o.Endpoints, func(e Endpoint) bool { return e.Scheme != "http" }) {
		p.h1 = newH1Client(*o.H1)
		p.h1.keepConn = true
	}
	eps := make([]*endpoint, 0, len(o.Endpoints))
	for _, e := range o.Endpoints {
		eps = append(eps, p.newEndpoint(e))
	}
	p.bal.set.Store(&eps)
	return p
}

func (p *Proxy) newEndpoint(e Endpoint) *endpoint {
	ep := &endpoint{Endpoint: e, rawBase: escapePath(e.BasePath), id: HashString(e.Scheme + "://" + e.Host + e.BasePath)}
	if p.h1 != nil {
		ep.h1 = newH1Pool(p.h1, ep.Host)
	}
	return ep
}

// WrapTransports sends every request through wrap(Transport) (and wrap(UpgradeTransport)), for
// telemetry that must see each outbound request; the built-in HTTP/1.1 client, which is not a
// RoundTripper, is then not used. A nil wrap restores the plain transports. Safe while serving.
func (p *Proxy) WrapTransports(wrap func(http.RoundTripper) http.RoundTripper) {
	if wrap == nil {
		p.wrapped.Store(nil)
		return
	}
	p.wrapped.Store(&[2]http.RoundTripper{wrap(p.rt), wrap(p.upgradeRT)})
}

// ErrEndpoints is returned by SetEndpoints for a list it cannot take.
var ErrEndpoints = errors.New("proxy: invalid endpoint update")

// SetEndpoints replaces the endpoint list in place (an xDS or EndpointSlice update). Endpoints present
// before and after keep their load, health and pooled connections; requests in flight finish on the
// endpoint they started on; removed endpoints' idle connections are closed. The scheme cannot change.
func (p *Proxy) SetEndpoints(list []Endpoint) error {
	if len(list) == 0 {
		return fmt.Errorf("%w: no endpoints", ErrEndpoints)
	}
	for i, e := range list {
		if e.Scheme != p.scheme {
			return fmt.Errorf("%w: endpoints[%d]: scheme %s, the backend's is %s", ErrEndpoints, i, e.Scheme, p.scheme)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.bal.endpoints()
	byKey := make(map[Endpoint]*endpoint, len(old))
	for _, e := range old {
		byKey[e.Endpoint] = e
	}
	eps := make([]*endpoint, 0, len(list))
	for _, e := range list {
		if ep, ok := byKey[e]; ok {
			eps = append(eps, ep)
			delete(byKey, e)
			continue
		}
		eps = append(eps, p.newEndpoint(e))
	}
	// Ejections of removed endpoints no longer count.
	for _, gone := range byKey {
		if gone.ejectedUntil.Swap(0) != 0 {
			p.bal.ejected.Add(-1)
		}
	}
	p.bal.set.Store(&eps)
	for _, gone := range byKey {
		if gone.h1 != nil {
			gone.h1.retire()
		}
	}
	return nil
}

// Endpoints returns the current endpoint list.
func (p *Proxy) Endpoints() []Endpoint {
	eps := p.bal.endpoints()
	out := make([]Endpoint, len(eps))
	for i, e := range eps {
		out[i] = e.Endpoint
	}
	return out
}

// CloseIdleConnections closes the idle connections of the built-in HTTP/1.1 client (not those of
// the Transport). The Proxy stays usable.
func (p *Proxy) CloseIdleConnections() {
	for _, e := range p.bal.endpoints() {
		if e.h1 != nil {
			e.h1.closeIdle()
		}
	}
}

// Error says why a request could not be forwarded, and what to answer.
type Error struct {
	// Status is the status to answer with, or 0 when nothing can be written any more: the response
	// has begun, the connection was hijacked, or the client went away.
	Status int
	// Msg is a short message for the client ("upstream connect error").
	Msg string
	// Err is the underlying cause.
	Err error
	// Abort reports that the response was cut off after it had begun; the handler should abort the
	// client connection (panic(http.ErrAbortHandler)) so the client does not take a truncated body for
	// a complete one.
	Abort bool
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	if e.Msg == "" {
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// StatusClientClosedRequest is the status recorded (nginx's convention) when the client went away before
// the upstream answered.
const StatusClientClosedRequest = 499

// exchange is everything one forwarded request needs, in a single allocation. Only requests the
// built-in HTTP/1.1 client sends reuse it (exchangePool), because that client is done with the request
// when Serve returns; a Transport may still read the request body after RoundTrip returns.
type exchange struct {
	out  http.Request
	url  url.URL
	body bodyReader
	xff  [1]string
	xfh  [1]string
	hdr  http.Header // the outbound header map, kept cleared in the pool
}

// connWatch learns which connection the Transport sent a request on (the last one, should it be
// retried), whose scan of the response header then has the Connection field net/http may drop.
type connWatch struct {
	trace httptrace.ClientTrace
	conn  *watchConn
	hdr   headerTimer // the per-request header timeout; unused when hdr.d is 0
}

func (w *connWatch) gotConn(info httptrace.GotConnInfo) {
	w.conn, _ = info.Conn.(*watchConn)
	if w.conn != nil {
		w.conn.begin()
	}
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

// release returns x to exchangePool, dropping every reference to the request.
func (x *exchange) release() {
	h := x.hdr
	clear(h)
	x.out = http.Request{}
	x.url = url.URL{}
	x.body.rc = nil
	x.body.started.Store(false)
	x.body.failed.Store(false)
	x.body.slow.Store(false)
	x.xff[0], x.xfh[0] = "", ""
	x.hdr = h
	exchangePool.Put(x)
}

// bodyReader passes the inbound body to the transport. It records whether any byte was read, which
// decides whether a connect failure may be retried, and it ignores Close until then, because the
// transport closes the body of a request it failed to send.
type bodyReader struct {
	rc      io.ReadCloser
	started atomic.Bool
	// failed records that reading the client's body failed (a malformed chunk, a body shorter than
	// its Content-Length): the request is the client's fault, not the upstream's. Atomic: the
	// Transport reads the body on a goroutine of its own.
	failed atomic.Bool
	// slow records that the client's body stopped arriving (the gateway's client timeouts).
	slow atomic.Bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if !b.started.Load() {
		b.started.Store(true)
	}
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.failed.Store(true)
		if isTimeout(err) {
			b.slow.Store(true)
		}
	}
	return n, err
}

// ErrRequestBody is the cause of a 400 for a request whose body could not be read from the client
// (malformed chunked encoding, a body shorter than its Content-Length).
var ErrRequestBody = errors.New("malformed request body")

func (b *bodyReader) Close() error {
	if b.started.Load() {
		return b.rc.Close()
	}
	return nil
}

// ErrResponseHeaderTooLarge is the cause of a 502 for an upstream response header over the limits
// (H1Options.MaxResponseHeaderBytes, Options.MaxResponseHeaders).
var ErrResponseHeaderTooLarge = errors.New("upstream response header too large")

// TooManyFields reports whether h has more than n field lines (a field with two values is two).
func TooManyFields(h http.Header, n int) bool {
	if len(h) > n {
		return true
	}
	for _, vv := range h {
		if n -= len(vv); n < 0 {
			return true
		}
	}
	return false
}

var (
	protoHTTP    = []string{"http"}
	protoHTTPS   = []string{"https"}
	emptyValue   = []string{""}
	teTrailers   = []string{"trailers"}
	connUpgrade  = []string{"Upgrade"}
	emptyList    []string // a nil value: the header is known absent (no Content-Type sniffing)
	errNoBackend = errors.New("no healthy endpoint")
	errBadStatus = errors.New("invalid upstream status")
)

// Serve forwards r and copies the response to w. rt overrides the proxy's transport when non-nil.
// trustedPeer says that the connection comes from a trusted proxy, whose X-Forwarded-Proto and
// X-Forwarded-Host are kept; otherwise they are set from this hop. headerTimeout, when positive, bounds
// the wait for the response header once the request is written (as H1Options.ResponseHeaderTimeout
// does, for this request only; the tighter of the two applies): it never cuts a response that has
// begun, so streams and upgrades run on. A nil result means the response was forwarded completely; a
// 5xx from the upstream is forwarded, not an error.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, rt http.RoundTripper, trustedPeer bool, headerTimeout time.Duration, affinity uint64) *Error {
	return p.ServeHooked(w, r, rt, trustedPeer, headerTimeout, affinity, nil)
}

// Hooks let telemetry observe a forwarded request. Every field may be nil.
type Hooks struct {
	// Header adds fields (the trace context) to the header of each request sent upstream.
	Header func(ctx context.Context, h http.Header)
	// Attempt reports each attempt, with the endpoint it goes to.
	Attempt func(ctx context.Context, ep string)
	// ConnectError reports an attempt that could not connect to the endpoint ep.
	ConnectError func(ctx context.Context, ep string)
	// Ejected reports that this request's failure ejected the endpoint ep.
	Ejected func(ctx context.Context, ep string)
}

// failed counts a failure against ep and reports an ejection it caused to hk.
func (p *Proxy) failed(ctx context.Context, ep *endpoint, hk *Hooks) {
	if p.bal.failure(ep) && hk != nil && hk.Ejected != nil {
		hk.Ejected(ctx, ep.String())
	}
}

// ServeHooked is Serve with hooks (nil for none).
func (p *Proxy) ServeHooked(w http.ResponseWriter, r *http.Request, rt http.RoundTripper, trustedPeer bool, headerTimeout time.Duration, affinity uint64, hk *Hooks) *Error {
	upgrade := p.allowedUpgrade(r.Header)
	fast, watchConns := false, false
	if rt == nil {
		rt = p.rt
		if upgrade != "" {
			rt = p.upgradeRT
		}
		fast = p.h1 != nil && upgrade == ""
		if w := p.wrapped.Load(); w != nil {
			rt, fast = w[0], false
			if upgrade != "" {
				rt = w[1]
			}
		}
		watchConns = p.watchConns
	}
	var x *exchange
	if fast {
		x = exchangePool.Get().(*exchange)
	} else {
		x = &exchange{}
	}
	x.prepare(r, upgrade, trustedPeer)
	out := &x.out
	if hk != nil && hk.Header != nil {
		hk.Header(r.Context(), out.Header)
	}
	if fast {
		if fast = h1Eligible(out); fast {
			defer x.release() // the built-in client keeps nothing of the request once Serve returns
		}
		// Otherwise the Transport gets x, which is then never reused.
	}
	var watch *connWatch // one trace for the Transport path: the connection watch and the header timer
	if !fast && (watchConns || headerTimeout > 0) {
		watch = &connWatch{}
		ctx := out.Context()
		if watchConns {
			watch.trace.GotConn = watch.gotConn
		}
		if headerTimeout > 0 {
			ctx = watch.hdr.start(ctx, headerTimeout)
			watch.trace.WroteRequest = watch.hdr.wrote
			defer watch.hdr.cancel(nil) // after the response is copied: the body is read under ctx
		}
		x.out = *out.WithContext(httptrace.WithClientTrace(ctx, &watch.trace))
	}
	var idle *idleCancel // bounds the Transport's body reads; the built-in client bounds its own
	if !fast && p.bodyIdle > 0 && upgrade == "" {
		ctx, cancel := context.WithCancel(x.out.Context())
		idle = &idleCancel{d: p.bodyIdle, cancel: cancel}
		defer cancel()
		x.out = *x.out.WithContext(ctx)
	}
	var body *bodyReader
	if out.Body != nil {
		body = &x.body
	}

	var ep *endpoint
	var healthy bool
	if affinity != 0 {
		ep, healthy = p.bal.pickAffinity(affinity, nil)
	} else {
		ep, healthy = p.bal.pick(nil)
	}
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		ep.setURL(out.URL, r.URL)
		if hk != nil && hk.Attempt != nil {
			hk.Attempt(r.Context(), ep.String())
		}
		ep.inflight.Add(1)
		var err error
		if fast {
			resp, err = ep.h1.roundTrip(out, body, headerTimeout)
		} else {
			resp, err = rt.RoundTrip(out)
			if watch != nil && watch.hdr.d > 0 {
				if err = watch.hdr.stop(err); err != nil && resp != nil {
					resp.Body.Close() // the timer fired as the header came: its context is gone
					resp = nil
				}
			}
		}
		if err == nil {
			break
		}
		ep.inflight.Add(-1)
		ctxErr := r.Context().Err()
		if x.body.slow.Load() {
			// The client's body stopped arriving (net/http then cancels the request's context too).
			return &Error{Status: http.StatusRequestTimeout, Msg: "request body timeout", Err: fmt.Errorf("%w: %w", ErrRequestBody, err)}
		}
		if ctxErr == nil && (x.body.failed.Load() || errors.Is(err, errShortBody)) {
			// The client's body is at fault, not the upstream: no failure is counted against it.
			return &Error{Status: http.StatusBadRequest, Msg: "malformed request body", Err: fmt.Errorf("%w: %w", ErrRequestBody, err)}
		}
		dial := ctxErr == nil && isDialError(err)
		if dial {
			if hk != nil && hk.ConnectError != nil {
				hk.ConnectError(r.Context(), ep.String())
			}
			p.failed(r.Context(), ep, hk)
		}
		// A connect failure sent nothing upstream: try another endpoint once.
		if dial && attempt == 0 && len(p.bal.endpoints()) > 1 && !x.body.started.Load() {
			pick := p.bal.pick
			if affinity != 0 {
				pick = func(ex *endpoint) (*endpoint, bool) { return p.bal.pickAffinity(affinity, ex) }
			}
			if next, h := pick(ep); next != ep {
				ep, healthy = next, h
				out = retryRequest(out)
				continue
			}
		}
		return classify(err, ctxErr, dial, healthy)
	}
	defer ep.inflight.Add(-1)
	if watch != nil && watch.conn != nil && lostConnection(resp) {
		if v := watch.conn.connection(); v != nil {
			resp.Header["Connection"] = v // the fields it nominates are stripped below
		}
	}
	if !fast && p.maxHeaders > 0 && TooManyFields(resp.Header, p.maxHeaders) { // the built-in client checked
		resp.Body.Close() // unread: the Transport closes the connection
		p.failed(r.Context(), ep, hk)
		return &Error{Status: http.StatusBadGateway, Msg: "upstream error",
			Err: fmt.Errorf("%w: more than %d fields", ErrResponseHeaderTooLarge, p.maxHeaders)}
	}
	if resp.StatusCode < 100 {
		// net/http reads any three digits, but cannot write a status below 100 (it would panic).
		resp.Body.Close()
		p.failed(r.Context(), ep, hk)
		return &Error{Status: http.StatusBadGateway, Msg: "upstream error", Err: fmt.Errorf("%w: %d", errBadStatus, resp.StatusCode)}
	}
	if p.unhealthy != nil && p.unhealthy(r, resp) || p.unhealthy == nil && resp.StatusCode >= 500 {
		p.failed(r.Context(), ep, hk)
	} else {
		p.bal.success(ep, !healthy)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return p.switchProtocols(w, r, resp, upgrade)
	}
	return p.respond(w, r, resp, idle)
}

// retryRequest copies out with its own URL, so that a transport still holding the failed request
// never sees it change.
func retryRequest(out *http.Request) *http.Request {
	r2 := new(http.Request)
	*r2 = *out
	u := *out.URL
	r2.URL = &u
	return r2
}

func classify(err, ctxErr error, dial, healthy bool) *Error {
	switch {
	case ctxErr == context.DeadlineExceeded:
		return &Error{Status: http.StatusGatewayTimeout, Msg: "upstream request timeout", Err: err}
	case ctxErr != nil:
		return &Error{Status: StatusClientClosedRequest, Msg: "client closed request", Err: err}
	case dial && !healthy:
		return &Error{Status: http.StatusServiceUnavailable, Msg: "no healthy upstream", Err: errors.Join(errNoBackend, err)}
	case dial:
		return &Error{Status: http.StatusBadGateway, Msg: "upstream connect error", Err: err}
	case isTimeout(err):
		return &Error{Status: http.StatusGatewayTimeout, Msg: "upstream response timeout", Err: err}
	default:
		return &Error{Status: http.StatusBadGateway, Msg: "upstream error", Err: err}
	}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// prepare fills the outbound request from r without touching r: the request line and header are
// shallow copies whose value slices are shared (read-only) with r.
func (x *exchange) prepare(r *http.Request, upgrade string, trustedPeer bool) {
	out := &x.out
	*out = *r // keeps r's context, so a client going away cancels the upstream request
	out.URL = &x.url
	out.RequestURI = ""
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Close = false
	out.TLS = nil
	out.GetBody = nil
	out.TransferEncoding = nil
	out.Response = nil
	out.Form, out.PostForm, out.MultipartForm = nil, nil, nil
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		out.Body, out.ContentLength = nil, 0
	} else {
		x.body.rc = r.Body
		out.Body = &x.body
	}

	src := r.Header
	h := x.hdr
	if h == nil {
		h = make(http.Header, len(src)+4)
		x.hdr = h
	}
	conn := src["Connection"]
	for k, vv := range src {
		if hopByHop(k) || (len(conn) > 0 && listed(conn, k)) {
			continue
		}
		h[k] = vv
	}
	if te := src["Te"]; len(te) > 0 && listed(te, "trailers") {
		h["Te"] = teTrailers // gRPC needs it end to end
	}
	if upgrade != "" {
		h["Connection"] = connUpgrade
		if up := src["Upgrade"]; len(up) == 1 && up[0] == upgrade {
			h["Upgrade"] = up // as asked for: the common case
		} else {
			h["Upgrade"] = []string{upgrade} // what is allowed of it
		}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = emptyValue // keep the transport from adding its own
	}
	if prior, ok := src["X-Forwarded-For"]; !ok || prior != nil { // a nil value asks us to omit it
		if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			if len(prior) > 0 {
				ip = strings.Join(prior, ", ") + ", " + ip
			}
			x.xff[0] = ip
			h["X-Forwarded-For"] = x.xff[:]
		}
	}
	if _, ok := src["X-Forwarded-Proto"]; !ok || !trustedPeer {
		if r.TLS != nil {
			h["X-Forwarded-Proto"] = protoHTTPS
		} else {
			h["X-Forwarded-Proto"] = protoHTTP
		}
	}
	if _, ok := src["X-Forwarded-Host"]; (!ok || !trustedPeer) && r.Host != "" {
		x.xfh[0] = r.Host
		h["X-Forwarded-Host"] = x.xfh[:]
	}
	out.Header = h
}

// setURL points u at the endpoint, with the base path prepended to the request path.
func (e *endpoint) setURL(u, in *url.URL) {
	*u = url.URL{Scheme: e.Scheme, Host: e.Host, Path: in.Path, RawPath: in.RawPath, RawQuery: in.RawQuery}
	if e.BasePath == "" {
		return
	}
	u.Path = joinPath(e.BasePath, in.Path)
	if in.RawPath != "" || e.rawBase != e.BasePath {
		u.RawPath = joinPath(e.rawBase, in.EscapedPath())
	}
}

func joinPath(base, p string) string {
	if p == "" || p == "/" {
		if p == "/" {
			return base + "/"
		}
		return base
	}
	if p[0] != '/' {
		return base + "/" + p
	}
	return base + p
}

// hopByHop reports the headers that describe one connection and are never forwarded (RFC 9110 7.6.1),
// given in canonical form. HTTP2-Settings belongs to an h2c upgrade, which is never forwarded.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings":
		return true
	}
	return strings.HasPrefix(k, "Proxy-")
}

// listed reports whether token appears in a comma-separated header value list, ignoring case.
func listed(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(item), token) {
				return true
			}
		}
	}
	return false
}

// allowedUpgrade returns the Upgrade value to forward for a request with header h: the protocols it
// asks to upgrade to that p allows, or "" when it asks for none of them (or does not ask to upgrade).
func (p *Proxy) allowedUpgrade(h http.Header) string {
	up := h["Upgrade"]
	if len(up) == 0 || len(p.upgrades) == 0 {
		return ""
	}
	if conn := h["Connection"]; len(conn) == 0 || !listed(conn, "upgrade") {
		return ""
	}
	if len(up) == 1 && !strings.Contains(up[0], ",") { // one protocol: the common case, kept as it is
		if v := strings.TrimSpace(up[0]); p.upgradeAllowed(v) {
			return v
		}
		return ""
	}
	var keep []string
	for _, v := range up {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			if item = strings.TrimSpace(item); p.upgradeAllowed(item) {
				keep = append(keep, item)
			}
		}
	}
	return strings.Join(keep, ", ")
}

// upgradeAllowed reports whether the Upgrade token proto ("name" or "name/version") is allowed.
func (p *Proxy) upgradeAllowed(proto string) bool {
	name, _, _ := strings.Cut(proto, "/")
	if name == "" || strings.EqualFold(name, "h2c") {
		return false
	}
	for _, a := range p.upgrades {
		if strings.EqualFold(a, proto) || strings.EqualFold(a, name) {
			return true // "websocket" allows "websocket/13"; "foo/2" allows only "foo/2"
		}
	}
	return false
}

// responseUpgrade returns the protocol a 101 response switches to (the first of its Upgrade
// tokens), or "" when it names none.
func responseUpgrade(h http.Header) string {
	conn := h["Connection"]
	if len(conn) == 0 || !listed(conn, "upgrade") {
		return ""
	}
	up := h["Upgrade"]
	if len(up) == 0 {
		return ""
	}
	first, _, _ := strings.Cut(up[0], ",")
	return strings.TrimSpace(first)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// respond copies the response status, header, body and trailers to w.
func (p *Proxy) respond(w http.ResponseWriter, r *http.Request, resp *http.Response, idle *idleCancel) *Error {
	body := resp.Body
	defer body.Close()
	dst := w.Header()
	conn := resp.Header["Connection"]
	typed := false
	for k, vv := range resp.Header {
		if hopByHop(k) || (len(conn) > 0 && listed(conn, k)) {
			continue
		}
		if old, ok := dst[k]; ok {
			vv = append(old[:len(old):len(old)], vv...) // headers a policy set before us come first
		}
		dst[k] = vv
		typed = typed || k == "Content-Type"
	}
	if !typed {
		if _, ok := dst["Content-Type"]; !ok {
			// The upstream sent none: net/http would otherwise sniff one from the body, which the
			// client may then trust (an HTML page from a JSON API, X-Content-Type-Options or not).
			dst["Content-Type"] = emptyList
		}
	}
	if len(resp.Trailer) > 0 {
		// Announce the trailers, and let HTTP/1.1 clients get them: they travel only with chunked
		// encoding, which a Content-Length (legal with trailers in HTTP/2) would rule out.
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		dst["Trailer"] = keys
		delete(dst, "Content-Length")
	}
	w.WriteHeader(resp.StatusCode)

	cw := copier{w: w}
	switch {
	case p.flushInterval < 0 || isEventStream(resp.Header):
		cw.immediate = true
	case p.flushInterval > 0:
		cw.lw = newLatencyWriter(w, p.flushInterval)
		defer cw.lw.stop()
	case resp.ContentLength < 0:
		cw.immediate = true
	}
	if cw.immediate {
		// Send the status and header now: a stream may not produce its first event for a while.
		cw.flush()
	}
	if idle != nil {
		idle.start()
		defer idle.stop()
		cw.idle = idle
	}
	if err := cw.copy(body); err != nil {
		if cw.werr || r.Context().Err() == context.Canceled {
			return &Error{Msg: "client went away", Err: err}
		}
		if idle != nil && idle.fired.Load() {
			err = fmt.Errorf("%w: %w", ErrBodyIdle, err)
		}
		// The upstream failed or the request's deadline passed mid-body: the client is still there
		// and must not mistake what it got for the whole response.
		return &Error{Msg: "upstream response body", Err: err, Abort: true}
	}
	if len(resp.Trailer) > 0 {
		for k, vv := range resp.Trailer {
			dst[http.TrailerPrefix+k] = vv
		}
	}
	return nil
}

func isEventStream(h http.Header) bool {
	ct := h["Content-Type"]
	if len(ct) == 0 {
		return false
	}
	mt, _, _ := strings.Cut(ct[0], ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/event-stream")
}

// copier copies a response body to the client with the chosen flush policy.
type copier struct {
	w         http.ResponseWriter
	immediate bool
	lw        *latencyWriter
	werr      bool        // the error came from writing to the client
	idle      *idleCancel // re-armed after every read, when the Transport's reads are bounded
}

// idleCancel cancels a Transport request whose response body stalls for d.
type idleCancel struct {
	d      time.Duration
	cancel context.CancelFunc
	t      *time.Timer
	fired  atomic.Bool
}

func (i *idleCancel) start() {
	i.t = time.AfterFunc(i.d, func() { i.fired.Store(true); i.cancel() })
}

func (i *idleCancel) stop() { i.t.Stop() }

func (c *copier) flush() {
	if f, ok := c.w.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(c.w).Flush()
}

func (c *copier) copy(src io.Reader) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if c.idle != nil {
			c.idle.t.Reset(c.idle.d)
		}
		if n > 0 {
			var werr error
			if c.lw != nil {
				werr = c.lw.write(buf[:n])
			} else {
				_, werr = c.w.Write(buf[:n])
				if werr == nil && c.immediate {
					c.flush()
				}
			}
			if werr != nil {
				c.werr = true
				return werr
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// latencyWriter writes through to the client and flushes at most interval after a write.
type latencyWriter struct {
	mu       sync.Mutex
	c        copier
	interval time.Duration
	t        *time.Timer
	pending  bool
	done     bool
}

func newLatencyWriter(w http.ResponseWriter, d time.Duration) *latencyWriter {
	return &latencyWriter{c: copier{w: w}, interval: d}
}

func (l *latencyWriter) write(p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.c.w.Write(p)
	if l.pending {
		return err
	}
	l.pending = true
	if l.t == nil {
		l.t = time.AfterFunc(l.interval, l.delayedFlush)
	} else {
		l.t.Reset(l.interval)
	}
	return err
}

func (l *latencyWriter) delayedFlush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || !l.pending {
		return
	}
	l.c.flush()
	l.pending = false
}

func (l *latencyWriter) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	if l.t != nil {
		l.t.Stop()
	}
}
