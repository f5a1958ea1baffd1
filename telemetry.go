package agentgateway

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// InstrumentationName is the instrumentation scope of the gateway's tracers and meters.
const InstrumentationName = "github.com/agentgw/agentgateway"

// defaultGlobalTP is otel's delegating provider as it stands before anyone calls
// otel.SetTracerProvider: while the global is still it, no span would be recorded, and starting one
// would only allocate.
var defaultGlobalTP = otel.GetTracerProvider()

// Propagator is the W3C trace-context propagator the gateway extracts from requests and injects into
// upstream requests and MCP params._meta.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Tracing reports whether spans the gateway starts may be recorded: its TracerProvider is set and not
// a no-op one, or, when it is not set, the otel global provider has been set (to something other than
// a no-op). Instrumentation checks it before starting a span, so that a gateway with no tracing
// configured pays nothing for it.
func (s Services) Tracing() bool {
	tp := s.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
		if tp == defaultGlobalTP {
			return false
		}
	}
	_, noop := tp.(tracenoop.TracerProvider)
	return !noop
}

// WithTelemetry turns the gateway's own metrics and server spans (see [Observer]) on (the default)
// or off. Backends and policies still use the providers in [Services].
func WithTelemetry(on bool) Option { return func(o *options) { o.noTelemetry = !on } }

// WithMetricFields adds the attributes fields returns for a finished request to its
// http.server.request.duration point (agentgateway's config.metrics.fields.add). Each distinct set of
// values is a time series of its own: return values of low cardinality (a tenant, a model family),
// never ids. fields runs only while a meter records the metric.
func WithMetricFields(fields func(r *http.Request, st *State) []attribute.KeyValue) Option {
	return func(o *options) { o.metricFields = fields }
}

// Bucket boundaries the semantic conventions advise for their histograms.
var (
	httpDurationBuckets  = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	rpcDurationBuckets   = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}
	genAIDurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	tokenBuckets         = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	ttftBuckets          = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
)

// MCPDurationBuckets are the bucket boundaries (seconds) of the mcp.*.operation.duration histograms.
func MCPDurationBuckets() []float64 { return append([]float64(nil), rpcDurationBuckets...) }

// telemetry is the observer that records the gateway's per-request metrics and its server span.
type telemetry struct {
	svc    Services
	tracer trace.Tracer
	fields func(*http.Request, *State) []attribute.KeyValue // WithMetricFields

	httpDur   metric.Float64Histogram
	mcpDur    metric.Float64Histogram
	a2aDur    metric.Float64Histogram
	llmDur    metric.Float64Histogram
	llmTokens metric.Int64Histogram
	llmTTFT   metric.Float64Histogram
	llmCost   metric.Float64Counter
	retries   metric.Int64Counter
	rateLimit metric.Int64Counter
	denials   metric.Int64Counter

	// sets caches the attribute set of each (method, status, listener, route, backend) seen, so a
	// request records with a precomputed set. Bounded: past maxCachedSets, sets are built per request.
	sets  sync.Map // httpKey -> attribute.Set
	nsets atomic.Int32
}

const maxCachedSets = 4096

type httpKey struct {
	method                   string
	status                   int
	listener, route, backend string
}

