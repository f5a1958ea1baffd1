package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// telemetry is what config.tracing, config.metrics and frontendPolicies.tracing set up at start: the
// SDK providers lent to the gateway (agentgateway.WithTracerProvider / WithMeterProvider), whose
// instruments the gateway, mcp and a2a create through Services.Tracer / Meter.
type telemetry struct {
	options []agentgateway.Option
	metrics *config.Metrics // nil when the stats listener is off
	tp      *sdktrace.TracerProvider
}

func startTelemetry(ctx context.Context, file *config.File, f flags) (*telemetry, error) {
	t := &telemetry{}
	if pick(f.statsAddr, file.Settings.StatsListen()) != "off" {
		m, err := file.Settings.MeterProvider()
		if err != nil {
			return nil, err
		}
		t.metrics = m
		t.options = append(t.options, agentgateway.WithMeterProvider(m.Provider))
	}
	tp, err := file.TracerProvider(ctx)
	if err != nil {
		return nil, err
	}
	if tp != nil {
		t.tp = tp
		// W3C trace context in and out, as agentgateway propagates it.
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
		t.options = append(t.options, agentgateway.WithTracerProvider(tp))
	}
	fields, err := file.SpanFields()
	if err != nil {
		return nil, err
	}
	if fields != nil {
		t.options = append(t.options, agentgateway.WithObserver(fields))
	}
	return t, nil
}

// shutdown flushes the spans still queued.
func (t *telemetry) shutdown(logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if t.tp != nil {
		if err := t.tp.Shutdown(ctx); err != nil {
			logger.Warn("tracing: flushing spans on shutdown", "error", err)
		}
	}
	if t.metrics != nil {
		_ = t.metrics.Provider.Shutdown(ctx)
	}
}

// reloadSettings applies what a reloaded config section can change at run time (the log level) and
// warns about the rest, which takes effect at the next start.
func reloadSettings(old, nf *config.File, level *slog.LevelVar, logger *slog.Logger) {
	if old == nil || old == nf {
		return
	}
	o, n := old.Settings, nf.Settings
	if n.Logging != nil && n.Logging.Level.Set && (o.Logging == nil || o.Logging.Level != n.Logging.Level) {
		level.Set(n.Logging.Level.Level)
	}
	if o.Logging != nil && n.Logging != nil && o.Logging.Format != n.Logging.Format {
		logger.Warn("config reload: config.logging.format takes effect at the next start")
	}
	// The access log's filter and fields are swapped by the caller; the log level just above.
	o.Logging, n.Logging = nil, nil
	if !reflect.DeepEqual(o, n) {
		logger.Warn("config reload: changes to the config section other than logging take effect at the next start")
	}
	if !reflect.DeepEqual(old.Frontend.Tracing, nf.Frontend.Tracing) || !reflect.DeepEqual(old.Frontend.HTTP, nf.Frontend.HTTP) {
		logger.Warn("config reload: changes to frontendPolicies.tracing and frontendPolicies.http take effect at the next start")
	}
}

func pick(flagValue, configured string) string {
	if flagValue != "" {
		return flagValue
	}
	return configured
}

// listen binds "host:port" or "unix:/path".
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", addr)
}

// admin serves the admin, stats and readiness listeners.
type admin struct {
	file   func() *config.File
	gw     *agentgateway.Gateway
	ready  *atomic.Bool
	level  *slog.LevelVar
	stats  *stats
	logger *slog.Logger
	pins   http.Handler   // --pins: review and accept tool changes (nil without a pin file)
	memory *memoryTrimmer // the heap trimmer, reported in /stats
}

