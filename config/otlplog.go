package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	agentgateway "github.com/agentgw/agentgateway"
)

// OTLPLogging is the schema's OtlpLoggingConfig (config.logging.otlp, frontendPolicies.accessLog.otlp):
// the access log's records are also exported as OTLP log records.
type OTLPLogging struct {
	// Host is the collector, "host:port" (plaintext) or a URL. When empty the tracing collector is
	// used (config.tracing.otlpEndpoint with its protocol and headers, or frontendPolicies.tracing.host),
	// which is what agentgateway's published `logging: {otlp: {}}` beside otlpEndpoint relies on.
	Host string `json:"host"`
	// Protocol is "grpc" (default) or "http"; Path the OTLP/HTTP path (default /v1/logs).
	Protocol string `json:"protocol"`
	Path     string `json:"path"`
}

func (o *OTLPLogging) validate(path string) []error {
	switch o.Protocol {
	case "", "grpc", "http":
		return nil
	}
	return []error{agentgateway.Errorf(path+".protocol", "unknown protocol %q (grpc, http)", o.Protocol)}
}

// logTarget resolves the OTLP log collector of the file (nil when no otlp is configured).
func (f *File) logTarget() (*tracingTarget, string, error) {
	var o *OTLPLogging
	path := ""
	if l := f.Settings.Logging; l != nil && l.OTLP != nil {
		o, path = l.OTLP, "config.logging.otlp"
	}
	if a := f.Frontend.AccessLog; a != nil && a.OTLP != nil {
		if o != nil {
			return nil, "", agentgateway.Errorf("frontendPolicies.accessLog.otlp", "set config.logging.otlp or frontendPolicies.accessLog.otlp, not both")
		}
		o, path = a.OTLP, "frontendPolicies.accessLog.otlp"
	}
	if o == nil {
		return nil, "", nil
	}
	t := &tracingTarget{endpoint: o.Host, protocol: o.Protocol, path: o.Path}
	if t.endpoint == "" {
		tr, err := f.tracingTarget()
		if err != nil {
			return nil, "", err
		}
		if tr == nil || tr.endpoint == "" {
			return nil, "", agentgateway.Errorf(path+".host", "required (the OTLP collector) unless tracing names one")
		}
		t.endpoint, t.headers = tr.endpoint, tr.headers
		if t.protocol == "" {
			t.protocol = tr.protocol
		}
	}
	if t.protocol == "" {
		t.protocol = "grpc"
	}
	return t, path, nil
}

// LoggerProvider builds the OpenTelemetry log SDK provider that config.logging.otlp or
// frontendPolicies.accessLog.otlp asks for: an OTLP exporter (gRPC or HTTP) behind a batch processor,
// which queues records without blocking the request (dropping the oldest when the collector falls
// behind). It returns nil when no OTLP log export is configured. Shut it down to flush.
func (f *File) LoggerProvider(ctx context.Context) (*sdklog.LoggerProvider, error) {
	t, path, err := f.logTarget()
	if err != nil || t == nil {
		return nil, err
	}
	exp, err := t.logExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", "agentgateway")))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)), sdklog.WithResource(res)), nil
}

func (t *tracingTarget) logExporter(ctx context.Context) (sdklog.Exporter, error) {
	hasScheme := strings.Contains(t.endpoint, "://")
	if t.protocol == "http" {
		opts := []otlploghttp.Option{otlploghttp.WithHeaders(t.headers)}
		if hasScheme {
			opts = append(opts, otlploghttp.WithEndpointURL(t.endpoint))
		} else {
			opts = append(opts, otlploghttp.WithEndpoint(t.endpoint), otlploghttp.WithInsecure())
		}
		if t.path != "" {
			opts = append(opts, otlploghttp.WithURLPath(t.path))
		}
		return otlploghttp.New(ctx, opts...)
	}
	opts := []otlploggrpc.Option{otlploggrpc.WithHeaders(t.headers)}
	if hasScheme {
		opts = append(opts, otlploggrpc.WithEndpointURL(t.endpoint))
	} else {
		opts = append(opts, otlploggrpc.WithEndpoint(t.endpoint), otlploggrpc.WithInsecure())
	}
	return otlploggrpc.New(ctx, opts...)
}

