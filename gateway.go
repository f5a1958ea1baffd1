package agentgateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// Gateway is an http.Handler that routes each request to a route's policies and backend.
//
// Build one with [New], add routes with the fluent [Gateway.Route] or a whole [Config] with
// [Gateway.Apply], and serve it with [Gateway.Serve], any http.Server, or httptest.NewServer. The
// routing table is compiled once per change and swapped atomically: requests in flight finish on the
// table they started on, and no request is dropped by a swap.
type Gateway struct {
	opts options

	mu   sync.Mutex // serialises Apply and the fluent builders
	cfg  Config     // the builders' configuration; ahead of the snapshot while pending is set
	errs []error
	// pending is set when fluent calls changed cfg since it was last compiled: builders only validate
	// what they add, and the table is compiled once, by the first request or Serve/Start/Err/Config that
	// follows, so adding n routes costs one compile, not n.
	pending atomic.Bool

	snap atomic.Pointer[snapshot]

	srvMu   sync.Mutex
	servers map[*http.Server]context.CancelFunc // servers made by NewServer, with their base contexts' cancel

	run runState // the ports Run binds, guarded by mu
}

type options struct {
	logger      *slog.Logger
	accessLog   bool
	trusted     []netip.Prefix
	rnd         func(int) int
	drain       time.Duration
	configureFn func(*http.Server)
	h1server    bool // WithHTTP1Server
	paths       PathNormalization
	services    Services
	observers   []Observer
	noTelemetry bool
	// maxReqHeaders and maxConnAge are the frontend bounds (WithMaxRequestHeaders,
	// WithMaxConnectionDuration).
	maxReqHeaders int
	maxConnAge    time.Duration
	// metricFields adds per-request attributes to http.server.request.duration (WithMetricFields).
	metricFields func(*http.Request, *State) []attribute.KeyValue
	bindAddr     string
	listen       func(port int) (net.Listener, error) // WithListenFunc; nil binds bindAddr:port
	// backendTimeout is State.BackendTimeout for every request (WithDefaultBackendTimeout).
	backendTimeout time.Duration
	client         ClientTimeouts
	// L4 and listener-level traffic (tcp.go, frontend_l4.go).
	tcp         TCPTimeouts
	proxy       *ProxyProtocol
	netAuthz    func(context.Context, *ConnInfo) bool
	frontTLS    FrontendTLS
	keepAlive   *net.KeepAliveConfig
	connectMode ConnectMode
}

// Option configures a Gateway.
type Option func(*options)

// WithLogger sets the logger for operational messages and the access log (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithAccessLog turns the per-request access log line ([AccessLog] on the gateway's logger) on (the
// default) or off.
func WithAccessLog(on bool) Option { return func(o *options) { o.accessLog = on } }

// WithTrustedProxies names the peers whose X-Forwarded-For is believed when computing State.Source, and
// whose X-Forwarded-Proto/Host policies and backends may trust.
func WithTrustedProxies(prefixes ...netip.Prefix) Option {
	return func(o *options) { o.trusted = append(o.trusted, prefixes...) }
}

// WithRandSource makes weighted backend selection use src (for reproducible tests).
func WithRandSource(src rand.Source) Option { return func(o *options) { o.rnd = lockedRand(src) } }

// WithDrainTimeout bounds how long Serve waits for in-flight requests and streams when its context is
// cancelled (default 30s).
func WithDrainTimeout(d time.Duration) Option { return func(o *options) { o.drain = d } }

// WithServerConfig lets Serve's http.Server be adjusted (timeouts, header limits, TLS) before it starts.
func WithServerConfig(fn func(*http.Server)) Option { return func(o *options) { o.configureFn = fn } }

// DefaultBackendTimeout is how long, by default, a route's backend waits for the upstream's response
// header once the request is sent (see [WithDefaultBackendTimeout]). It is nginx's proxy_read_timeout;
// Envoy's route timeout is 15s, too short for a non-streaming LLM completion.
const DefaultBackendTimeout = 60 * time.Second

