package config_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// receiver is an OTLP/gRPC trace collector: the collector protocol's TraceService, recording what
// it is sent and the request metadata.
type receiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu      sync.Mutex
	reqs    []*collectortrace.ExportTraceServiceRequest
	headers []metadata.MD
}

func (r *receiver) Export(ctx context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	r.headers = append(r.headers, md)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func startReceiver(t *testing.T) (*receiver, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	rec := &receiver{}
	collectortrace.RegisterTraceServiceServer(srv, rec)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return rec, ln.Addr().String()
}

// The TracerProvider built from config.tracing exports over OTLP/gRPC to a real collector endpoint,
// with the configured headers, the sampling the file asks for, the CEL span fields, the removed
// fields gone and sensitive headers redacted.
func TestTracingExportsToOTLPReceiver(t *testing.T) {
	rec, addr := startReceiver(t)
	f, err := config.Load([]byte(`
config:
  sensitiveHeaders: [x-secret]
  tracing:
    otlpEndpoint: http://`+addr+`
    headers: {x-tenant: acme}
    randomSampling: true
    fields:
      add: {team: 'request.headers["x-team"]', secret: 'request.headers["x-secret"]'}
      remove: [drop.me]
`), nil)
	require.NoError(t, err)
	tp, err := f.TracerProvider(context.Background())
	require.NoError(t, err)
	fields, err := f.SpanFields()
	require.NoError(t, err)

	// A span as an instrumentation observer would start it, with the span-fields observer ending first.
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("X-Team", "red")
	r.Header.Set("X-Secret", "hunter2")
	ctx, span := tp.Tracer("test").Start(context.Background(), "GET /x")
	span.SetAttributes(attribute.String("drop.me", "v"), attribute.String("http.request.header.authorization", "Bearer t"))
	st := &agentgateway.State{Status: 200}
	fields.End(fields.Start(ctx, r, st), r, st)
	span.End()
	require.NoError(t, tp.ForceFlush(context.Background()))
	require.NoError(t, tp.Shutdown(context.Background()))

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.reqs, 1)
	assert.Equal(t, []string{"acme"}, rec.headers[0].Get("x-tenant"))
	spans := rec.reqs[0].ResourceSpans[0].ScopeSpans[0].Spans
	require.Len(t, spans, 1)
	assert.Equal(t, "GET /x", spans[0].Name)
	got := map[string]string{}
	for _, kv := range spans[0].Attributes {
		got[kv.Key] = kv.Value.GetStringValue()
	}
	assert.Equal(t, "red", got["team"])
	assert.Equal(t, "[redacted]", got["secret"], "a sensitive header never reaches a trace")
	assert.Equal(t, "[redacted]", got["http.request.header.authorization"])
	assert.NotContains(t, got, "drop.me")
	var service string
	for _, kv := range rec.reqs[0].ResourceSpans[0].Resource.Attributes {
		if kv.Key == "service.name" {
			service = kv.Value.GetStringValue()
		}
	}
	assert.Equal(t, "agentgateway", service)
}

// clientSampling false: a request that arrives with a sampled trace is not traced; randomSampling
// false (the default): nor is one without.
func TestTracingSampling(t *testing.T) {
	f, err := config.Load([]byte("config:\n  tracing: {otlpEndpoint: 127.0.0.1:1, clientSampling: false}\n"), nil)
	require.NoError(t, err)
	tp, err := f.TracerProvider(context.Background())
	require.NoError(t, err)
	defer func() { _ = tp.Shutdown(context.Background()) }()
	_, span := tp.Tracer("t").Start(context.Background(), "root")
	assert.False(t, span.IsRecording(), "randomSampling defaults to false")
	h := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h))
	require.True(t, trace.SpanContextFromContext(ctx).IsRemote())
	_, span = tp.Tracer("t").Start(ctx, "child")
	assert.False(t, span.IsRecording(), "clientSampling: false")

	f, err = config.Load([]byte("config:\n  tracing: {otlpEndpoint: 127.0.0.1:1}\n"), nil)
	require.NoError(t, err)
	tp2, err := f.TracerProvider(context.Background())
	require.NoError(t, err)
	defer func() { _ = tp2.Shutdown(context.Background()) }()
	_, span = tp2.Tracer("t").Start(ctx, "child")
	assert.True(t, span.IsRecording(), "clientSampling defaults to true")
}

