package agentgateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
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
// (mcp.*, a2a.*, gen_ai.*), the trace id when a span is recording, and the error. A Gateway has one by
// default (see [WithAccessLog]); [NewAccessLog] makes one with a filter and extra fields.
func AccessLog(l *slog.Logger) Observer { return NewAccessLog(l, AccessLogOptions{}) }

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

// AppendLogAttrs appends, when a provider served the request, the OpenTelemetry GenAI names:
// gen_ai.provider.name, gen_ai.request.model, gen_ai.response.model, the token usage and the cost.
func (l LLMState) AppendLogAttrs(attrs []slog.Attr) []slog.Attr {
	if l.Provider == "" {
		return attrs
	}
	attrs = append(attrs, slog.String("gen_ai.provider.name", l.Provider), slog.String("gen_ai.request.model", l.RequestModel))
	if l.Operation != "" {
		attrs = append(attrs, slog.String("gen_ai.operation.name", l.Operation))
	}
	if l.ResponseModel != "" {
		attrs = append(attrs, slog.String("gen_ai.response.model", l.ResponseModel))
	}
	attrs = append(attrs, slog.Int64("gen_ai.usage.input_tokens", l.InputTokens), slog.Int64("gen_ai.usage.output_tokens", l.OutputTokens))
	if l.Cost != 0 {
		attrs = append(attrs, slog.Float64("gen_ai.usage.cost", l.Cost))
	}
	return attrs
}

// fingerprint is a short, stable, non-reversible tag for a secret-bearing value.
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