// newTelemetry builds the instruments once; with the global meter provider they forward to
// whatever provider is set later.
func newTelemetry(svc Services) *telemetry {
	m := svc.Meter(InstrumentationName)
	t := &telemetry{svc: svc, tracer: svc.Tracer(InstrumentationName)}
	// The constructors never fail for valid names; a provider that does returns a usable no-op.
	t.httpDur, _ = m.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."), metric.WithExplicitBucketBoundaries(httpDurationBuckets...))
	t.mcpDur, _ = m.Float64Histogram("mcp.server.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the MCP requests the gateway served."), metric.WithExplicitBucketBoundaries(rpcDurationBuckets...))
	t.a2aDur, _ = m.Float64Histogram("a2a.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the A2A requests the gateway served, by a2a.method."), metric.WithExplicitBucketBoundaries(rpcDurationBuckets...))
	t.llmDur, _ = m.Float64Histogram("gen_ai.client.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("GenAI operation duration."), metric.WithExplicitBucketBoundaries(genAIDurationBuckets...))
	t.llmTokens, _ = m.Int64Histogram("gen_ai.client.token.usage", metric.WithUnit("{token}"),
		metric.WithDescription("Number of input and output tokens used."), metric.WithExplicitBucketBoundaries(tokenBuckets...))
	t.llmTTFT, _ = m.Float64Histogram("gen_ai.server.time_to_first_token", metric.WithUnit("s"),
		metric.WithDescription("Time to generate the first token of a streamed response."), metric.WithExplicitBucketBoundaries(ttftBuckets...))
	t.llmCost, _ = m.Float64Counter("agentgateway.gen_ai.cost", metric.WithUnit("{USD}"),
		metric.WithDescription("Price of GenAI calls from the model catalog."))
	t.retries, _ = m.Int64Counter("agentgateway.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Attempts a retry policy made after the first."))
	t.rateLimit, _ = m.Int64Counter("agentgateway.ratelimit.decisions", metric.WithUnit("{request}"),
		metric.WithDescription("Rate-limit decisions, by agentgateway.ratelimit.decision (allowed, denied)."))
	t.denials, _ = m.Int64Counter("agentgateway.authz.denials", metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused by a policy, by agentgateway.policy."))
	return t
}

// Attribute keys beyond the semantic conventions' own.
const (
	attrBackend  = attribute.Key("agentgateway.backend")
	attrListener = attribute.Key("agentgateway.listener")
	// AttrMCPTarget names the federated MCP target of an operation.
	attrMCPTarget = attribute.Key("mcp.target")
)

func (t *telemetry) Start(ctx context.Context, r *http.Request, _ *State) context.Context {
	if !t.svc.Tracing() {
		return ctx
	}
	ctx = Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	ctx = context.WithValue(ctx, samplingRequestKey{}, r) // for samplers that decide by the request
	ctx, _ = t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", httpMethod(r.Method)),
		attribute.String("url.path", r.URL.Path),
		attribute.String("url.scheme", scheme(r)),
		attribute.String("network.protocol.version", protoVersion(r)),
	))
	return ctx
}

func (t *telemetry) End(ctx context.Context, r *http.Request, st *State) {
	// The clock is read only when something records the duration: with no provider, nothing does.
	d := -1.0
	since := func() float64 {
		if d < 0 {
			d = time.Since(st.Start).Seconds()
		}
		return d
	}
	if t.httpDur.Enabled(ctx) {
		set := t.httpSet(r.Method, st)
		if t.fields != nil {
			if extra := t.fields(r, st); len(extra) > 0 {
				// A set of its own: the cached one is shared by every request of the route.
				set = attribute.NewSet(append(set.ToSlice(), extra...)...)
			}
		}
		t.httpDur.Record(ctx, since(), metric.WithAttributeSet(set))
	}
	if st.MCP.Method != "" && t.mcpDur.Enabled(ctx) {
		t.mcpDur.Record(ctx, since(), metric.WithAttributes(mcpAttrs(st)...))
	}
	if st.A2A.Method != "" && t.a2aDur.Enabled(ctx) {
		kv := []attribute.KeyValue{attribute.String("a2a.method", st.A2A.Method), attribute.String("http.route", st.Route)}
		if e := errorType(st); e.Valid() {
			kv = append(kv, e)
		}
		t.a2aDur.Record(ctx, since(), metric.WithAttributes(kv...))
	}
	if st.LLM.Provider != "" && t.llmDur.Enabled(ctx) {
		kv := llmAttrs(&st.LLM)
		if e := errorType(st); e.Valid() {
			kv = append(kv, e)
		}
		t.llmDur.Record(ctx, since(), metric.WithAttributes(kv...))
	}
	if st.LLM.Provider != "" {
		t.recordLLM(ctx, st)
	}
	t.recordPolicy(ctx, st)
	if t.svc.Tracing() {
		endServerSpan(ctx, r, st)
	}
}