// OTLPLogHandler is a slog handler that emits each record to l as an OTLP log record: the message
// as the body, the attributes as attributes, and the trace context of the record's context. Tee it
// with the access log's own handler (see [TeeHandler]) to export the access log lines.
func OTLPLogHandler(l otellog.Logger) slog.Handler { return &otlpHandler{l: l} }

type otlpHandler struct {
	l      otellog.Logger
	attrs  []attribute.KeyValue
	prefix string
}

func (h *otlpHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *otlpHandler) Handle(ctx context.Context, rec slog.Record) error {
	var r otellog.Record
	r.SetTimestamp(rec.Time)
	r.SetObservedTimestamp(rec.Time)
	r.SetSeverity(severity(rec.Level))
	r.SetSeverityText(rec.Level.String())
	r.SetBody(attribute.StringValue(rec.Message))
	r.AddAttributes(h.attrs...)
	rec.Attrs(func(a slog.Attr) bool {
		if kv, ok := otelAttr(h.prefix, a); ok {
			r.AddAttributes(kv)
		}
		return true
	})
	h.l.Emit(ctx, r)
	return nil
}

func (h *otlpHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]attribute.KeyValue(nil), h.attrs...)
	for _, a := range as {
		if kv, ok := otelAttr(h.prefix, a); ok {
			h2.attrs = append(h2.attrs, kv)
		}
	}
	return &h2
}

func (h *otlpHandler) WithGroup(name string) slog.Handler {
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

func severity(l slog.Level) otellog.Severity {
	switch {
	case l >= slog.LevelError:
		return otellog.SeverityError
	case l >= slog.LevelWarn:
		return otellog.SeverityWarn
	case l >= slog.LevelInfo:
		return otellog.SeverityInfo
	}
	return otellog.SeverityDebug
}

// otelAttr converts a slog attribute; maps (a CEL field's value) become OTLP maps.
func otelAttr(prefix string, a slog.Attr) (attribute.KeyValue, bool) {
	if a.Key == "" {
		return attribute.KeyValue{}, false
	}
	k := prefix + a.Key
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return attribute.String(k, v.String()), true
	case slog.KindInt64:
		return attribute.Int64(k, v.Int64()), true
	case slog.KindUint64:
		return attribute.Int64(k, int64(v.Uint64())), true
	case slog.KindFloat64:
		return attribute.Float64(k, v.Float64()), true
	case slog.KindBool:
		return attribute.Bool(k, v.Bool()), true
	case slog.KindGroup:
		var kvs []attribute.KeyValue
		for _, g := range v.Group() {
			if kv, ok := otelAttr("", g); ok {
				kvs = append(kvs, kv)
			}
		}
		return attribute.Map(k, kvs...), true
	case slog.KindAny:
		if m, ok := v.Any().(map[string]any); ok {
			var kvs []attribute.KeyValue
			for _, mk := range sortedKeys(m) {
				if kv, ok := otelAttr("", slog.Any(mk, m[mk])); ok {
					kvs = append(kvs, kv)
				}
			}
			return attribute.Map(k, kvs...), true
		}
	}
	return attribute.String(k, v.String()), true // durations, times and other values as text
}

// TeeHandler sends each record to every handler that is enabled for it.
func TeeHandler(hs ...slog.Handler) slog.Handler { return teeHandler(hs) }

type teeHandler []slog.Handler

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range t {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range t {
		if h.Enabled(ctx, r.Level) {
			if err := h.Handle(ctx, r.Clone()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (t teeHandler) WithGroup(name string) slog.Handler {
	out := make(teeHandler, len(t))
	for i, h := range t {
		out[i] = h.WithGroup(name)
	}
	return out
}
