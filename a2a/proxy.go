package a2a

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// Defaults of the A2A layer.
const (
	DefaultMaxBodyBytes      = 4 << 20
	DefaultStreamIdleTimeout = 5 * time.Minute
)

// Option configures [Proxy], [Wrap] and [Inspect].
type Option func(*options)

type options struct {
	publicURL       *url.URL
	publicErr       error
	trusted         func(netip.Addr) bool
	rewriteCard     bool
	stripSignatures bool
	maxBody         int64
	idle            time.Duration
	allow           []cel.Rule
	ruleSets        []*cel.RuleSet
	bridge          string
	extra           map[string]bool
	logger          *slog.Logger
	loggerSet       bool                   // the Logger option was given
	services        *agentgateway.Services // the gateway's, once provisioned (the policy form)
}

// PublicURL makes agent cards point at u (e.g. "https://agents.example.com/theme") instead of the
// scheme, host and route prefix of each request. Use it behind proxies that are not trusted, or when
// the route rewrites the Host header.
func PublicURL(u string) Option {
	return func(o *options) {
		pu, err := url.Parse(u)
		if err == nil && (pu.Scheme != "http" && pu.Scheme != "https" || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "") {
			err = fmt.Errorf("must be an absolute http(s) URL without query or fragment")
		}
		if err != nil {
			o.publicErr = fmt.Errorf("a2a: public URL %q: %w", u, err)
			return
		}
		o.publicURL = pu
	}
}

// TrustedProxies names the peers whose X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Prefix are
// believed when a card is rewritten. Without this option the gateway's own trusted proxies
// (agentgateway.WithTrustedProxies, seen as State.TrustedProxy) are believed; outside a gateway no peer
// is, and the request's own scheme and Host are used.
func TrustedProxies(trusted func(netip.Addr) bool) Option {
	return func(o *options) { o.trusted = trusted }
}

// RewriteCards switches agent card rewriting (on by default). With it off, cards pass unchanged.
func RewriteCards(on bool) Option { return func(o *options) { o.rewriteCard = on } }

// StripCardSignatures makes the proxy rewrite signed agent cards too, dropping their JWS
// "signatures" (which the rewrite would invalidate). By default a signed card is passed unchanged
// and a warning is logged: its URLs then lead clients past the gateway, so either sign the card with
// the gateway's public URL or let the gateway strip the signatures.
func StripCardSignatures() Option { return func(o *options) { o.stripSignatures = true } }

// MaxBodyBytes bounds a JSON-RPC request body (default [DefaultMaxBodyBytes]); larger requests get a
// JSON-RPC error with HTTP 413.
func MaxBodyBytes(n int64) Option { return func(o *options) { o.maxBody = n } }

// StreamIdleTimeout ends a server-sent event stream (message/stream, SendStreamingMessage,
// tasks/resubscribe, SubscribeToTask) when the agent sends nothing for d (default
// [DefaultStreamIdleTimeout]). Streams are not bound by the request deadline: the route's timeout
// policy limits unary calls, this limits silence.
func StreamIdleTimeout(d time.Duration) Option { return func(o *options) { o.idle = d } }

// Authorize adds CEL allow rules: a JSON-RPC call is allowed when any of them is true (deny by default
// once a rule is configured). The rules of every Authorize option form one [cel.RuleSet] of allow
// rules, with its meaning; use [AuthorizeRules] for deny and require rules. Rules see the shared
// variables of the gateway (request, jwt, apiKey, identity, source) and a2a.method, a2a.taskId,
// a2a.contextId, a2a.skill and a2a.version of the call, e.g.
//
//	a2a.method != "tasks/cancel" && a2a.method != "CancelTask" || jwt.role == "admin"
//
// A denied call is answered with HTTP 403 and a JSON-RPC error ([CodeForbidden]). Agent card reads are
// not JSON-RPC calls and are not subject to these rules.
func Authorize(rules ...string) Option {
	return func(o *options) {
		for _, r := range rules {
			o.allow = append(o.allow, cel.Allow(r))
		}
	}
}

// AuthorizeRules adds a compiled rule set (allow, deny and require rules, see [cel.RuleSet]); a call
// must pass it, the rules of [Authorize] and every other AuthorizeRules option. Denied calls are
// answered as with Authorize.
func AuthorizeRules(rules *cel.RuleSet) Option {
	return func(o *options) { o.ruleSets = append(o.ruleSets, rules) }
}