// WithDefaultBackendTimeout sets how long an HTTP backend waits for the upstream's response header
// once the request is sent, on routes without a timeout policy (default [DefaultBackendTimeout]; 0 or
// less waits forever). Past it the client gets 504. It bounds the time to the response header only,
// as Envoy's route timeout does for streams: a response that has begun — server-sent events, an MCP
// GET stream, a WebSocket after its 101 — is never cut by it, however long it runs. A route's timeout
// policy replaces it, for the route's requests, with its own bounds on the whole exchange. Each
// request carries it in State.BackendTimeout.
func WithDefaultBackendTimeout(d time.Duration) Option {
	return func(o *options) { o.backendTimeout = max(d, 0) }
}

// DefaultBackendTimeout returns the backend timeout of routes without a timeout policy (see
// [WithDefaultBackendTimeout]); 0 means none.
func (g *Gateway) DefaultBackendTimeout() time.Duration { return g.opts.backendTimeout }

// New returns an empty Gateway: every request gets 404 until routes are added.
func New(opts ...Option) *Gateway {
	g := &Gateway{opts: options{accessLog: true, drain: 30 * time.Second, rnd: rand.IntN, backendTimeout: DefaultBackendTimeout, client: DefaultClientTimeouts, tcp: DefaultTCPTimeouts}}
	for _, o := range opts {
		o(&g.opts)
	}
	if g.opts.logger == nil {
		g.opts.logger = slog.Default()
	}
	g.opts.services.Logger = g.opts.logger
	if g.opts.accessLog {
		g.opts.observers = append([]Observer{AccessLog(g.opts.logger)}, g.opts.observers...)
	}
	if !g.opts.noTelemetry {
		// First, so that the server span is in the context every other observer sees.
		t := newTelemetry(g.opts.services)
		t.fields = g.opts.metricFields
		g.opts.observers = append([]Observer{t}, g.opts.observers...)
	}
	g.servers = map[*http.Server]context.CancelFunc{}
	empty, _ := compile(Config{}, g.opts.rnd)
	g.snap.Store(empty)
	return g
}

// Logger returns the gateway's logger.
func (g *Gateway) Logger() *slog.Logger { return g.opts.logger }

// TrustedProxy reports whether addr is a trusted proxy (see [WithTrustedProxies]).
func (g *Gateway) TrustedProxy(addr netip.Addr) bool {
	for _, p := range g.opts.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Apply compiles cfg and, if it is valid, makes it the routing table for every new request. An invalid
// cfg changes nothing; the error lists every problem with its field path and matches ErrInvalidConfig.
// Backends of the old table that the new one no longer uses are closed (if they implement io.Closer)
// once the requests still using them have finished.
func (g *Gateway) Apply(cfg Config) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.applyLocked(cfg); err != nil {
		return err
	}
	g.pending.Store(false) // cfg replaced whatever the builders had added
	return nil
}

// flush compiles what the fluent builders added since the last compile. An error is one no builder
// call could see (two routes' listeners disagreeing on a port's TLS, say): it is recorded for Err and
// the previous table keeps serving.
func (g *Gateway) flush() error {
	if !g.pending.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.pending.Load() {
		return nil
	}
	g.pending.Store(false)
	if err := g.applyLocked(g.cfg); err != nil {
		g.errs = append(g.errs, err)
		g.opts.logger.Error("fluent routes rejected; the previous routing table keeps serving", "error", err)
		return err
	}
	return nil
}

func (g *Gateway) applyLocked(cfg Config) error {
	if err := provision(&cfg, g.opts.services); err != nil {
		return err
	}
	s, err := compile(cfg, g.opts.rnd)
	if err != nil {
		return err
	}
	g.tuneTLS(s)
	// While Run serves, the new ports are bound before the swap, so a port that cannot be bound leaves
	// everything as it was.
	serve, err := g.bindNew(s)
	if err != nil {
		return err
	}
	g.cfg = cfg
	old := g.snap.Swap(s)
	serve()
	if old != nil && len(old.closers) > 0 {
		keep := make(map[io.Closer]bool, len(s.closers))
		for _, c := range s.closers {
			keep[c] = true
		}
		var retire []io.Closer
		for _, c := range old.closers {
			if !keep[c] {
				retire = append(retire, c)
			}
		}
		if len(retire) > 0 {
			go g.retire(old, retire)
		}
	}
	return nil
}

