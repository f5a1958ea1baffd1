package a2a

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	agentgateway "github.com/agentgw/agentgateway"
)

// telemetry is what a proxy records under the gateway's providers: a client span per call to the
// agent (the HTTP backend's own span, which carries traceparent upstream, nests under it). The
// request metrics (a2a.server.request.duration by a2a.method) are the gateway's, from State.A2A.
type telemetry struct {
	svc    agentgateway.Services
	tracer trace.Tracer
}

// openStreams counts the A2A streams the process relays; each meter provider observes it once.
var (
	openStreams atomic.Int64
	observing   sync.Map // metric.Meter -> struct{}
)

func newTelemetry(s agentgateway.Services) *telemetry {
	m := s.Meter(agentgateway.InstrumentationName)
	if _, seen := observing.LoadOrStore(m, struct{}{}); !seen {
		_, _ = m.Int64ObservableUpDownCounter("agentgateway.a2a.streams", metric.WithUnit("{stream}"),
			metric.WithDescription("Open A2A streams (message/stream, resubscribe) relayed to clients."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(openStreams.Load())
				return nil
			}))
	}
	return &telemetry{svc: s, tracer: s.Tracer(agentgateway.InstrumentationName)}
}

// Provision implements agentgateway.Provisioner: calls to each agent are traced under the gateway's
// tracer provider, and the agents' upstream handlers are provisioned (an HTTP backend's client spans
// and transport hook), since they are not on any route.
func (c *CatalogHandler) Provision(s agentgateway.Services) error {
	var errs []error
	for _, a := range c.agents {
		a.proxy.tel.Store(newTelemetry(s))
		if p, ok := a.Upstream.(agentgateway.Provisioner); ok {
			errs = append(errs, p.Provision(s))
		}
	}
	return errors.Join(errs...)
}

var noEnd = func() {}

// startCall starts the client span of a call to the agent when tracing is on; end ends it with the
// outcome in st.
func (p *proxy) startCall(r *http.Request, st *agentgateway.State, c Call) (*http.Request, func()) {
	t := p.tel.Load()
	if t == nil || !t.svc.Tracing() {
		return r, noEnd
	}
	kv := []attribute.KeyValue{attribute.String("a2a.method", c.Method), attribute.String("a2a.version", c.Version)}
	if c.TaskID != "" {
		kv = append(kv, attribute.String("a2a.task.id", c.TaskID))
	}
	if c.ContextID != "" {
		kv = append(kv, attribute.String("a2a.context.id", c.ContextID))
	}
	ctx, sp := t.tracer.Start(r.Context(), c.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(kv...))
	return r.WithContext(ctx), func() {
		if st != nil {
			sp.SetAttributes(attribute.Int("http.response.status_code", st.Status))
			if st.Status >= 500 || st.Err != nil {
				msg := http.StatusText(st.Status)
				if st.Err != nil {
					msg = st.Err.Error()
				}
				sp.SetStatus(codes.Error, msg)
			}
		}
		sp.End()
	}
}