// start binds the admin listener (config dump, pprof, /logging, /stats, health), the stats listener
// (/metrics) and the readiness listener (/healthz/ready); "off" leaves one out.
func (a *admin) start(f flags, s config.Settings, m *config.Metrics) ([]*http.Server, error) {
	var servers []*http.Server
	serve := func(name, addr string, h http.Handler) error {
		if addr == "off" {
			return nil
		}
		ln, err := listen(addr)
		if err != nil {
			return fmt.Errorf("%s listener: %w", name, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		servers = append(servers, srv)
		a.logger.Info(name+" listening", "addr", ln.Addr().String())
		return nil
	}
	ready := http.NewServeMux()
	ready.HandleFunc("GET /healthz/ready", a.readyz)
	errs := []error{serve("admin", pick(f.adminAddr, s.AdminListen()), a.mux())}
	if m != nil {
		metrics := http.NewServeMux()
		metrics.Handle("GET /metrics", m.Handler)
		errs = append(errs, serve("stats", pick(f.statsAddr, s.StatsListen()), metrics))
	}
	errs = append(errs, serve("readiness", pick(f.readyAddr, s.ReadinessListen()), ready))
	if err := errors.Join(errs...); err != nil {
		for _, srv := range servers {
			_ = srv.Close()
		}
		return nil, err
	}
	return servers, nil
}

func (a *admin) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config_dump", func(rw http.ResponseWriter, r *http.Request) {
		b, err := dumpWithDefaults(a.file(), a.gw)
		if err != nil {
			agentgateway.WriteError(rw, http.StatusInternalServerError, err.Error())
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(bytes.TrimSpace(b))
	})
	mux.HandleFunc("GET /healthz/ready", a.readyz)
	mux.HandleFunc("GET /healthz/live", func(rw http.ResponseWriter, r *http.Request) { _, _ = rw.Write([]byte("live\n")) })
	mux.HandleFunc("GET /logging", a.getLevel)
	mux.HandleFunc("POST /logging", a.setLevel)
	mux.HandleFunc("PUT /logging", a.setLevel)
	mux.HandleFunc("GET /stats", func(rw http.ResponseWriter, r *http.Request) {
		snap := a.stats.snapshot()
		snap["upstreams"] = upstreamHealth(a.gw.Config())
		sessions, streams := openMCPSessions(a.gw.Config())
		snap["mcpSessions"] = map[string]int64{"open": sessions, "streams": streams}
		if a.memory != nil {
			snap["process"] = a.memory.stats()
		}
		writeJSON(rw, http.StatusOK, snap)
	})
	if a.pins != nil {
		mux.Handle("/mcp/pins", a.pins)
	}
	// pprof on the admin listener only (never DefaultServeMux, which the data plane does not use either).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func (a *admin) readyz(rw http.ResponseWriter, _ *http.Request) {
	if !a.ready.Load() {
		http.Error(rw, "not ready", http.StatusServiceUnavailable)
		return
	}
	_, _ = rw.Write([]byte("ready\n"))
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(v)
}

func levelName(l slog.Level) string {
	if l < slog.LevelDebug {
		return "trace"
	}
	return strings.ToLower(l.String())
}

func (a *admin) getLevel(rw http.ResponseWriter, _ *http.Request) {
	writeJSON(rw, http.StatusOK, map[string]string{"level": levelName(a.level.Level())})
}

// setLevel sets the log level from ?level=, a form field or a JSON body {"level": "debug"}.
func (a *admin) setLevel(rw http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("level")
	if name == "" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<10))
		if err != nil {
			agentgateway.WriteError(rw, http.StatusBadRequest, "reading body: "+err.Error())
			return
		}
		var req struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(body, &req) == nil {
			name = req.Level
		} else {
			name = strings.TrimSpace(strings.TrimPrefix(string(body), "level="))
		}
	}
	lv, err := config.ParseLogLevel(name)
	if err != nil || name == "" {
		agentgateway.WriteError(rw, http.StatusBadRequest, "want level=trace|debug|info|warn|error")
		return
	}
	old := a.level.Level()
	a.level.Set(lv)
	a.logger.Warn("log level changed", "from", levelName(old), "to", levelName(lv))
	writeJSON(rw, http.StatusOK, map[string]string{"level": levelName(lv)})
}

// stats is the /stats summary: counters kept by an observer, cheap enough for every request (atomic
// adds; a map lookup under a read lock per route).
type stats struct {
	start                     time.Time
	requests, errors, status5 atomic.Int64
	mcpRequests, mcpToolCalls atomic.Int64
	a2aRequests, llmRequests  atomic.Int64
	llmInput, llmOutput       atomic.Int64
	mu                        sync.RWMutex
	routes                    map[string]*routeStats
}