// Bridge declares the wire version the upstream agent speaks (V03 or V10) and makes the route accept
// clients of the other version too: their method names, parts, roles, task states, results, stream
// events and the agent card are translated, for send, stream, get, cancel and resubscribe. Methods
// that cannot be translated are answered with [CodeUnsupportedOperation].
func Bridge(upstreamVersion string) Option { return func(o *options) { o.bridge = upstreamVersion } }

// AllowMethods lets extension methods (not defined by A2A) through; other unknown methods are
// answered with JSON-RPC "method not found".
func AllowMethods(names ...string) Option {
	return func(o *options) {
		if o.extra == nil {
			o.extra = map[string]bool{}
		}
		for _, n := range names {
			o.extra[n] = true
		}
	}
}

// Logger sets the logger for operational messages (default slog.Default()).
func Logger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func buildOptions(opts []Option) options {
	o := options{rewriteCard: true, maxBody: DefaultMaxBodyBytes, idle: DefaultStreamIdleTimeout}
	for _, fn := range opts {
		fn(&o)
	}
	o.loggerSet = o.logger != nil
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}

// proxy is the A2A-aware handler in front of an agent.
type proxy struct {
	next  http.Handler
	o     options
	rules []*cel.RuleSet
	err   error
	logp  atomic.Pointer[slog.Logger] // Logger, else the gateway's (Provision), else slog.Default()
	tel   atomic.Pointer[telemetry]   // the gateway's providers (Provision)
}

func (p *proxy) logger() *slog.Logger { return p.logp.Load() }

// Provision implements agentgateway.Provisioner: without a Logger option, the proxy logs through the
// gateway's logger; it traces its calls to the agent under the gateway's tracer provider, and
// provisions the upstream handler (an HTTP backend's client spans and transport hook).
func (h *Handler) Provision(s agentgateway.Services) error {
	if !h.p.o.loggerSet && s.Logger != nil {
		h.p.logp.Store(s.Logger)
	}
	h.p.tel.Store(newTelemetry(s))
	// The agent's backend is not on the route, so the gateway does not reach it.
	if p, ok := h.p.next.(agentgateway.Provisioner); ok {
		return p.Provision(s)
	}
	return nil
}

// Handler is the A2A layer returned by [Proxy]. It is an http.Handler; it reports configuration errors
// through Validate (agentgateway.Validator) and forwards BackendName and Close to its upstream.
type Handler struct{ p *proxy }

var (
	_ agentgateway.Validator    = (*Handler)(nil)
	_ agentgateway.BackendNamer = (*Handler)(nil)
)

// Proxy returns an A2A-aware handler in front of upstream, usually agentgateway.HTTP("http://agent:9999")
// behind a route that strips its prefix:
//
//	gw.Route("theme").PathPrefix("/agents/theme").RewritePrefix("/").
//		To(a2a.Proxy(agentgateway.HTTP("http://agent-theme:9999")))
//
// The handler
//   - rewrites the agent card (GET .../.well-known/agent-card.json or .../agent.json) so that its
//     interface URLs lead back through the gateway (v0.3 "url" and "additionalInterfaces", v1.0
//     "supportedInterfaces"); see [PublicURL], [TrustedProxies], [RewriteCards], [StripCardSignatures];
//   - reads each JSON-RPC request once, without decoding it, records method, version, task and context
//     id in State.A2A (and so in the access log), and answers malformed, unknown and oversized requests
//     with JSON-RPC errors;
//   - enforces [Authorize] rules;
//   - passes server-sent events through as they come, detaches streams from the request deadline and
//     ends them after [StreamIdleTimeout] of silence; a client that goes away cancels the upstream call;
//   - translates between wire versions with [Bridge].
//
// Other requests (REST bindings, other paths) pass through unchanged.
func Proxy(upstream http.Handler, opts ...Option) *Handler {
	return &Handler{p: newProxy(upstream, buildOptions(opts))}
}

// Wrap returns the A2A layer as a route policy: the route's backend becomes the upstream of a
// [Proxy]. This is what the config's `a2a: {}` route policy builds (see package doc for its phase).
// Configuration errors (a bad rule, say) are reported when the policy is built by config; from Go,
// prefer [Proxy] whose Validate reports them.
func Wrap(opts ...Option) agentgateway.Policy {
	return &layer{o: buildOptions(opts)}
}

