package config

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	celgo "github.com/google/cel-go/cel"
	"go.opentelemetry.io/otel/attribute"
	otlptrace "go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// responseVar is the `response` variable of log filters and fields: response.code is the status.
var responseVar = celgo.Variable("response", celgo.MapType(celgo.StringType, celgo.DynType))

func compileLogFilter(expr string) (*cel.Program, error) {
	return cel.CompileWith(expr, celgo.BoolType, responseVar)
}

// backendVar is the `backend` variable of fields: backend.name is the backend that served the
// request (agentgateway also has type and protocol, which this gateway does not record).
var backendVar = celgo.Variable("backend", celgo.MapType(celgo.StringType, celgo.DynType))

func compileField(expr string) (*cel.Program, error) {
	return cel.CompileWith(expr, nil, responseVar, backendVar)
}

// compileFields checks every CEL expression of fs.Add, reporting errors at path.add.<name>.
func compileFields(path string, fs *FieldsSettings) []error {
	var errs []error
	for _, name := range sortedKeys(fs.Add) {
		if _, err := compileField(fs.Add[name]); err != nil {
			errs = append(errs, agentgateway.Errorf(path+".add."+name, "%v", err))
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type namedProgram struct {
	name string
	prg  *cel.Program
}

// celEval evaluates request-scoped programs with the request's sensitive headers redacted.
type celEval struct {
	sensitive map[string]bool
	backend   bool // a program reads `backend`
}

// activation returns the CEL activation for a finished request: `response` is set when a program
// needs it, and sensitive header values read "[redacted]" when a program reads the request.
func (e celEval) activation(r *http.Request, st *agentgateway.State, needResponse, needRequest bool) *cel.Activation {
	if needRequest {
		r = e.redacted(r)
	}
	a := activations.Get().(*cel.Activation)
	a.Reset(r, st)
	if needResponse || e.backend {
		a.Extra = map[string]any{"response": map[string]any{"code": st.Status}, "backend": map[string]any{"name": st.Backend}}
	}
	return a
}

// activations recycles the per-request CEL activations of the access log and span fields.
var activations = sync.Pool{New: func() any { return new(cel.Activation) }}

func release(a *cel.Activation) {
	a.Reset(nil, nil) // drop the request so the pool does not keep it alive
	activations.Put(a)
}

func (e celEval) redacted(r *http.Request) *http.Request {
	hit := false
	for k := range r.Header {
		if e.sensitive[strings.ToLower(k)] {
			hit = true
			break
		}
	}
	if !hit {
		return r
	}
	r2 := *r
	r2.Header = make(http.Header, len(r.Header))
	for k, v := range r.Header {
		if e.sensitive[strings.ToLower(k)] {
			v = []string{"[redacted]"}
		}
		r2.Header[k] = v
	}
	return &r2
}

func uses(progs []namedProgram, filter *cel.Program, v string) bool {
	if filter != nil && filter.Uses(v) {
		return true
	}
	return slices.ContainsFunc(progs, func(p namedProgram) bool { return p.prg.Uses(v) })
}

// AccessLogOptions compiles config.logging and frontendPolicies.accessLog into the access log's
// options: both filters must pass, fields of both are added (frontendPolicies wins a name), and the
// fields either removes are left out. Sensitive headers are redacted from what the expressions read.
func (f *File) AccessLogOptions() (agentgateway.AccessLogOptions, error) {
	var opts agentgateway.AccessLogOptions
	var filters []*cel.Program
	add := map[string]string{}
	var remove []string
	if l := f.Settings.Logging; l != nil {
		if l.Filter != "" {
			p, err := compileLogFilter(l.Filter)
			if err != nil {
				return opts, agentgateway.Errorf("config.logging.filter", "%v", err)
			}
			filters = append(filters, p)
		}
		if l.Fields != nil {
			for k, v := range l.Fields.Add {
				add[k] = v
			}
			remove = append(remove, l.Fields.Remove...)
		}
	}
	if a := f.Frontend.AccessLog; a != nil {
		if a.Filter != "" {
			p, err := compileLogFilter(a.Filter)
			if err != nil {
				return opts, agentgateway.Errorf("frontendPolicies.accessLog.filter", "%v", err)
			}
			filters = append(filters, p)
		}
		for k, v := range a.adds() {
			add[k] = v
		}
		remove = append(remove, a.removes()...)
	}
	var progs []namedProgram
	for _, name := range sortedKeys(add) {
		p, err := compileField(add[name])
		if err != nil {
			return opts, agentgateway.Errorf("logging.fields.add."+name, "%v", err)
		}
		progs = append(progs, namedProgram{name, p})
	}
	ev := celEval{sensitive: f.Settings.SensitiveHeaderSet(), backend: uses(progs, nil, "backend")}
	filtersUseResponse := slices.ContainsFunc(filters, func(p *cel.Program) bool { return p.Uses("response") })
	if len(filters) > 0 {
		opts.Filter = func(ctx context.Context, r *http.Request, st *agentgateway.State) bool {
			a := ev.activation(r, st, filtersUseResponse, false)
			defer release(a)
			for _, p := range filters {
				// A filter that fails to evaluate (a missing header, say) drops the line, as in agentgateway.
				if ok, err := p.EvalBool(ctx, a); err != nil || !ok {
					return false
				}
			}
			return true
		}
	}
	if len(progs) > 0 {
		needResp, needReq := uses(progs, nil, "response"), uses(progs, nil, "request")
		opts.Fields = func(ctx context.Context, r *http.Request, st *agentgateway.State, attrs []slog.Attr) []slog.Attr {
			a := ev.activation(r, st, needResp, needReq)
			defer release(a)
			for _, p := range progs {
				v, err := p.prg.Eval(ctx, a)
				if err != nil {
					continue // a field that cannot be computed for this request is left out
				}
				attrs = slices.DeleteFunc(attrs, func(at slog.Attr) bool { return at.Key == p.name })
				attrs = append(attrs, slog.Any(p.name, cel.Native(v)))
			}
			return attrs
		}
	}
	opts.Remove = remove
	return opts, nil
}

// AccessLogFormat is the line format frontendPolicies.accessLog (or logging) asks for the access
// log: "text", "json", or "" for the process log's own format (config.logging.format).
func (f *File) AccessLogFormat() string {
	if a := f.Frontend.AccessLog; a != nil {
		return a.Format
	}
	return ""
}

// SpanFields returns the observer that adds config.tracing.fields.add and
// frontendPolicies.tracing.attributes to the request's span when it ends (nil when there are none).
// Add it after the observer that starts the span, so that its End runs first.
func (f *File) SpanFields() (agentgateway.Observer, error) {
	add := map[string]string{}
	if t := f.Settings.Tracing; t != nil && t.Fields != nil {
		for k, v := range t.Fields.Add {
			add[k] = v
		}
	}
	if t := f.Frontend.Tracing; t != nil {
		for k, v := range t.Attributes {
			add[k] = v
		}
	}
	if len(add) == 0 {
		return nil, nil
	}
	var progs []namedProgram
	for _, name := range sortedKeys(add) {
		p, err := compileField(add[name])
		if err != nil {
			return nil, agentgateway.Errorf("tracing.attributes."+name, "%v", err)
		}
		progs = append(progs, namedProgram{name, p})
	}
	return &spanFields{progs: progs, ev: celEval{sensitive: f.Settings.SensitiveHeaderSet(), backend: uses(progs, nil, "backend")},
		needReq: uses(progs, nil, "request"), needResp: uses(progs, nil, "response")}, nil
}

type spanFields struct {
	progs             []namedProgram
	ev                celEval
	needReq, needResp bool
}

func (*spanFields) Start(ctx context.Context, _ *http.Request, _ *agentgateway.State) context.Context {
	return ctx
}

func (s *spanFields) End(ctx context.Context, r *http.Request, st *agentgateway.State) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	a := s.ev.activation(r, st, s.needResp, s.needReq)
	defer release(a)
	for _, p := range s.progs {
		v, err := p.prg.Eval(ctx, a)
		if err != nil {
			continue
		}
		span.SetAttributes(attribute.String(p.name, fmt.Sprint(cel.Native(v))))
	}
}

// MetricFields returns config.metrics.fields.add as the function [agentgateway.WithMetricFields]
// takes (nil when there are none): each field is a CEL expression over the finished request, its
// value the attribute's (as a string); a field that fails to evaluate is left out of that point.
func (f *File) MetricFields() (func(*http.Request, *agentgateway.State) []attribute.KeyValue, error) {
	m := f.Settings.Metrics
	if m == nil || m.Fields == nil || len(m.Fields.Add) == 0 {
		return nil, nil
	}
	var progs []namedProgram
	for _, name := range sortedKeys(m.Fields.Add) {
		p, err := compileField(m.Fields.Add[name])
		if err != nil {
			return nil, agentgateway.Errorf("config.metrics.fields.add."+name, "%v", err)
		}
		progs = append(progs, namedProgram{name, p})
	}
	ev := celEval{sensitive: f.Settings.SensitiveHeaderSet(), backend: uses(progs, nil, "backend")}
	needReq, needResp := uses(progs, nil, "request"), uses(progs, nil, "response")
	return func(r *http.Request, st *agentgateway.State) []attribute.KeyValue {
		a := ev.activation(r, st, needResp, needReq)
		defer release(a)
		kv := make([]attribute.KeyValue, 0, len(progs))
		for _, p := range progs {
			if v, err := p.prg.Eval(r.Context(), a); err == nil {
				kv = append(kv, attribute.String(p.name, fmt.Sprint(cel.Native(v))))
			}
		}
		return kv
	}, nil
}

// sampler is the trace sampler of a sampling setting: a fixed ratio (def when s is nil), or the CEL
// expression's answer for each request.
func (s *Sampling) sampler(def float64, sensitive map[string]bool) sdktrace.Sampler {
	switch {
	case s == nil:
		return sdktrace.TraceIDRatioBased(def)
	case s.Expr == nil:
		return sdktrace.TraceIDRatioBased(s.Ratio)
	}
	return &celSampler{prg: s.Expr, ev: celEval{sensitive: sensitive}}
}

// celSampler samples a request by a CEL expression: true/false, or a ratio applied to the trace id
// (so that every replica decides alike for one trace). A request the expression cannot judge is not
// sampled.
type celSampler struct {
	prg *cel.Program
	ev  celEval
}

func (c *celSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	ratio := 0.0
	if r := agentgateway.SamplingRequest(p.ParentContext); r != nil {
		a := c.ev.activation(r, agentgateway.StateFrom(p.ParentContext), false, c.prg.Uses("request"))
		if v, err := c.prg.Eval(p.ParentContext, a); err == nil {
			switch x := cel.Native(v).(type) {
			case bool:
				if x {
					ratio = 1
				}
			case float64:
				ratio = x
			case int64:
				ratio = float64(x)
			}
		}
		release(a)
	}
	return sdktrace.TraceIDRatioBased(min(max(ratio, 0), 1)).ShouldSample(p)
}

func (c *celSampler) Description() string { return "CELSampler{" + c.prg.String() + "}" }

// tracingTarget is the exporter configuration of config.tracing or frontendPolicies.tracing.
type tracingTarget struct {
	endpoint, protocol, path string
	headers                  map[string]string
	random, client           *Sampling // nil: never (random) and always (client)
	remove                   []string
	resources                []attribute.KeyValue
}

func (f *File) tracingTarget() (*tracingTarget, error) {
	t := &tracingTarget{}
	switch {
	case f.Frontend.Tracing != nil:
		ft := f.Frontend.Tracing
		t.endpoint, t.protocol, t.path, t.remove = ft.Host, ft.Protocol, ft.Path, ft.Remove
		t.random, t.client = ft.RandomSampling, ft.ClientSampling
		res, err := ft.resourceAttrs()
		if err != nil {
			return nil, err
		}
		t.resources = res
	case f.Settings.Tracing != nil:
		st := f.Settings.Tracing
		t.endpoint, t.protocol, t.path, t.headers = st.OTLPEndpoint, st.OTLPProtocol, st.Path, st.Headers
		t.random, t.client = st.RandomSampling, st.ClientSampling
		if st.Fields != nil {
			t.remove = st.Fields.Remove
		}
	default:
		return nil, nil
	}
	if t.protocol == "" {
		t.protocol = "grpc"
	}
	return t, nil
}

// resourceAttrs evaluates the resources expressions once (they see no request).
func (t *FrontendTracing) resourceAttrs() ([]attribute.KeyValue, error) {
	var out []attribute.KeyValue
	for _, k := range sortedKeys(t.Resources) {
		p, err := cel.Compile(t.Resources[k], nil)
		if err != nil {
			return nil, agentgateway.Errorf("frontendPolicies.tracing.resources."+k, "%v", err)
		}
		v, err := p.Eval(context.Background(), cel.NewActivation(nil, nil))
		if err != nil {
			return nil, agentgateway.Errorf("frontendPolicies.tracing.resources."+k, "%v", err)
		}
		out = append(out, attribute.String(k, fmt.Sprint(cel.Native(v))))
	}
	return out, nil
}

// TracerProvider builds the OpenTelemetry SDK tracer provider that frontendPolicies.tracing, or else
// config.tracing, asks for: an OTLP exporter (gRPC or HTTP, with the configured headers) behind a
// batcher, and a parent-based sampler: randomSampling for requests without a trace, clientSampling
// for requests with a sampled one. Removed fields and sensitive request headers never leave the
// process. It returns nil when tracing is not configured. Shut it down to flush.
func (f *File) TracerProvider(ctx context.Context) (*sdktrace.TracerProvider, error) {
	t, err := f.tracingTarget()
	if err != nil || t == nil {
		return nil, err
	}
	exp, err := t.exporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	attrs := append([]attribute.KeyValue{attribute.String("service.name", "agentgateway")}, t.resources...)
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	sensitive := f.Settings.SensitiveHeaderSet()
	sampler := sdktrace.ParentBased(t.random.sampler(0, sensitive),
		sdktrace.WithRemoteParentSampled(t.client.sampler(1, sensitive)))
	filtered := &filteringExporter{SpanExporter: exp, remove: t.remove, sensitive: f.Settings.SensitiveHeaderSet()}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(filtered), sdktrace.WithResource(res), sdktrace.WithSampler(sampler)), nil
}

func (t *tracingTarget) exporter(ctx context.Context) (*otlptrace.Exporter, error) {
	hasScheme := strings.Contains(t.endpoint, "://")
	switch t.protocol {
	case "http":
		opts := []otlptracehttp.Option{otlptracehttp.WithHeaders(t.headers)}
		if hasScheme {
			opts = append(opts, otlptracehttp.WithEndpointURL(t.endpoint))
		} else {
			// A bare host:port is a plaintext collector beside the gateway, as agentgateway reads it.
			opts = append(opts, otlptracehttp.WithEndpoint(t.endpoint), otlptracehttp.WithInsecure())
		}
		if t.path != "" {
			opts = append(opts, otlptracehttp.WithURLPath(t.path))
		}
		return otlptracehttp.New(ctx, opts...)
	default:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithHeaders(t.headers)}
		if hasScheme {
			opts = append(opts, otlptracegrpc.WithEndpointURL(t.endpoint))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(t.endpoint), otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(ctx, opts...)
	}
}

// filteringExporter drops removed attributes and redacts sensitive header attributes
// (http.request.header.<name>) before spans are exported.
type filteringExporter struct {
	sdktrace.SpanExporter
	remove    []string
	sensitive map[string]bool
}

func (e *filteringExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = filteredSpan{ReadOnlySpan: s, e: e}
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

type filteredSpan struct {
	sdktrace.ReadOnlySpan
	e *filteringExporter
}

func (s filteredSpan) Attributes() []attribute.KeyValue {
	in := s.ReadOnlySpan.Attributes()
	out := make([]attribute.KeyValue, 0, len(in))
	for _, kv := range in {
		k := string(kv.Key)
		if slices.Contains(s.e.remove, k) {
			continue
		}
		if h, ok := strings.CutPrefix(k, "http.request.header."); ok && s.e.sensitive[strings.ToLower(h)] {
			kv = attribute.String(k, "[redacted]")
		}
		out = append(out, kv)
	}
	return out
}

// Metrics is the meter provider of the binary: an OpenTelemetry SDK provider read by a Prometheus
// exporter on a registry of its own, served by Handler.
type Metrics struct {
	Provider *sdkmetric.MeterProvider
	Handler  http.Handler
	Registry *prometheus.Registry
}

// MeterProvider builds the SDK meter provider that config.metrics and config.histograms ask for:
// metrics named in metrics.remove are dropped, and histograms are classic (explicit buckets) or
// native (base-2 exponential). Shut Provider down when done.
func (s *Settings) MeterProvider() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", "agentgateway")))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithReader(exp), sdkmetric.WithResource(res)}
	if s.Histograms == "native" {
		opts = append(opts, sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})))
	}
	if s.Metrics != nil {
		for _, name := range s.Metrics.Remove {
			opts = append(opts, sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: name},
				sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}})))
		}
	}
	return &Metrics{Provider: sdkmetric.NewMeterProvider(opts...), Registry: reg,
		Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}, nil
}