type routeStats struct{ requests, errors atomic.Int64 }

func newStats() *stats { return &stats{start: time.Now(), routes: map[string]*routeStats{}} }

func (s *stats) Start(ctx context.Context, _ *http.Request, _ *agentgateway.State) context.Context {
	return ctx
}

func (s *stats) End(_ context.Context, _ *http.Request, st *agentgateway.State) {
	s.requests.Add(1)
	failed := st.Status >= 500 || st.Err != nil
	if failed {
		s.errors.Add(1)
	}
	if st.MCP.Method != "" {
		s.mcpRequests.Add(1)
		if st.MCP.ToolName != "" {
			s.mcpToolCalls.Add(1)
		}
	}
	if st.A2A.Method != "" {
		s.a2aRequests.Add(1)
	}
	if st.LLM.Provider != "" {
		s.llmRequests.Add(1)
		s.llmInput.Add(st.LLM.InputTokens)
		s.llmOutput.Add(st.LLM.OutputTokens)
	}
	if st.Route == "" {
		return
	}
	s.mu.RLock()
	rs := s.routes[st.Route]
	s.mu.RUnlock()
	if rs == nil {
		s.mu.Lock()
		if rs = s.routes[st.Route]; rs == nil {
			rs = &routeStats{}
			s.routes[st.Route] = rs
		}
		s.mu.Unlock()
	}
	rs.requests.Add(1)
	if failed {
		rs.errors.Add(1)
	}
}

// upstreamHealth lists the endpoints of every route backend that reports health, keyed
// "listener/route/backends[i]"; a backend shared by routes appears under each.
func upstreamHealth(cfg agentgateway.Config) map[string][]agentgateway.EndpointHealth {
	out := map[string][]agentgateway.EndpointHealth{}
	for _, l := range cfg.Listeners {
		for _, r := range l.Routes {
			for i, b := range r.Backends {
				if h, ok := b.Handler.(agentgateway.HealthReporter); ok {
					if eps := h.Health(); len(eps) > 0 {
						out[fmt.Sprintf("%s/%s/backends[%d]", l.Name, r.Name, i)] = eps
					}
				}
			}
		}
	}
	return out
}

// openMCPSessions sums the open sessions and streams of the MCP federations the routes serve (a
// federation shared by several routes counted once).
func openMCPSessions(cfg agentgateway.Config) (sessions, streams int64) {
	type counter interface{ OpenSessions() (int64, int64) }
	seen := map[counter]bool{}
	for _, l := range cfg.Listeners {
		for _, r := range l.Routes {
			for _, b := range r.Backends {
				h := b.Handler
				for h != nil {
					if c, ok := h.(counter); ok {
						if !seen[c] {
							seen[c] = true
							n, s := c.OpenSessions()
							sessions, streams = sessions+n, streams+s
						}
						break
					}
					u, ok := h.(interface{ Unwrap() http.Handler })
					if !ok {
						break
					}
					h = u.Unwrap()
				}
			}
		}
	}
	return sessions, streams
}

func (s *stats) snapshot() map[string]any {
	routes := map[string]any{}
	s.mu.RLock()
	for name, rs := range s.routes {
		routes[name] = map[string]int64{"requests": rs.requests.Load(), "errors": rs.errors.Load()}
	}
	s.mu.RUnlock()
	return map[string]any{
		"uptimeSeconds": int64(time.Since(s.start).Seconds()),
		"requests":      s.requests.Load(),
		"errors":        s.errors.Load(),
		"routes":        routes,
		"mcp":           map[string]int64{"requests": s.mcpRequests.Load(), "toolCalls": s.mcpToolCalls.Load()},
		"a2a":           map[string]int64{"requests": s.a2aRequests.Load()},
		"llm": map[string]int64{"requests": s.llmRequests.Load(), "inputTokens": s.llmInput.Load(),
			"outputTokens": s.llmOutput.Load()},
	}
}