// layer is the policy form of the proxy. It runs at agentgateway.PhaseBackend, closest to the
// backend, so that the route's timeout does not cut streams; as an agentgateway.Inspector it reads
// the call before the route's policies run.
type layer struct{ o options }

// Provision implements agentgateway.Provisioner: the proxies the layer builds log through the
// gateway's logger unless a Logger option was given.
func (l *layer) Provision(s agentgateway.Services) error {
	if !l.o.loggerSet && s.Logger != nil {
		l.o.logger = s.Logger
	}
	l.o.services = &s
	return nil
}

func (l *layer) Wrap(next http.Handler) http.Handler { return &Handler{p: newProxy(next, l.o)} }
func (l *layer) Phase() agentgateway.Phase           { return agentgateway.PhaseBackend }
func (l *layer) Inspect(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	return inspect(w, r, &l.o)
}

// Inspect implements agentgateway.Inspector: behind a Gateway route, the call is read and State.A2A
// filled before the route's policies run, so their CEL rules and rate limits can use a2a.method and
// the task ids.
func (h *Handler) Inspect(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	return inspect(w, r, &h.p.o)
}

func newProxy(next http.Handler, o options) *proxy {
	p := &proxy{next: next, o: o}
	p.logp.Store(o.logger)
	if o.services != nil {
		p.tel.Store(newTelemetry(*o.services))
	}
	var errs []error
	if o.publicErr != nil {
		errs = append(errs, o.publicErr)
	}
	if o.maxBody <= 0 {
		errs = append(errs, fmt.Errorf("a2a: max body bytes %d must be positive", o.maxBody))
	}
	if o.idle <= 0 {
		errs = append(errs, fmt.Errorf("a2a: stream idle timeout %v must be positive", o.idle))
	}
	if o.bridge != "" && o.bridge != V03 && o.bridge != V10 {
		errs = append(errs, fmt.Errorf("a2a: bridge: upstream version %q must be %q or %q", o.bridge, V03, V10))
	}
	if len(o.allow) > 0 {
		if rs, err := cel.CompileRules(o.allow...); err != nil {
			errs = append(errs, fmt.Errorf("a2a: Authorize: %w", err))
		} else {
			p.rules = append(p.rules, rs)
		}
	}
	for _, rs := range o.ruleSets {
		if rs != nil {
			p.rules = append(p.rules, rs)
		}
	}
	if next == nil {
		errs = append(errs, errors.New("a2a: nil upstream"))
	}
	p.err = errors.Join(errs...)
	return p
}

// Validate reports configuration errors of the proxy and of its upstream.
func (h *Handler) Validate() error {
	if h.p.err != nil {
		return h.p.err
	}
	if v, ok := h.p.next.(agentgateway.Validator); ok {
		return v.Validate()
	}
	return nil
}

// BackendName is the upstream's name when it has one, else "a2a".
func (h *Handler) BackendName() string {
	if n, ok := h.p.next.(agentgateway.BackendNamer); ok {
		return n.BackendName()
	}
	return "a2a"
}

// Close closes the upstream if it is an io.Closer.
func (h *Handler) Close() error {
	if c, ok := h.p.next.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.p.ServeHTTP(w, r) }

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// inspectedBody is a request body the A2A layer has already read and scanned: later A2A layers (an
// [Inspect] policy followed by a [Proxy]) reuse it instead of reading and parsing twice.
type inspectedBody struct {
	bytes.Reader
	b      []byte
	call   Call
	closed atomic.Bool
}

// Close marks the body as no longer in use, so its buffer may be reused.
func (b *inspectedBody) Close() error { b.closed.Store(true); return nil }

// Read marks the body as consumed once its last byte is handed out: from then on no reader copies
// from the buffer, which may then be reused.
func (b *inspectedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err != nil || b.Reader.Len() == 0 {
		b.closed.Store(true)
	}
	return n, err
}

// WriteTo implements io.WriterTo (io.Copy prefers it) with the same bookkeeping as Read.
func (b *inspectedBody) WriteTo(w io.Writer) (int64, error) {
	n, err := b.Reader.WriteTo(w)
	b.closed.Store(true)
	return n, err
}

