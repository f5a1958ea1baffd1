package mcp

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// PrefixMode says how tool and prompt names (and resource URIs) are namespaced by target.
type PrefixMode uint8

// The prefix modes (agentgateway's prefixMode).
const (
	// PrefixConditional prefixes names only when the federation has more than one target (the zero
	// value).
	PrefixConditional PrefixMode = iota
	// PrefixAlways prefixes names even for a single target.
	PrefixAlways
	// PrefixNever exposes bare names and routes calls by looking the name up; a name that two targets
	// share is dropped (and logged).
	PrefixNever
)

// String returns the mode as agentgateway's schema spells it ("conditional", "always", "never").
func (m PrefixMode) String() string {
	switch m {
	case PrefixConditional:
		return "conditional"
	case PrefixAlways:
		return "always"
	case PrefixNever:
		return "never"
	}
	return "prefixMode(" + strconv.Itoa(int(m)) + ")"
}

// Defaults of [Config].
const (
	DefaultSessionTimeout = 30 * time.Minute
	// DefaultSessionMaxLifetime is how long a session id stays valid however active the session.
	DefaultSessionMaxLifetime = 24 * time.Hour
	DefaultMaxBodyBytes       = 4 << 20
	DefaultPageSize           = 1000
	// LatestProtocolVersion is the newest MCP version the federation speaks to clients. 2026-07-28 is
	// sessionless and is not offered: a federation is built around sessions.
	LatestProtocolVersion = "2025-11-25"
)

// supportedVersions are the protocol versions the federation accepts from clients, newest first.
var supportedVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

