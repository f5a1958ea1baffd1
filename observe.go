package agentgateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

// Observer watches every request a Gateway serves; telemetry (metrics, traces) and the access log are
// observers. Start runs in the order observers were added, End in the reverse order.
type Observer interface {
	// Start is called once the request has its State, before routing. It returns the context the
	// request continues with — one carrying a span, say — or ctx itself.
	Start(ctx context.Context, r *http.Request, st *State) context.Context
	// End is called when the response is complete: State holds the route, the backend, the status,
	// the byte counts, the error and the protocol sections. ctx is the one Start returned. End runs
	// for a panicking or aborted request too, before the panic goes on.
	End(ctx context.Context, r *http.Request, st *State)
}

// WithObserver adds observers (see [Observer]); the access log, unless turned off, comes first.
func WithObserver(obs ...Observer) Option {
	return func(o *options) { o.observers = append(o.observers, obs...) }
}

// AccessLog returns the observer that writes one line per request to l at Info level: method, path,
// status, duration, listener, route, backend, source, byte counts, identity, the protocol sections
// (mcp.*, a2a.*, llm.*) and the error. A Gateway has one by default (see [WithAccessLog]).
func AccessLog(l *slog.Logger) Observer { return accessLog{l} }

type accessLog struct{ l *slog.Logger }

func (accessLog) Start(ctx context.Context, _ *http.Request, _ *State) context.Context { return ctx }

func (a accessLog) End(ctx context.Context, r *http.Request, st *State) {
	if !a.l.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
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
	if st.Err != nil {
		attrs = append(attrs, slog.String("error", st.Err.Error()))
	}
	a.l.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// AppendLogAttrs appends the set fields with the keys of the CEL reference ("mcp.method",
// "mcp.tool.name", ...); the session id, a bearer credential, only as a fingerprint ("mcp.session").
func (m MCPState) AppendLogAttrs(attrs []slog.Attr) []slog.Attr {
	if m.Method == "" {
		return attrs
	}
	attrs = append(attrs, slog.String("mcp.method", m.Method))
	if m.SessionID != "" {
		attrs = append(attrs, slog.String("mcp.session", fingerprint(m.SessionID)))
	}
	if m.ToolName != "" {
		return append(attrs, slog.String("mcp.tool.target", m.ToolTarget), slog.String("mcp.tool.name", m.ToolName))
	}
	if m.Target != "" {
		attrs = append(attrs, slog.String("mcp.target", m.Target), slog.String("mcp.name", m.Name))
	}
	return attrs
}

// AppendLogAttrs appends the set fields ("a2a.method", "a2a.task.id", "a2a.context.id").
func (a A2AState) AppendLogAttrs(attrs []slog.Attr) []slog.Attr {
	if a.Method == "" {
		return attrs
	}
	attrs = append(attrs, slog.String("a2a.method", a.Method))
	if a.TaskID != "" {
		attrs = append(attrs, slog.String("a2a.task.id", a.TaskID))
	}
	if a.ContextID != "" {
		attrs = append(attrs, slog.String("a2a.context.id", a.ContextID))
	}
	return attrs
}

// AppendLogAttrs appends provider, model and token counts when a provider served the request.
func (l LLMState) AppendLogAttrs(attrs []slog.Attr) []slog.Attr {
	if l.Provider == "" {
		return attrs
	}
	return append(attrs, slog.String("llm.provider", l.Provider), slog.String("llm.model", l.RequestModel),
		slog.Int64("llm.input_tokens", l.InputTokens), slog.Int64("llm.output_tokens", l.OutputTokens))
}

// fingerprint is a short, stable, non-reversible tag for a secret-bearing value.
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