// readCall reads and scans the JSON-RPC body of r, answering bad input itself (then ok is false).
func readCall(w http.ResponseWriter, r *http.Request, st *agentgateway.State, o *options, buf *bytes.Buffer) (body []byte, c Call, ok bool) {
	if ib, isIB := r.Body.(*inspectedBody); isIB {
		return ib.b, ib.call, true
	}
	if r.ContentLength > o.maxBody {
		tooLarge(w, st)
		return nil, c, false
	}
	if r.Body != nil {
		_, err := buf.ReadFrom(io.LimitReader(r.Body, o.maxBody+1))
		if err != nil {
			st.Err = fmt.Errorf("a2a: reading request: %w", err)
			writeRPCError(w, http.StatusBadRequest, nil, CodeParseError, "Parse error: cannot read body")
			return nil, c, false
		}
	}
	if int64(buf.Len()) > o.maxBody {
		tooLarge(w, st)
		return nil, c, false
	}
	body = buf.Bytes()
	c, rerr := parseCall(body, o.extra)
	if rerr != nil {
		st.Err = rerr.err
		if c.Method != "" {
			st.A2A.Method = c.Method
		}
		writeRPCError(w, rerr.status, c.ID, rerr.code, rerr.msg)
		return nil, c, false
	}
	if c.Version == "" {
		// An extension method belongs to no version; the client's A2A-Version header says which it speaks.
		c.Version = cardClientVersion(r)
	}
	st.A2A.Method, st.A2A.Version, st.A2A.TaskID, st.A2A.ContextID = c.Method, c.Version, c.TaskID, c.ContextID
	if c.Skill != "" {
		st.A2A.Skill = c.Skill
	}
	return body, c, true
}

func tooLarge(w http.ResponseWriter, st *agentgateway.State) {
	st.Err = ErrTooLarge
	writeRPCError(w, http.StatusRequestEntityTooLarge, nil, CodeInvalidRequest, "Invalid Request: body too large")
}

