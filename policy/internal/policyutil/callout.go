package policyutil

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	agentgateway "github.com/agentgw/agentgateway"
)

// Callout traces a policy's calls to an external service (ext_authz, a rate-limit service): a
// client span per call under the request's span. The zero value traces nothing until Provision.
type Callout struct{ t atomic.Pointer[callout] }

type callout struct {
	svc    agentgateway.Services
	tracer trace.Tracer
}

// Provision takes the gateway's tracer provider.
func (c *Callout) Provision(svc agentgateway.Services) {
	c.t.Store(&callout{svc: svc, tracer: svc.Tracer(agentgateway.InstrumentationName)})
}

// Start starts the call's client span when tracing is on. Otherwise it returns ctx and a nil span,
// having allocated nothing.
func (c *Callout) Start(ctx context.Context, name string, kv ...attribute.KeyValue) (context.Context, trace.Span) {
	t := c.t.Load()
	if t == nil || !t.svc.Tracing() {
		return ctx, nil
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(kv...))
}

// EndSpan ends span (nil: nothing), with err as its error and kv added.
func EndSpan(span trace.Span, err error, kv ...attribute.KeyValue) {
	if span == nil {
		return
	}
	if len(kv) > 0 {
		span.SetAttributes(kv...)
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Outgoing returns the W3C trace context of ctx as header fields ("traceparent", "tracestate"); nil
// when ctx has no span.
func Outgoing(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := map[string]string{}
	agentgateway.Propagator.Inject(ctx, mapCarrier(c))
	return c
}

type mapCarrier map[string]string

func (m mapCarrier) Get(k string) string { return m[k] }
func (m mapCarrier) Set(k, v string)     { m[k] = v }
func (m mapCarrier) Keys() []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
