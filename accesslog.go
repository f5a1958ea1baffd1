package agentgateway

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// AccessLogOptions shape an access log (see [NewAccessLog]). The zero value logs every request with
// the standard fields.
type AccessLogOptions struct {
	// Filter, when set, drops the line of a request for which it returns false (agentgateway's
	// logging.filter and accessLog.filter).
	Filter func(ctx context.Context, r *http.Request, st *State) bool
	// Fields, when set, appends computed attributes (accessLog.add) to the standard ones.
	Fields func(ctx context.Context, r *http.Request, st *State, attrs []slog.Attr) []slog.Attr
	// Remove lists attribute keys to leave out ("source", "mcp.session", ...).
	Remove []string
}

// AccessLogger is the access log observer: one line per request at Info level. Its options can be
// replaced while it serves (a config reload does), at the cost of one atomic load per request.
type AccessLogger struct {
	l    *slog.Logger
	opts atomic.Pointer[AccessLogOptions]
}

// NewAccessLog returns an access log writing to l with opts. Add it with [WithObserver] and turn the
// default one off with WithAccessLog(false).
func NewAccessLog(l *slog.Logger, opts AccessLogOptions) *AccessLogger {
	a := &AccessLogger{l: l}
	a.SetOptions(opts)
	return a
}

// SetOptions replaces the options for the requests that end from now on.
func (a *AccessLogger) SetOptions(opts AccessLogOptions) { a.opts.Store(&opts) }

// Start implements Observer.
func (*AccessLogger) Start(ctx context.Context, _ *http.Request, _ *State) context.Context {
	return ctx
}

// End implements Observer: it writes the request's line.
func (a *AccessLogger) End(ctx context.Context, r *http.Request, st *State) {
	if !a.l.Enabled(ctx, slog.LevelInfo) {
		return
	}
	o := a.opts.Load()
	if o.Filter != nil && !o.Filter(ctx, r, st) {
		return
	}
	// A fixed array keeps the common line off the heap; only configured fields copy it out.
	var buf [20]slog.Attr
	attrs := append(buf[:0],
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", st.Status),
		slog.Duration("duration", time.Since(st.Start)),
		slog.String("listener", st.Listener),
		slog.String("route", st.Route),
		slog.String("backend", st.Backend),
		slog.String("source", st.Source.String()),
		slog.Int64("bytes_in", st.BytesIn),
		slog.Int64("bytes_out", st.BytesOut),
	)
	if st.Identity.Subject != "" {
		attrs = append(attrs, slog.String("identity", st.Identity.Subject))
	}
	// Each protocol section describes itself; an empty one adds nothing.
	attrs = st.MCP.AppendLogAttrs(attrs)
	attrs = st.A2A.AppendLogAttrs(attrs)
	attrs = st.LLM.AppendLogAttrs(attrs)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsSampled() {
		attrs = append(attrs, slog.String("trace.id", sc.TraceID().String()), slog.String("span.id", sc.SpanID().String()))
	}
	if st.Err != nil {
		attrs = append(attrs, slog.String("error", st.Err.Error()))
	}
	if o.Fields != nil {
		attrs = o.Fields(ctx, r, st, slices.Clone(attrs))
	}
	if len(o.Remove) > 0 {
		attrs = slices.DeleteFunc(attrs, func(at slog.Attr) bool { return slices.Contains(o.Remove, at.Key) })
	}
	a.l.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}