// retire closes backends once no request is using the snapshot that held them.
func (g *Gateway) retire(old *snapshot, closers []io.Closer) {
	deadline := time.Now().Add(g.opts.drain)
	for old.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range closers {
		if err := c.Close(); err != nil {
			g.opts.logger.Warn("closing retired backend", "error", err)
		}
	}
}

// Config returns the configuration currently served.
func (g *Gateway) Config() Config {
	_ = g.flush()
	return g.snap.Load().cfg
}

// Err returns the errors of fluent builder calls that failed (each was also returned by the call that
// caused it), joined; nil when every call succeeded.
func (g *Gateway) Err() error {
	_ = g.flush()
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

func (g *Gateway) recordErr(err error) {
	g.mu.Lock()
	g.errs = append(g.errs, err)
	g.mu.Unlock()
}

// Listener starts a group of routes served only on port (0: any port) and the given hostnames. A bad
// port or hostname is reported by Err and by the To of each route added to this listener; it does not
// affect other listeners.
func (g *Gateway) Listener(name string, port int, hostnames ...string) *Listener {
	g.mu.Lock()
	defer g.mu.Unlock()
	lc := ListenerConfig{Name: name, Port: port, Hostnames: hostnames}
	if i := g.listenerIndex(name); i >= 0 {
		return &Listener{gw: g, name: name}
	}
	if _, err := compile(Config{Listeners: []ListenerConfig{lc}}, nil); err != nil {
		err = relocate(err, "listeners[0]", fmt.Sprintf("listener %q", name))
		g.errs = append(g.errs, err)
		return &Listener{gw: g, name: name, err: err}
	}
	g.cfg.Listeners = append(g.cfg.Listeners, lc)
	g.pending.Store(true)
	return &Listener{gw: g, name: name}
}

// Listener is a handle to add routes to one listener.
type Listener struct {
	gw   *Gateway
	name string
	err  error // why the listener could not be added; its routes' To returns it
}

// Route starts a route on this listener.
func (l *Listener) Route(name string) *RouteBuilder {
	b := &RouteBuilder{gw: l.gw, listener: l.name, cfg: RouteConfig{Name: name}}
	if l.err != nil {
		b.errs = append(b.errs, l.err)
	}
	return b
}

// Route starts a route on the default listener (any port, any host). Finish it with To.
func (g *Gateway) Route(name string) *RouteBuilder {
	return &RouteBuilder{gw: g, listener: "default", cfg: RouteConfig{Name: name}}
}

func (g *Gateway) listenerIndex(name string) int {
	return slices.IndexFunc(g.cfg.Listeners, func(l ListenerConfig) bool { return l.Name == name })
}

// addRoute validates one route on its own (matches, policies, backends, provisioning) and queues it:
// the table is compiled once for a batch of routes (see flush), not once per route.
func (g *Gateway) addRoute(listener string, rc RouteConfig) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := g.listenerIndex(listener)
	alone := ListenerConfig{Name: listener}
	if i >= 0 {
		alone = g.cfg.Listeners[i]
	}
	alone.Routes = []RouteConfig{rc}
	check := Config{Listeners: []ListenerConfig{alone}}
	err := provision(&check, g.opts.services)
	if err == nil {
		_, err = compile(check, nil)
	}
	if err != nil {
		err = relocate(err, "listeners[0].routes[0]", fmt.Sprintf("route %q", rc.Name))
		g.errs = append(g.errs, err)
		return err
	}
	if i < 0 {
		g.cfg.Listeners = append(g.cfg.Listeners, ListenerConfig{Name: listener})
		i = len(g.cfg.Listeners) - 1
	}
	l := &g.cfg.Listeners[i]
	l.Routes = append(slices.Clip(l.Routes), rc)
	g.pending.Store(true)
	return nil
}

// relocate rewrites the field paths of the ConfigErrors in err that start with from.
func relocate(err error, from, to string) error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			if _, isCE := e.(*ConfigError); !isCE {
				for _, x := range j.Unwrap() {
					walk(x)
				}
				return
			}
		}
		if ce, ok := e.(*ConfigError); ok && strings.HasPrefix(ce.Path, from) {
			e = &ConfigError{Path: to + strings.TrimPrefix(ce.Path, from), Err: ce.Err}
		}
		out = append(out, e)
	}
	walk(err)
	return errors.Join(out...)
}