func supportedVersion(v string) bool {
	for _, s := range supportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

// Config configures a [Federation]. Only Targets is required.
type Config struct {
	Targets []Target
	// Prefix is the naming mode (default PrefixConditional).
	Prefix PrefixMode
	// Failure is the failure mode of fan-outs and session set-up: with agentgateway.FailClosed (the
	// zero value) a failing target fails the request, with agentgateway.FailOpen it is skipped (and
	// logged) and the request fails only when every target does.
	Failure agentgateway.FailureMode
	// Stateless serves without sessions: no Mcp-Session-Id, and each request runs against fresh upstream
	// sessions opened with a synthetic initialize. Server→client requests (sampling, elicitation) and the
	// GET stream need a session and are unavailable.
	Stateless bool
	// SessionKey (16, 24 or 32 bytes, AES-GCM) encrypts the self-contained session ids. Replicas that
	// share it can resume each other's sessions. Empty: a random key, so sessions are single-replica.
	SessionKey []byte
	// SessionTimeout closes sessions idle for this long, releasing upstream sessions and processes
	// (default DefaultSessionTimeout); their ids are answered 404 from then on, also by the federation
	// a config reload builds.
	SessionTimeout time.Duration
	// SessionMaxLifetime is how long a session id is valid after initialize, however active the
	// session (default DefaultSessionMaxLifetime); the expiry is sealed into the id, and an id
	// resumes only while both its own expiry and this limit hold. The client then gets 404 and
	// initializes again.
	SessionMaxLifetime time.Duration
	// SessionStore records ended sessions (see [SessionStore]). Default: one in the process, shared by
	// the federations with the same SessionKey, so ended sessions stay ended across config reloads;
	// replicas need a shared store for that to hold across them.
	SessionStore SessionStore
	// AllowedHosts lists the Host values accepted (exact or "*.example.com"; DNS-rebinding protection).
	// Empty: when the gateway listens on a loopback address only loopback names are accepted, otherwise
	// any host.
	AllowedHosts []string
	// AllowedOrigins lists the Origin values accepted besides the gateway's own ("https://app.example.com",
	// scheme, host and port compared; "*" for any). The gateway's own origin is the request's Host with
	// the request's scheme (https when served over TLS, or when a trusted proxy says so in
	// X-Forwarded-Proto). Empty: only the gateway's own origin, and when the gateway is addressed by a
	// loopback name, the other loopback names on the same scheme and port (http://localhost:8080 for
	// http://127.0.0.1:8080). Requests without Origin (non-browser clients) are not affected.
	AllowedOrigins []string
	// LoopbackOnly accepts only loopback Host and Origin names (localhost, 127.0.0.1, ::1) whatever
	// address the gateway listens on (agentgateway's dnsRebindingProtection).
	LoopbackOnly bool
	// Authorization filters lists and guards calls with CEL rules; see [Authorization]. Rules attached
	// to the request by the [Authorization] policy apply as well.
	Authorization *cel.RuleSet
	// ServerInfo names the federation in initialize results (default "agentgateway").
	ServerInfo sdk.Implementation
	// Instructions are prepended to the targets' instructions in initialize results.
	Instructions string
	// PageSize is the number of merged list items per page sent to clients (default DefaultPageSize).
	PageSize int
	// MaxBodyBytes limits a client's POST body (default DefaultMaxBodyBytes); larger bodies get 413.
	MaxBodyBytes int64
	// SSEKeepAlive is the interval of the keep-alive comments written on SSE streams to clients
	// (default DefaultSSEKeepAlive; negative: none). A POST whose answer takes longer gets its
	// response headers and an SSE stream then, so idle-timeout load balancers do not cut it.
	SSEKeepAlive time.Duration
	// HTTPClient talks to HTTP and SSE targets (default: a pooled client of the federation's own).
	HTTPClient *http.Client
	// Logger receives target failures, skips and process output (default slog.Default()).
	Logger *slog.Logger
	// Pins, when set, pins every target's tools at first sight and reports later changes; each
	// target's OnToolChange says what else happens. See [PinStore].
	Pins *PinStore
	// Approval, when set, holds the tools/call requests it selects until its webhook approves them.
	// See [Approval].
	Approval *Approval
}

// Federation serves many MCP servers (targets) behind one MCP endpoint. It is an http.Handler: mount
// it as a route backend. It speaks streamable HTTP on every path, and the legacy HTTP+SSE transport on
// paths ending in "/sse" (GET opens the stream; POSTs carry ?sessionId=). Close it to end sessions and
// stop processes; a Gateway does that when the route is replaced.
type Federation struct {
	cfg     Config
	targets []*target
	byName  map[string]*target
	err     error
	logp    atomic.Pointer[slog.Logger] // Config.Logger, else the gateway's (Provision), else slog.Default()
	aead    cipher.AEAD
	httpc   *http.Client
	hooked  atomic.Pointer[http.Client] // httpc through the gateway's transport hook, when there is one
	tel     atomic.Pointer[telemetry]   // the gateway's providers (Provision)

	sessions  sessionTable
	store     SessionStore // ended sessions (cfg.SessionStore or shared.ended)
	shared    *keyState    // what federations with this session key share in this process
	pin       pinState
	approval  *approver // compiled Config.Approval
	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup

	keepAlives keepAlives // of the POST answers in progress
}

var (
	_ http.Handler           = (*Federation)(nil)
	_ agentgateway.Validator = (*Federation)(nil)
)

// logger returns the federation's logger.
func (f *Federation) logger() *slog.Logger { return f.logp.Load() }

// Provision implements agentgateway.Provisioner: without a Config.Logger, the federation logs through
// the gateway's logger; it traces and measures its requests to targets under the gateway's tracer
// and meter providers (see the package documentation, Telemetry).
//
// When the gateway has a transport hook (agentgateway.WithTransportWrapper) and the federation no
// HTTPClient of its own, HTTP and SSE targets without their own client are reached through the hooked
// transport (the built-in HTTP/1.1 client, not a RoundTripper, is then not used).
func (f *Federation) Provision(s agentgateway.Services) error {
	if f.cfg.Logger == nil && s.Logger != nil {
		f.logp.Store(s.Logger.With("component", "mcp"))
	}
	f.provisionTelemetry(s)
	if f.cfg.HTTPClient == nil {
		if s.WrapTransport == nil {
			f.hooked.Store(nil)
		} else {
			f.hooked.Store(&http.Client{Transport: s.WrapTransport(f.httpc.Transport)})
		}
	}
	// A target's own backend-auth policy is not on any route, so the gateway does not reach it.
	var errs []error
	for _, t := range f.targets {
		if p, ok := t.BackendAuth.(agentgateway.Provisioner); ok {
			if err := p.Provision(s); err != nil {
				errs = append(errs, fmt.Errorf("target %q: backendAuth: %w", t.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Federate is shorthand for New(Config{Targets: targets}).
func Federate(targets ...Target) *Federation {
	return New(Config{Targets: targets})
}

// New builds a federation. Configuration errors are reported by [Federation.Validate] (a Gateway calls
// it when the route is applied); a federation that failed validation answers 500.
func New(cfg Config) *Federation {
	f := &Federation{cfg: cfg, byName: map[string]*target{}, done: make(chan struct{})}
	l := cfg.Logger
	if l == nil {
		l = slog.Default()
	}
	f.logp.Store(l.With("component", "mcp"))
	if f.cfg.SessionTimeout <= 0 {
		f.cfg.SessionTimeout = DefaultSessionTimeout
	}
	if f.cfg.SessionMaxLifetime <= 0 {
		f.cfg.SessionMaxLifetime = DefaultSessionMaxLifetime
	}
	if f.cfg.PageSize <= 0 {
		f.cfg.PageSize = DefaultPageSize
	}
	if f.cfg.MaxBodyBytes <= 0 {
		f.cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if f.cfg.ServerInfo.Name == "" {
		f.cfg.ServerInfo.Name = "agentgateway"
	}
	if f.cfg.ServerInfo.Version == "" {
		f.cfg.ServerInfo.Version = "1.0.0"
	}
	f.httpc = cfg.HTTPClient
	if f.httpc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		tr.MaxIdleConns = 1024
		f.httpc = &http.Client{Transport: tr}
	}
	f.err = f.compile()
	f.sessions.init()
	if f.err == nil && !f.cfg.Stateless {
		f.wg.Add(1)
		go f.janitor()
	}
	return f
}

func (f *Federation) compile() error {
	var errs []error
	if f.cfg.Prefix > PrefixNever {
		errs = append(errs, agentgateway.Errorf("prefix", "unknown prefix mode %v", f.cfg.Prefix))
	}
	if !f.cfg.Failure.Valid() {
		errs = append(errs, agentgateway.Errorf("failure", "unknown failure mode %v", f.cfg.Failure))
	}
	if len(f.cfg.Targets) == 0 {
		errs = append(errs, agentgateway.Errorf("targets", "a federation needs at least one target"))
	}
	for i, t := range f.cfg.Targets {
		at := fmt.Sprintf("targets[%d]", i)
		if err := t.validate(at); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := f.byName[t.Name]; dup {
			errs = append(errs, agentgateway.Errorf(at+".name", "duplicate target name %q", t.Name))
			continue
		}
		ct, err := compileTarget(t, len(f.targets))
		if err != nil {
			errs = append(errs, agentgateway.Errorf(at+".tools", "%v", err))
			continue
		}
		ct.tel = &f.tel
		ct.httpc = t.HTTPClient
		if ct.httpc == nil {
			ct.hooked = &f.hooked
			ct.httpc = f.httpc
			if u, err := url.Parse(t.URL); err == nil && u.Scheme == "http" && t.Transport == TransportHTTP && f.cfg.HTTPClient == nil {
				ct.h1 = newH1Client(u, f.httpc.Transport)
			}
		}
		f.targets = append(f.targets, ct)
		f.byName[t.Name] = ct
	}
	key := f.cfg.SessionKey
	if len(key) == 0 && !f.cfg.Stateless {
		key = processKey()
		f.logger().Warn("mcp: no session key configured; using a key generated at start, so sessions survive config reloads but are single-replica and end with the process")
	}
	if len(key) > 0 {
		aead, err := newAEAD(key)
		if err != nil {
			errs = append(errs, agentgateway.Errorf("sessionKey", "%v", err))
		}
		f.aead = aead
	}
	if f.cfg.Approval != nil {
		a, err := f.cfg.Approval.compile()
		if err != nil {
			errs = append(errs, err)
		}
		if a.HTTPClient == nil {
			a.HTTPClient = f.httpc // its idle connections close with the federation
		}
		f.approval = a
	}
	f.shared = sharedState(key)
	f.store = f.cfg.SessionStore
	if f.store == nil {
		f.store = &f.shared.ended
	}
	return errors.Join(errs...)
}

// processKey is the session key of federations configured without one: one per process, so that a
// federation rebuilt by a config reload still opens the session ids the previous one issued.
var processKey = sync.OnceValue(func() []byte {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return key
})

// Validate reports configuration errors (bad target names or URLs, duplicate names, ...), each with
// its field path; they match agentgateway.ErrInvalidConfig.
func (f *Federation) Validate() error { return f.err }

// BackendName names the backend in the access log.
func (f *Federation) BackendName() string { return "mcp" }

// Close releases every session: connections are closed and processes stopped, but upstream HTTP
// sessions are left alive, so that the federation of a reloaded configuration (or another replica with
// the same session key) resumes them from the client's session id; the session's last activity is
// kept in the process for the federation that resumes, so idle time counts across the reload.
// Clients end sessions with DELETE; idle sessions expire. The federation answers 503 afterwards.
func (f *Federation) Close() error {
	f.closeOnce.Do(func() {
		close(f.done)
		f.stopTelemetry()
		for _, s := range f.sessions.drain() {
			if s.key != "" && !s.isLegacy {
				f.shared.parked.put(s.key, s.last.Load(), time.UnixMilli(s.expires))
			}
			s.release()
		}
		f.wg.Wait()
		if f.cfg.HTTPClient == nil {
			f.httpc.CloseIdleConnections()
		}
		for _, t := range f.targets {
			if t.h1 != nil {
				t.h1.closeIdle()
			}
		}
	})
	return nil
}

func (f *Federation) closed() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// janitor expires idle sessions.
func (f *Federation) janitor() {
	defer f.wg.Done()
	every := f.cfg.SessionTimeout / 4
	if every > time.Minute {
		every = time.Minute
	}
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-f.done:
			return
		case now := <-tk.C:
			for _, s := range f.sessions.stale(now.Add(-f.cfg.SessionTimeout), now) {
				if f.endSession(s) {
					f.logger().Debug("mcp: session expired", "idle", f.cfg.SessionTimeout)
					s.close()
				}
			}
			f.shared.sweep()
		}
	}
}

// ServeHTTP serves the MCP endpoint.
func (f *Federation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.err != nil {
		agentgateway.WriteError(w, http.StatusInternalServerError, "mcp backend misconfigured")
		return
	}
	if f.closed() {
		agentgateway.WriteError(w, http.StatusServiceUnavailable, "mcp backend closed")
		return
	}
	if !f.allowedHostOrigin(r) {
		agentgateway.WriteError(w, http.StatusForbidden, "host or origin not allowed")
		return
	}
	legacy := strings.HasSuffix(r.URL.Path, "/sse")
	switch r.Method {
	case http.MethodPost:
		if id := r.URL.Query().Get("sessionId"); id != "" || legacy {
			f.serveLegacyPost(w, r, id)
			return
		}
		f.servePost(w, r)
	case http.MethodGet:
		if legacy {
			f.serveLegacyStream(w, r)
			return
		}
		f.serveGet(w, r)
	case http.MethodDelete:
		f.serveDelete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		agentgateway.WriteError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// allowedHostOrigin is the DNS-rebinding guard: the Host must be one the gateway answers to, and a
// browser's Origin must be the gateway's own or one configured.
func (f *Federation) allowedHostOrigin(r *http.Request) bool {
	host := hostname(r.Host)
	loopbackListener := f.cfg.LoopbackOnly
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := la.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
			loopbackListener = true
		}
	}
	if len(f.cfg.AllowedHosts) > 0 {
		if !matchHost(f.cfg.AllowedHosts, host) {
			return false
		}
	} else if loopbackListener && !isLoopbackName(host) {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	o, ok := parseOrigin(origin)
	if f.cfg.LoopbackOnly && (!ok || !isLoopbackName(o.host)) {
		return false
	}
	for _, a := range f.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
		if ao, aok := parseOrigin(a); aok && ok && ao == o {
			return true
		}
	}
	if !ok {
		return false
	}
	own, ok := parseOrigin(requestScheme(r) + "://" + r.Host)
	if !ok {
		return false
	}
	if o == own {
		return true
	}
	// A gateway addressed by a loopback name is the same server under every loopback name, on the
	// same scheme and port: http://localhost:8080 and http://127.0.0.1:8080. Only without a list.
	return len(f.cfg.AllowedOrigins) == 0 && isLoopbackName(own.host) && isLoopbackName(o.host) &&
		o.scheme == own.scheme && o.port == own.port
}

// origin is a parsed, normalized Origin: lower-case scheme and host, port defaulted from the scheme.
type origin struct{ scheme, host, port string }

func parseOrigin(s string) (origin, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || rest == "" || strings.ContainsAny(rest, "/?#@ ") {
		return origin{}, false
	}
	o := origin{scheme: strings.ToLower(scheme)}
	switch o.scheme {
	case "http":
		o.port = "80"
	case "https":
		o.port = "443"
	default:
		return origin{}, false
	}
	if h, p, err := net.SplitHostPort(rest); err == nil {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return origin{}, false
		}
		o.host, o.port = h, strings.TrimLeft(p, "0")
	} else {
		o.host = strings.Trim(rest, "[]")
	}
	if o.host == "" {
		return origin{}, false
	}
	o.host = strings.ToLower(strings.TrimSuffix(o.host, "."))
	return o, true
}

// requestScheme is the scheme the client used: https over TLS, or when a trusted proxy says so.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if st := agentgateway.StateFrom(r.Context()); st != nil && st.TrustedProxy {
		v, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
		if v = strings.ToLower(strings.TrimSpace(v)); v == "https" || v == "http" {
			return v
		}
	}
	return "http"
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}

func isLoopbackName(h string) bool {
	if strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func matchHost(patterns []string, host string) bool {
	for _, p := range patterns {
		if p == "*" || strings.EqualFold(p, host) {
			return true
		}
		if strings.HasPrefix(p, "*.") && len(host) > len(p)-1 && strings.EqualFold(host[len(host)-len(p)+1:], p[1:]) {
			return true
		}
	}
	return false
}