// httpSet returns the attributes of http.server.request.duration for this request.
func (t *telemetry) httpSet(method string, st *State) attribute.Set {
	k := httpKey{method: httpMethod(method), status: st.Status, listener: st.Listener, route: st.Route, backend: st.Backend}
	if v, ok := t.sets.Load(k); ok {
		return v.(attribute.Set)
	}
	kv := []attribute.KeyValue{
		attribute.String("http.request.method", k.method),
		attribute.Int("http.response.status_code", k.status),
		attribute.String("http.route", k.route),
		attrBackend.String(k.backend),
		attrListener.String(k.listener),
	}
	if k.status >= 500 {
		kv = append(kv, attribute.String("error.type", strconv.Itoa(k.status)))
	}
	set := attribute.NewSet(kv...)
	if t.nsets.Load() < maxCachedSets {
		if _, loaded := t.sets.LoadOrStore(k, set); !loaded {
			t.nsets.Add(1)
		}
	}
	return set
}

func mcpAttrs(st *State) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 5)
	kv = append(kv, attribute.String("mcp.method.name", st.MCP.Method), attribute.String("http.route", st.Route))
	if st.MCP.ToolName != "" {
		kv = append(kv, attribute.String("gen_ai.tool.name", st.MCP.ToolName), attrMCPTarget.String(st.MCP.ToolTarget))
	} else if st.MCP.Target != "" {
		kv = append(kv, attrMCPTarget.String(st.MCP.Target))
	}
	if e := errorType(st); e.Valid() {
		kv = append(kv, e)
	}
	return kv
}

// errorType is error.type for a failed request: the status code, or "_OTHER" for an error recorded
// under a status below 400; an invalid KeyValue when the request succeeded.
func errorType(st *State) attribute.KeyValue {
	switch {
	case st.Status >= 400:
		return attribute.String("error.type", strconv.Itoa(st.Status))
	case st.Err != nil:
		return attribute.String("error.type", "_OTHER")
	}
	return attribute.KeyValue{}
}

func llmAttrs(l *LLMState, extra ...attribute.KeyValue) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 5+len(extra))
	kv = append(kv,
		attribute.String("gen_ai.operation.name", l.Operation),
		attribute.String("gen_ai.provider.name", l.Provider),
		attribute.String("gen_ai.request.model", l.RequestModel),
	)
	if l.ResponseModel != "" {
		kv = append(kv, attribute.String("gen_ai.response.model", l.ResponseModel))
	}
	return append(kv, extra...)
}

func (t *telemetry) recordLLM(ctx context.Context, st *State) {
	l := &st.LLM
	if t.llmTokens.Enabled(ctx) {
		if l.InputTokens > 0 {
			t.llmTokens.Record(ctx, l.InputTokens, metric.WithAttributes(llmAttrs(l, attribute.String("gen_ai.token.type", "input"))...))
		}
		if l.OutputTokens > 0 {
			t.llmTokens.Record(ctx, l.OutputTokens, metric.WithAttributes(llmAttrs(l, attribute.String("gen_ai.token.type", "output"))...))
		}
	}
	if l.FirstToken > 0 && t.llmTTFT.Enabled(ctx) {
		t.llmTTFT.Record(ctx, l.FirstToken.Seconds(), metric.WithAttributes(llmAttrs(l)...))
	}
	if l.Cost > 0 && t.llmCost.Enabled(ctx) {
		t.llmCost.Add(ctx, l.Cost, metric.WithAttributes(llmAttrs(l)...))
	}
}

func (t *telemetry) recordPolicy(ctx context.Context, st *State) {
	p := &st.Policy
	if p.Retries > 0 && t.retries.Enabled(ctx) {
		t.retries.Add(ctx, int64(p.Retries), metric.WithAttributes(attribute.String("http.route", st.Route), attrBackend.String(st.Backend)))
	}
	if p.RateLimit != "" && t.rateLimit.Enabled(ctx) {
		t.rateLimit.Add(ctx, 1, metric.WithAttributes(attribute.String("http.route", st.Route),
			attribute.String("agentgateway.ratelimit.decision", p.RateLimit)))
	}
	if p.DeniedBy != "" && t.denials.Enabled(ctx) {
		t.denials.Add(ctx, 1, metric.WithAttributes(attribute.String("http.route", st.Route),
			attribute.String("agentgateway.policy", p.DeniedBy)))
	}
}