// acquire returns the current snapshot with a reference held, so that a concurrent Apply cannot close
// its backends while the request runs.
func (g *Gateway) acquire() *snapshot {
	for {
		s := g.snap.Load()
		s.inflight.Add(1)
		if g.snap.Load() == s {
			return s
		}
		s.inflight.Add(-1)
	}
}

// reqCtx groups the per-request objects into one allocation.
type reqCtx struct {
	st   State
	w    HookedWriter // records the response into st
	gw   guardedWriter
	body countingBody
}

// ServeHTTP routes r.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.pending.Load() {
		_ = g.flush()
	}
	snap := g.acquire()
	defer snap.inflight.Add(-1)

	rc := &reqCtx{}
	st := &rc.st
	st.Start = time.Now()
	st.Source, st.TrustedProxy = g.source(r)
	st.BackendTimeout = g.opts.backendTimeout
	ct := &g.opts.client
	var rd readDeadliner
	var wd writeDeadliner
	if ct.WriteIdleTimeout > 0 || ct.BodyTimeout > 0 || ct.StreamIdleTimeout > 0 {
		rd, wd = deadlines(w)
	}
	if r.Body != nil && r.Body != http.NoBody {
		rc.body = countingBody{ReadCloser: r.Body, n: &st.BytesIn}
		if known := r.ContentLength > 0; known && ct.BodyTimeout > 0 {
			rc.body.rd, rc.body.known, rc.body.base, rc.body.rate = rd, true, ct.BodyTimeout, ct.BodyMinRate
		} else if !known && ct.StreamIdleTimeout > 0 {
			rc.body.rd, rc.body.base = rd, ct.StreamIdleTimeout
		}
		r.Body = &rc.body
	}
	if ct.WriteIdleTimeout > 0 {
		rc.gw = guardedWriter{ResponseWriter: w, wd: wd, idle: ct.WriteIdleTimeout}
		w = &rc.gw
	}
	rc.w.Init(w, nil, nil)
	rc.w.rec = st
	w = &rc.w

	ctx := WithState(r.Context(), st)
	for _, o := range g.opts.observers {
		ctx = o.Start(ctx, r, st)
	}
	r = r.WithContext(ctx)
	defer g.finish(w, r, st)

	if (g.opts.maxReqHeaders > 0 || g.opts.maxConnAge > 0) && !g.frontendLimits(w, r) {
		return
	}
	if err := g.opts.paths.normalizeURL(r.URL); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	e, l := snap.route(r)
	if e == nil {
		if l != nil {
			st.Listener = l.name
		}
		writeError(w, http.StatusNotFound, "no route matched")
		return
	}
	st.Listener = e.route.listener
	st.Route = e.route.name
	if e.plen >= 0 && e.re == nil {
		st.MatchedPrefix = e.prefix
	}
	e.route.handler.ServeHTTP(w, r)
}

func (s *snapshot) route(r *http.Request) (*entry, *compiledListener) {
	l, host, wrongListener := s.listenerFor(r)
	if l == nil {
		return nil, nil
	}
	if wrongListener {
		return misdirected, l
	}
	tables, ok := l.hosts.lookup(host)
	if !ok {
		return nil, l
	}
	return lookup(tables, r), l
}

// hostOnly strips the port and lowercases, allocating only when the host has upper-case letters.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// source returns the client address and whether the peer is a trusted proxy.
func (g *Gateway) source(r *http.Request) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.AddrPort{}, false
	}
	if len(g.opts.trusted) == 0 || !g.TrustedProxy(ap.Addr().Unmap()) {
		return ap, false
	}
	// Walk X-Forwarded-For from the right and stop at the first address we do not trust.
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return ap, true
			}
			ap = netip.AddrPortFrom(a, 0)
			if !g.TrustedProxy(a.Unmap()) {
				return ap, true
			}
		}
	}
	return ap, true
}

func (g *Gateway) finish(w http.ResponseWriter, r *http.Request, st *State) {
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			// A deliberately aborted response (a stream that broke off): log it, then let net/http
			// reset the connection so the client sees the truncation.
			if st.Err == nil {
				st.Err = errors.New("response aborted")
			}
			g.end(r, st)
			panic(p)
		}
		st.Err = fmt.Errorf("panic: %v", p)
		g.opts.logger.Error("handler panic", "route", st.Route, "panic", p, "stack", string(debug.Stack()))
		if st.Status == 0 {
			writeError(w, http.StatusInternalServerError, "internal error")
		} else {
			// Headers are gone; abort the response so the client sees a truncated body, not success.
			defer panic(http.ErrAbortHandler)
		}
	}
	if st.Status == 0 {
		st.Status = http.StatusOK
	}
	g.end(r, st)
}