// The access log of a file: config.logging.filter and frontendPolicies.accessLog.filter drop lines,
// CEL fields are added, removed fields are gone, sensitive headers read by a field are redacted.
func TestAccessLogFromConfig(t *testing.T) {
	f, err := config.Load([]byte(`
config:
  logging:
    filter: 'request.path != "/healthz"'
    fields:
      add: {team: 'request.headers["x-team"]', auth: 'request.headers["authorization"]'}
      remove: [source]
frontendPolicies:
  accessLog:
    filter: 'response.code != 204'
    add: {tool: 'mcp.method'}
binds:
- port: 1
  listeners:
  - routes:
    - policies:
        directResponse: {status: 200, body: ok}
    - name: empty
      matches: [{path: {pathPrefix: /empty}}]
      policies:
        directResponse: {status: 204}
`), nil)
	require.NoError(t, err)
	opts, err := f.AccessLogOptions()
	require.NoError(t, err)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedBuf{&buf, &mu}, nil))
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false),
		agentgateway.WithObserver(agentgateway.NewAccessLog(logger, opts)))
	rt, err := f.Build(nil)
	require.NoError(t, err)
	defer rt.Close()
	require.NoError(t, gw.Apply(rt.Config))
	h := gw.PortHandler(1)
	for _, p := range []string{"/healthz", "/empty", "/api"} {
		r := httptest.NewRequest("GET", p, nil)
		r.Header.Set("X-Team", "red")
		r.Header.Set("Authorization", "Bearer s3cret")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, "the filters drop /healthz (config.logging) and the 204 (frontendPolicies): %s", out)
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &line))
	assert.Equal(t, "/api", line["path"])
	assert.Equal(t, "red", line["team"])
	assert.Equal(t, "[redacted]", line["auth"])
	assert.NotContains(t, out, "s3cret")
	assert.NotContains(t, line, "source")
	assert.Equal(t, "", line["tool"])
}