// endServerSpan names the request's server span after what served it and ends it.
func endServerSpan(ctx context.Context, r *http.Request, st *State) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	switch {
	case st.MCP.ToolName != "":
		span.SetName(st.MCP.Method + " " + st.MCP.ToolName)
	case st.MCP.Method != "":
		span.SetName(st.MCP.Method)
	case st.A2A.Method != "":
		span.SetName(st.A2A.Method)
	case st.LLM.Operation != "":
		span.SetName(st.LLM.Operation + " " + st.LLM.RequestModel)
	case st.Route != "":
		span.SetName(httpMethod(r.Method) + " " + st.Route)
	}
	kv := make([]attribute.KeyValue, 0, 24)
	kv = append(kv,
		attribute.Int("http.response.status_code", st.Status),
		attribute.String("http.route", st.Route),
		attrBackend.String(st.Backend),
		attrListener.String(st.Listener),
		attribute.Int64("http.request.body.size", st.BytesIn),
		attribute.Int64("http.response.body.size", st.BytesOut),
	)
	if st.Source.IsValid() {
		kv = append(kv, attribute.String("client.address", st.Source.Addr().String()))
	}
	if st.Identity.Subject != "" {
		kv = append(kv, attribute.String("enduser.id", st.Identity.Subject))
	}
	if st.MCP.Method != "" {
		kv = append(kv, attribute.String("mcp.method.name", st.MCP.Method))
		if st.MCP.SessionID != "" {
			// The session id is a bearer credential: only its fingerprint leaves the gateway.
			kv = append(kv, attribute.String("mcp.session.id", fingerprint(st.MCP.SessionID)))
		}
		if st.MCP.ToolName != "" {
			kv = append(kv, attribute.String("gen_ai.tool.name", st.MCP.ToolName), attribute.String("gen_ai.operation.name", "execute_tool"))
		}
		if st.MCP.Target != "" {
			kv = append(kv, attrMCPTarget.String(st.MCP.Target))
		}
	}
	if st.A2A.Method != "" {
		kv = append(kv, attribute.String("a2a.method", st.A2A.Method))
		if st.A2A.TaskID != "" {
			kv = append(kv, attribute.String("a2a.task.id", st.A2A.TaskID))
		}
		if st.A2A.ContextID != "" {
			kv = append(kv, attribute.String("a2a.context.id", st.A2A.ContextID))
		}
	}
	if l := &st.LLM; l.Provider != "" {
		kv = append(llmAttrs(l, kv...),
			attribute.Int64("gen_ai.usage.input_tokens", l.InputTokens),
			attribute.Int64("gen_ai.usage.output_tokens", l.OutputTokens),
		)
	}
	if p := &st.Policy; p.DeniedBy != "" {
		kv = append(kv, attribute.String("agentgateway.policy", p.DeniedBy))
	}
	if e := errorType(st); e.Valid() {
		kv = append(kv, e)
	}
	span.SetAttributes(kv...)
	if st.Status >= 500 || st.Err != nil && st.Status < 400 {
		msg := http.StatusText(st.Status)
		if st.Err != nil {
			msg = st.Err.Error()
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}

// httpMethod is http.request.method: a known method, else "_OTHER" (a client must not be able to
// grow the metric's label space).
func httpMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func protoVersion(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "2"
	case 3:
		return "3"
	}
	if r.ProtoMinor == 0 {
		return "1.0"
	}
	return "1.1"
}

type samplingRequestKey struct{}

// SamplingRequest returns the request whose server span is being started, for a trace sampler
// (sdktrace.Sampler) that decides by the request — agentgateway's CEL randomSampling, say: the
// sampler gets the span's parent context, which carries it. nil elsewhere.
func SamplingRequest(ctx context.Context) *http.Request {
	r, _ := ctx.Value(samplingRequestKey{}).(*http.Request)
	return r
}