// stateOf returns the request's State, attaching a fresh one when the handler runs outside a Gateway.
func stateOf(r *http.Request) (*agentgateway.State, *http.Request) {
	if st := agentgateway.StateFrom(r.Context()); st != nil {
		return st, r
	}
	st := &agentgateway.State{}
	return st, r.WithContext(agentgateway.WithState(r.Context(), st))
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st, r := stateOf(r)
	if p.err != nil {
		st.Err = p.err
		agentgateway.WriteError(w, http.StatusInternalServerError, "a2a: invalid configuration")
		return
	}
	if r.Method == http.MethodGet && isCardPath(r.URL.Path) {
		p.serveCard(w, r, st)
		return
	}
	if r.Method != http.MethodPost {
		p.next.ServeHTTP(w, r)
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	var sent *inspectedBody
	defer func() {
		// An upstream transport may read the body after ServeHTTP returns until it closes it; only the
		// buffer of a body that was consumed, closed or never sent goes back to the pool.
		if buf.Cap() <= 64<<10 && (sent == nil || sent.closed.Load()) {
			bufPool.Put(buf)
		}
	}()
	body, c, ok := readCall(w, r, st, &p.o, buf)
	if !ok {
		return
	}
	if !p.authorize(w, r, st, c) {
		return
	}
	if c.Stream {
		openStreams.Add(1)
		defer openStreams.Add(-1)
	}
	r, end := p.startCall(r, st, c)
	defer end()
	if p.o.bridge != "" && c.info != nil && c.Version != p.o.bridge {
		p.serveBridged(w, r, st, body, c)
		return
	}
	sent = p.forward(w, r, body, c, nil)
}

// authorize evaluates the rules; it answers a denied call itself.
func (p *proxy) authorize(w http.ResponseWriter, r *http.Request, st *agentgateway.State, c Call) bool {
	if len(p.rules) == 0 {
		return true
	}
	act := cel.NewActivation(r, st)
	allowed := true
	for _, rs := range p.rules {
		if !rs.Allowed(r.Context(), act) {
			allowed = false
			break
		}
	}
	if allowed {
		return true
	}
	st.Err = ErrForbidden
	st.Policy.DeniedBy = "a2aAuthz"
	writeRPCError(w, http.StatusForbidden, c.ID, CodeForbidden, "Forbidden: "+c.Method+" is not allowed for this caller")
	return false
}

// forward sends the (unchanged) body upstream; streams get the idle-timeout treatment. sniff, when
// not nil, sees the start of the answer (the catalog learns task owners from it).
func (p *proxy) forward(w http.ResponseWriter, r *http.Request, body []byte, c Call, sniff *ownerSniffer) *inspectedBody {
	up := *r
	f := &forwarding{body: inspectedBody{Reader: *bytes.NewReader(body), b: body, call: c}}
	up.Body = &f.body
	up.ContentLength = int64(len(body))
	up.GetBody = nil
	rw := &f.w
	rw.st, rw.id, rw.sniff = agentgateway.StateFrom(r.Context()), c.ID, sniff
	if !c.Stream {
		if sniff != nil {
			rw.Init(w, rw, rw)
		} else {
			rw.Init(w, rw, nil)
		}
		p.next.ServeHTTP(rw, &up)
		return &f.body
	}
	rw.Init(w, rw, rw)
	ctx, stop := p.streamContext(rw, r)
	defer stop()
	p.next.ServeHTTP(rw, up.WithContext(ctx))
	return &f.body
}

// forwarding is one call on its way to the agent and back, in one allocation.
type forwarding struct {
	body inspectedBody
	w    replyWriter
}

// replyWriter carries the agent's answer to the client. It turns the gateway's own error answers
// (the backend could not reach the agent, and recorded why in State.Err) into JSON-RPC errors carrying
// the request id, which A2A clients expect; the agent's own answers, errors included, pass unchanged.
// For streams, every write resets the idle timer, and a write the client cannot take cancels the
// upstream call.
type replyWriter struct {
	agentgateway.HookedWriter
	st       *agentgateway.State
	id       []byte
	replaced bool
	sniff    *ownerSniffer
	idle     time.Duration // set by streamContext
	timer    *time.Timer
	cancel   context.CancelCauseFunc
}

func (w *replyWriter) BeforeHeader(_ http.Header, status int) int {
	if status < 500 || w.st == nil || w.st.Err == nil {
		return status
	}
	w.replaced = true
	writeRPCError(w.Unwrap(), status, w.id, CodeUpstream, "Upstream error: "+http.StatusText(status))
	return 0 // the handler's own error body is dropped
}

func (w *replyWriter) WriteBody(b []byte) (int, error) {
	if w.timer != nil {
		w.timer.Reset(w.idle)
	}
	if w.replaced {
		return len(b), nil
	}
	if w.sniff != nil {
		w.sniff.observe(b)
	}
	n, err := w.Unwrap().Write(b)
	if err != nil && w.cancel != nil {
		w.cancel(err)
	}
	return n, err
}

// streamContext detaches a stream from the request deadline (keeping cancellation when the client
// goes away) and arms the idle timer, which every write through w resets (w needs itself as its
// BodyHook).
func (p *proxy) streamContext(w *replyWriter, r *http.Request) (context.Context, func()) {
	parent := r.Context()
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	stopParent := context.AfterFunc(parent, func() {
		if !errors.Is(parent.Err(), context.DeadlineExceeded) {
			cancel(context.Cause(parent))
		}
	})
	w.idle, w.cancel = p.o.idle, cancel
	w.timer = time.AfterFunc(p.o.idle, func() {
		cancel(ErrStreamIdle)
	})
	return ctx, func() {
		w.timer.Stop()
		stopParent()
		if st := agentgateway.StateFrom(r.Context()); st != nil && errors.Is(context.Cause(ctx), ErrStreamIdle) {
			st.Err = ErrStreamIdle
		}
		cancel(nil)
	}
}

// inspect reads and scans the JSON-RPC body of an A2A request (POST) and fills State.A2A, so that
// the route's policies — CEL authorization, rate limits keyed on a2a.method — see the A2A facts. The
// body is handed on already scanned: the proxy further in does not read or parse it again. Bad input
// is answered with JSON-RPC errors right away.
func inspect(w http.ResponseWriter, r *http.Request, o *options) (*http.Request, bool) {
	if r.Method != http.MethodPost {
		return r, true
	}
	if _, done := r.Body.(*inspectedBody); done {
		return r, true
	}
	st, r := stateOf(r)
	buf := new(bytes.Buffer) // the body outlives this call in the request, so no pooling
	body, c, ok := readCall(w, r, st, o, buf)
	if !ok {
		return nil, false
	}
	r2 := *r
	r2.Body = &inspectedBody{Reader: *bytes.NewReader(body), b: body, call: c}
	r2.ContentLength = int64(len(body))
	r2.GetBody = nil
	return &r2, true
}
