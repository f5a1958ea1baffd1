package agentgateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Services are what a Gateway lends to the backends and policies it runs: its logger, its telemetry
// providers and the hook every outbound HTTP client goes through. One value serves the whole gateway,
// whether it was assembled in Go or compiled from a config file, so a federation logs where the
// gateway logs and an ext_authz call carries the request's trace.
type Services struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// WrapTransport, when set, wraps every outbound HTTP transport a backend or policy builds (for
	// trace propagation or client metrics). Use [Services.Transport] rather than calling it.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Transport returns rt as every outbound client of the gateway should use it.
func (s Services) Transport(rt http.RoundTripper) http.RoundTripper {
	if s.WrapTransport == nil {
		return rt
	}
	return s.WrapTransport(rt)
}

// Tracer returns a tracer of the gateway's provider (the otel global one when none is configured).
// Check [Services.Tracing] before starting a span on a hot path.
func (s Services) Tracer(name string) trace.Tracer {
	if s.TracerProvider == nil {
		return otel.GetTracerProvider().Tracer(name)
	}
	return s.TracerProvider.Tracer(name)
}

// Meter returns a meter of the gateway's provider (the otel global one when none is configured: its
// instruments forward to the provider set later with otel.SetMeterProvider). Check an instrument's
// Enabled before building attributes on a hot path.
func (s Services) Meter(name string) metric.Meter {
	if s.MeterProvider == nil {
		return otel.GetMeterProvider().Meter(name)
	}
	return s.MeterProvider.Meter(name)
}

// Provisioner is implemented by backends and policies that use the gateway's [Services]. The gateway
// calls Provision when a configuration that holds them is applied, before any request reaches them,
// and again for each later configuration that still holds them, so Provision must be idempotent. An
// error rejects the configuration.
type Provisioner interface {
	Provision(Services) error
}

// WithTracerProvider sets the tracer provider of the gateway's spans and of its backends and policies
// (default: the otel global provider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.services.TracerProvider = tp }
}

// WithMeterProvider sets the meter provider of the gateway's metrics and of its backends and policies
// (default: the otel global provider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) { o.services.MeterProvider = mp }
}

// WithTransportWrapper wraps every outbound HTTP transport of the gateway's backends and policies.
func WithTransportWrapper(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) { o.services.WrapTransport = wrap }
}

// Services returns what the gateway lends to its backends and policies.
func (g *Gateway) Services() Services { return g.opts.services }

// provision hands the gateway's services to every backend and policy of cfg that asks for them.
func provision(cfg *Config, svc Services) error {
	var errs []error
	seen := map[any]bool{}
	visit := func(path string, x any) {
		p, ok := x.(Provisioner)
		if !ok {
			return
		}
		if reflect.ValueOf(x).Comparable() {
			if seen[x] {
				return
			}
			seen[x] = true
		}
		if err := p.Provision(svc); err != nil {
			errs = append(errs, &ConfigError{Path: path, Err: err})
		}
	}
	for i := range cfg.Listeners {
		for j, rc := range cfg.Listeners[i].Routes {
			path := fmt.Sprintf("listeners[%d].routes[%d]", i, j)
			for k, p := range rc.Policies {
				if p != nil {
					visit(fmt.Sprintf("%s.policies[%d]", path, k), unwrapPolicy(p))
				}
			}
			for k, b := range rc.Backends {
				if b.Handler != nil {
					visit(fmt.Sprintf("%s.backends[%d]", path, k), b.Handler)
				}
			}
		}
	}
	return errors.Join(errs...)
}
