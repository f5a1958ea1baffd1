package agentgateway

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentgw/agentgateway/internal/proxy"
)

// backendTelemetry is what an HTTP backend records: a client span per upstream call (whose trace
// context the upstream request carries) and counters of connect errors and ejections.
type backendTelemetry struct {
	svc    Services
	tracer trace.Tracer
	name   attribute.KeyValue
	// plain counts failures only; traced also injects the trace context into the upstream request.
	plain, traced proxy.Hooks
}

func newBackendTelemetry(s Services, name string) *backendTelemetry {
	m := s.Meter(InstrumentationName)
	connErrs, _ := m.Int64Counter("agentgateway.upstream.connect_errors", metric.WithUnit("{error}"),
		metric.WithDescription("Attempts that could not connect to an upstream endpoint."))
	ejections, _ := m.Int64Counter("agentgateway.upstream.ejections", metric.WithUnit("{ejection}"),
		metric.WithDescription("Upstream endpoints ejected from load balancing after consecutive failures."))
	t := &backendTelemetry{svc: s, tracer: s.Tracer(InstrumentationName), name: attrBackend.String(name)}
	t.plain = proxy.Hooks{
		ConnectError: func(ctx context.Context, ep string) {
			if connErrs.Enabled(ctx) {
				connErrs.Add(ctx, 1, metric.WithAttributes(t.name, attribute.String("server.address", ep)))
			}
		},
		Ejected: func(ctx context.Context, ep string) {
			if ejections.Enabled(ctx) {
				ejections.Add(ctx, 1, metric.WithAttributes(t.name, attribute.String("server.address", ep)))
			}
		},
	}
	t.traced = t.plain
	t.traced.Header = func(ctx context.Context, h http.Header) {
		Propagator.Inject(ctx, propagation.HeaderCarrier(h))
	}
	t.traced.Attempt = func(ctx context.Context, ep string) {
		// The last attempt's endpoint is the one that answered; earlier ones failed to connect.
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("server.address", ep))
	}
	t.traced.ConnectError = func(ctx context.Context, ep string) {
		t.plain.ConnectError(ctx, ep)
		trace.SpanFromContext(ctx).AddEvent("connect error", trace.WithAttributes(attribute.String("server.address", ep)))
	}
	return t
}

// forward sends r upstream, in a client span when tracing is on.
func (b *HTTPBackend) forward(w http.ResponseWriter, r *http.Request, st *State, headerTimeout time.Duration, affinity uint64) *proxy.Error {
	rt, trusted := UpstreamTransportFrom(r.Context()), trustedPeer(st)
	t := b.tel.Load()
	if t == nil {
		return b.proxy.Serve(w, r, rt, trusted, headerTimeout, affinity)
	}
	if !t.svc.Tracing() {
		return b.proxy.ServeHooked(w, r, rt, trusted, headerTimeout, affinity, &t.plain)
	}
	ctx, span := t.tracer.Start(r.Context(), httpMethod(r.Method), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", httpMethod(r.Method)), t.name))
	var e *proxy.Error
	defer func() {
		status := 0
		switch {
		case e != nil && e.Status != 0:
			status = e.Status
		case st != nil:
			status = st.Status
		}
		if status != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
		}
		if e != nil {
			span.SetStatus(codes.Error, e.Error())
		} else if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}()
	e = b.proxy.ServeHooked(w, r.WithContext(ctx), rt, trusted, headerTimeout, affinity, &t.traced)
	return e
}