type lockedBuf struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (l lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// The meter provider of config.metrics serves Prometheus text: metrics.remove drops a metric and
// histograms: classic keeps bucket boundaries.
func TestMeterProviderPrometheus(t *testing.T) {
	f, err := config.Load([]byte("config:\n  metrics: {remove: [dropped.total]}\n"), nil)
	require.NoError(t, err)
	m, err := f.Settings.MeterProvider()
	require.NoError(t, err)
	defer func() { _ = m.Provider.Shutdown(context.Background()) }()
	meter := m.Provider.Meter("test")
	kept, _ := meter.Int64Counter("kept.total")
	dropped, _ := meter.Int64Counter("dropped.total")
	hist, _ := meter.Float64Histogram("latency")
	kept.Add(context.Background(), 2)
	dropped.Add(context.Background(), 3)
	hist.Record(context.Background(), 0.3)
	srv := httptest.NewServer(m.Handler)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	require.Contains(t, fams, "kept_total")
	assert.EqualValues(t, 2, fams["kept_total"].Metric[0].GetCounter().GetValue())
	assert.NotContains(t, fams, "dropped_total")
	require.Contains(t, fams, "latency")
	assert.NotEmpty(t, fams["latency"].Metric[0].GetHistogram().GetBucket())
}

// otlpHTTP: the exporter of otlpProtocol: http posts protobuf to the configured path with the headers.
func TestTracingExportsOverOTLPHTTP(t *testing.T) {
	type got struct {
		path, tenant string
		req          *collectortrace.ExportTraceServiceRequest
	}
	ch := make(chan got, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := got{path: r.URL.Path, tenant: r.Header.Get("X-Tenant"), req: &collectortrace.ExportTraceServiceRequest{}}
		b, _ := io.ReadAll(r.Body)
		if err := proto.Unmarshal(b, g.req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		ch <- g
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ = proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	f, err := config.Load([]byte(`
config:
  tracing:
    otlpEndpoint: `+srv.URL+`
    otlpProtocol: http
    path: /custom/traces
    headers: {x-tenant: acme}
    randomSampling: 1
`), nil)
	require.NoError(t, err)
	tp, err := f.TracerProvider(context.Background())
	require.NoError(t, err)
	_, span := tp.Tracer("t").Start(context.Background(), "op")
	span.End()
	require.NoError(t, tp.Shutdown(context.Background()))
	g := <-ch
	assert.Equal(t, "/custom/traces", g.path)
	assert.Equal(t, "acme", g.tenant)
	assert.Equal(t, "op", g.req.ResourceSpans[0].ScopeSpans[0].Spans[0].Name)
}

// /config_dump never shows the values of sensitive headers (configured or default) nor the OTLP
// export headers.
func TestDumpRedactsSensitiveHeaders(t *testing.T) {
	f, err := config.Load([]byte(`
config:
  sensitiveHeaders: [X-Tenant-Id]
  tracing: {otlpEndpoint: 'h:1', headers: {x-honeycomb-team: hc-secret}}
binds:
- port: 1
  listeners:
  - routes:
    - policies:
        requestHeaderModifier: {set: {x-tenant-id: tok-secret, x-plain: visible}}
      backends: [{host: "127.0.0.1:1"}]
`), nil)
	require.NoError(t, err)
	d, err := f.Dump()
	require.NoError(t, err)
	assert.NotContains(t, string(d), "tok-secret")
	assert.NotContains(t, string(d), "hc-secret")
	assert.Contains(t, string(d), "visible")
}

// frontendPolicies.tracing: the collector given as host, resources evaluated once (service.name
// overridden), attributes added per request, and removed attributes gone.
func TestFrontendTracing(t *testing.T) {
	rec, addr := startReceiver(t)
	f, err := config.Load([]byte(`
frontendPolicies:
  tracing:
    host: `+addr+`
    randomSampling: true
    resources: {service.name: '"edge-gw"'}
    attributes: {route.method: 'request.method'}
    remove: [drop.me]
`), nil)
	require.NoError(t, err)
	tp, err := f.TracerProvider(context.Background())
	require.NoError(t, err)
	fields, err := f.SpanFields()
	require.NoError(t, err)
	ctx, span := tp.Tracer("t").Start(context.Background(), "req")
	span.SetAttributes(attribute.String("drop.me", "x"))
	r := httptest.NewRequest("PATCH", "/", nil)
	st := &agentgateway.State{}
	fields.End(ctx, r, st)
	span.End()
	require.NoError(t, tp.Shutdown(context.Background()))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.reqs, 1)
	rs := rec.reqs[0].ResourceSpans[0]
	attrs := map[string]string{}
	for _, kv := range rs.ScopeSpans[0].Spans[0].Attributes {
		attrs[kv.Key] = kv.Value.GetStringValue()
	}
	assert.Equal(t, map[string]string{"route.method": "PATCH"}, attrs)
	res := map[string]string{}
	for _, kv := range rs.Resource.Attributes {
		res[kv.Key] = kv.Value.GetStringValue()
	}
	assert.Equal(t, "edge-gw", res["service.name"])
}

// config.metrics.fields.add: each request's http.server.request.duration point carries the CEL
// fields, as the binary wires them (the file's MeterProvider and MetricFields into the gateway).
func TestMetricFieldsReachPrometheus(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer up.Close()
	f, err := config.Load([]byte(`
config:
  metrics:
    fields:
      add:
        tenant: 'default(request.headers["x-tenant"], "none")'
binds:
- port: 3000
  listeners:
  - routes:
    - name: api
      backends: [{host: "`+strings.TrimPrefix(up.URL, "http://")+`"}]
`), nil)
	require.NoError(t, err)
	m, err := f.Settings.MeterProvider()
	require.NoError(t, err)
	defer func() { _ = m.Provider.Shutdown(context.Background()) }()
	fields, err := f.MetricFields()
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithMeterProvider(m.Provider),
		agentgateway.WithMetricFields(fields))
	require.NoError(t, gw.Apply(rt.Config))
	front := httptest.NewServer(gw.PortHandler(3000))
	defer front.Close()
	for _, tenant := range []string{"acme", "acme", ""} {
		req, _ := http.NewRequest("GET", front.URL+"/x", nil)
		if tenant != "" {
			req.Header.Set("X-Tenant", tenant)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	metrics := httptest.NewServer(m.Handler)
	defer metrics.Close()
	resp, err := http.Get(metrics.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	fam := fams["http_server_request_duration_seconds"]
	require.NotNil(t, fam, "the gateway's request metric is exported")
	counts := map[string]uint64{}
	for _, mm := range fam.Metric {
		for _, l := range mm.Label {
			if l.GetName() == "tenant" {
				counts[l.GetValue()] += mm.GetHistogram().GetSampleCount()
			}
		}
	}
	assert.Equal(t, map[string]uint64{"acme": 2, "none": 1}, counts)
}

// randomSampling as a CEL expression decides per request, through a gateway: requests the expression
// selects are traced, others are not.
func TestTracingSamplingByCEL(t *testing.T) {
	f, err := config.Load([]byte(`
config:
  tracing: {otlpEndpoint: "127.0.0.1:1", randomSampling: 'request.headers["x-trace"] == "yes"'}
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        directResponse: {status: 200, body: ok}
`), nil)
	require.NoError(t, err)
	tp, err := f.TracerProvider(context.Background())
	require.NoError(t, err)
	defer func() { _ = tp.Shutdown(context.Background()) }()
	rec := tracetest.NewSpanRecorder()
	tp.RegisterSpanProcessor(rec)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithTracerProvider(tp))
	require.NoError(t, gw.Apply(rt.Config))
	front := httptest.NewServer(gw.PortHandler(3000))
	defer front.Close()
	for _, v := range []string{"yes", "no", "", "yes"} {
		req, _ := http.NewRequest("GET", front.URL+"/"+v, nil)
		req.Header.Set("X-Trace", v)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	var paths []string
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			for _, a := range s.Attributes() {
				if a.Key == "url.path" {
					paths = append(paths, a.Value.AsString())
				}
			}
		}
	}
	assert.Equal(t, []string{"/yes", "/yes"}, paths)
}

// frontendPolicies.http.http1MaxHeaders and maxConnectionDuration become gateway options.
func TestFrontendHTTPLimits(t *testing.T) {
	f, err := config.Load([]byte(`
frontendPolicies:
  http: {http1MaxHeaders: 4, maxConnectionDuration: 1m}
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        directResponse: {status: 200, body: ok}
`), nil)
	require.NoError(t, err)
	opts := f.Frontend.Options()
	require.Len(t, opts, 2)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(append(opts, agentgateway.WithAccessLog(false))...)
	require.NoError(t, gw.Apply(rt.Config))
	front := httptest.NewServer(gw.PortHandler(3000))
	defer front.Close()
	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	for _, h := range []string{"A", "B", "C", "D", "E"} {
		req.Header.Set("X-"+h, "1")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}