func (g *Gateway) end(r *http.Request, st *State) {
	for i := len(g.opts.observers) - 1; i >= 0; i-- {
		g.opts.observers[i].End(r.Context(), r, st)
	}
}

// writeError answers with a small JSON error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"error":{"code":`+itoa(status)+`,"message":"`+msg+`"}}`)
}

// WriteError answers with the gateway's JSON error body; policies and backends use it so every error
// the gateway itself produces looks the same. msg must not need JSON escaping beyond plain text.
func WriteError(w http.ResponseWriter, status int, msg string) {
	writeError(w, status, jsonEscape(msg))
}

func jsonEscape(s string) string {
	if !strings.ContainsAny(s, "\"\\\n\r\t") {
		return s
	}
	r := strings.NewReplacer(`"`, `\"`, `\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return r.Replace(s)
}

func itoa(n int) string {
	if n >= 100 && n < 1000 {
		return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
	}
	return fmt.Sprint(n)
}

// Serve listens on addr and serves until ctx is cancelled, then drains in-flight requests and streams
// for up to the drain timeout. It returns nil after a clean drain.
func (g *Gateway) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return g.ServeListener(ctx, ln)
}

// ListenAndServe serves on addr until Shutdown is called.
func (g *Gateway) ListenAndServe(addr string) error {
	return g.Serve(context.Background(), addr)
}

// ServeListener serves on ln (which may be a TLS listener) like Serve.
func (g *Gateway) ServeListener(ctx context.Context, ln net.Listener) error {
	if err := g.flush(); err != nil {
		ln.Close()
		return err
	}
	srv := g.NewServer()
	defer g.forget(srv)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		dctx, cancel := context.WithTimeout(context.Background(), g.opts.drain)
		defer cancel()
		err := g.shutdownServer(dctx, srv)
		<-errc
		return err
	}
}

// NewServer returns an http.Server for this gateway with production defaults: HTTP/1.1, HTTP/2 over TLS
// and cleartext HTTP/2 (h2c), a 10s header read timeout, 64 KiB of headers, and request contexts that
// are cancelled when a shutdown's deadline passes.
//
// Shutdown stops the servers made here; call the returned server's Serve yourself for custom setups.
func (g *Gateway) NewServer() *http.Server {
	baseCtx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.opts.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	g.srvMu.Lock()
	g.servers[srv] = cancel
	g.srvMu.Unlock()
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	if g.opts.maxConnAge > 0 {
		srv.ConnContext = connContext
	}
	if g.opts.configureFn != nil {
		g.opts.configureFn(srv)
	}
	return srv
}

// Shutdown stops every server started by Serve: listeners close at once, in-flight requests and open
// streams may finish until ctx is done, after which their contexts are cancelled and connections closed.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.srvMu.Lock()
	servers := make([]*http.Server, 0, len(g.servers))
	for s := range g.servers {
		servers = append(servers, s)
	}
	g.srvMu.Unlock()
	var errs []error
	for _, s := range servers {
		errs = append(errs, g.shutdownServer(ctx, s))
	}
	return errors.Join(errs...)
}

func (g *Gateway) shutdownServer(ctx context.Context, srv *http.Server) error {
	err := srv.Shutdown(ctx)
	if err != nil {
		// The deadline passed with requests still open: cancel them so upstream work stops, then close.
		g.srvMu.Lock()
		cancel := g.servers[srv]
		g.srvMu.Unlock()
		if cancel != nil {
			cancel()
		}
		_ = srv.Close()
	}
	return err
}

func (g *Gateway) forget(srv *http.Server) {
	g.srvMu.Lock()
	if cancel := g.servers[srv]; cancel != nil {
		cancel()
	}
	delete(g.servers, srv)
	g.srvMu.Unlock()
}

// Close releases every backend of the current configuration that holds resources (connections,
// processes, sessions).
func (g *Gateway) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, c := range g.snap.Load().closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
