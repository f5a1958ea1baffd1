package agentgateway_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/oteltest"
)

const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
	clientParent  = "00-" + clientTraceID + "-" + clientSpanID + "-01"
)

func telemetryGateway(t *testing.T, env *oteltest.Env) *agentgateway.Gateway {
	t.Helper()
	return agentgateway.New(quiet(), agentgateway.WithTracerProvider(env.TP), agentgateway.WithMeterProvider(env.MP))
}

// An HTTP call gives a server span continuing the client's trace, a client span under it whose
// context the upstream receives in traceparent, and one http.server.request.duration point.
func TestTelemetryHTTPCall(t *testing.T) {
	env := oteltest.New(t)
	var mu sync.Mutex
	var seen string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Get("Traceparent")
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	defer up.Close()
	backend, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Name: "echo", Endpoints: []string{up.URL}})
	require.NoError(t, err)
	defer backend.Close()
	gw := telemetryGateway(t, env)
	require.NoError(t, gw.Route("api").PathPrefix("/").To(backend))
	front := httptest.NewServer(gw)
	defer front.Close()

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/hello", nil)
	req.Header.Set("Traceparent", clientParent)
	resp, err := front.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	servers := env.AwaitEnded(t, "GET api", 1)
	require.Len(t, servers, 1, env.Dump())
	srv := servers[0]
	require.Equal(t, trace.SpanKindServer, srv.SpanKind())
	require.Equal(t, clientTraceID, srv.SpanContext().TraceID().String())
	require.Equal(t, clientSpanID, srv.Parent().SpanID().String())
	require.True(t, oteltest.Has(oteltest.SpanAttrs(srv), map[string]string{
		"http.request.method": "GET", "http.route": "api", "http.response.status_code": "200",
		"agentgateway.backend": "echo", "url.path": "/hello",
	}), env.Dump())

	clients := env.Ended("GET")
	require.Len(t, clients, 1, env.Dump())
	cl := clients[0]
	require.Equal(t, trace.SpanKindClient, cl.SpanKind())
	require.Equal(t, srv.SpanContext().SpanID(), cl.Parent().SpanID())
	require.Equal(t, up.URL, oteltest.SpanAttrs(cl)["server.address"])
	mu.Lock()
	require.Equal(t, "00-"+clientTraceID+"-"+cl.SpanContext().SpanID().String()+"-01", seen)
	mu.Unlock()

	p, ok := env.Find(t, "http.server.request.duration", map[string]string{
		"http.request.method": "GET", "http.route": "api", "http.response.status_code": "200", "agentgateway.backend": "echo",
	})
	require.True(t, ok, "%v", env.Points(t, "http.server.request.duration"))
	require.EqualValues(t, 1, p.Count)
}

// With no provider given and the otel globals untouched, no span is started, and the client's own
// traceparent still reaches the upstream unchanged.
func TestTelemetryOffPassesTraceparent(t *testing.T) {
	var seen string
	var inHandler bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Get("Traceparent") }))
	defer up.Close()
	gw := agentgateway.New(quiet())
	require.False(t, gw.Services().Tracing())
	backend := agentgateway.HTTP(up.URL)
	defer backend.Close()
	require.NoError(t, gw.Route("api").Path("/x").To(backend))
	require.NoError(t, gw.Route("probe").Path("/probe").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inHandler = trace.SpanContextFromContext(r.Context()).IsValid()
	})))
	for _, path := range []string{"/x", "/probe"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Traceparent", clientParent)
		gw.ServeHTTP(httptest.NewRecorder(), req)
	}
	require.Equal(t, clientParent, seen)
	require.False(t, inHandler)
}

// Connect errors and the ejection they cause are counted per backend and endpoint.
func TestTelemetryConnectErrorsAndEjections(t *testing.T) {
	env := oteltest.New(t)
	ln := httptest.NewServer(http.NotFoundHandler())
	dead := ln.Listener.Addr().String()
	ln.Close()
	backend, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Name: "dead", Endpoints: []string{dead}, EjectAfter: 2})
	require.NoError(t, err)
	defer backend.Close()
	gw := telemetryGateway(t, env)
	require.NoError(t, gw.Route("api").PathPrefix("/").To(backend))
	for range 2 {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		require.Equal(t, http.StatusBadGateway, rec.Code)
	}
	want := map[string]string{"agentgateway.backend": "dead", "server.address": "http://" + dead}
	p, ok := env.Find(t, "agentgateway.upstream.connect_errors", want)
	require.True(t, ok, "%v", env.Points(t, "agentgateway.upstream.connect_errors"))
	require.EqualValues(t, 2, p.Value)
	p, ok = env.Find(t, "agentgateway.upstream.ejections", want)
	require.True(t, ok, "%v", env.Points(t, "agentgateway.upstream.ejections"))
	require.EqualValues(t, 1, p.Value)
	// The failed client spans say so, and name the endpoint.
	spans := env.Ended("GET")
	require.Len(t, spans, 2, env.Dump())
	for _, s := range spans {
		require.Equal(t, "Error", s.Status().Code.String())
		require.Equal(t, "http://"+dead, oteltest.SpanAttrs(s)["server.address"])
		require.Len(t, s.Events(), 1)
		require.Equal(t, "connect error", s.Events()[0].Name)
	}
	p, ok = env.Find(t, "http.server.request.duration", map[string]string{"http.response.status_code": "502", "error.type": "502"})
	require.True(t, ok)
	require.EqualValues(t, 2, p.Count)
}

// llmBackend stands in for the llm package: it answers and fills State.LLM as a provider call would.
type llmBackend struct{}

func (llmBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := agentgateway.StateFrom(r.Context())
	st.LLM = agentgateway.LLMState{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06",
		Streaming: true, InputTokens: 120, OutputTokens: 30, FirstToken: 40 * time.Millisecond, Cost: 0.0025}
	_, _ = w.Write([]byte(`{}`))
}

func (llmBackend) BackendName() string { return "openai" }

// An LLM call records token usage by type, the operation duration, time to first token and cost
// with the GenAI attributes, and names its server span after the operation and model.
func TestTelemetryLLMCall(t *testing.T) {
	env := oteltest.New(t)
	gw := telemetryGateway(t, env)
	require.NoError(t, gw.Route("llm").PathPrefix("/v1/").To(llmBackend{}))
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{}`)))

	model := map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
		"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range model {
			m[k] = v
		}
		return m
	}
	in, ok := env.Find(t, "gen_ai.client.token.usage", with("gen_ai.token.type", "input"))
	require.True(t, ok, "%v", env.Points(t, "gen_ai.client.token.usage"))
	require.EqualValues(t, 120, in.Sum)
	out, ok := env.Find(t, "gen_ai.client.token.usage", with("gen_ai.token.type", "output"))
	require.True(t, ok)
	require.EqualValues(t, 30, out.Sum)
	d, ok := env.Find(t, "gen_ai.client.operation.duration", model)
	require.True(t, ok)
	require.EqualValues(t, 1, d.Count)
	ttft, ok := env.Find(t, "gen_ai.server.time_to_first_token", model)
	require.True(t, ok)
	require.InDelta(t, 0.04, ttft.Sum, 1e-9)
	cost, ok := env.Find(t, "agentgateway.gen_ai.cost", model)
	require.True(t, ok)
	require.InDelta(t, 0.0025, cost.Value, 1e-12)

	spans := env.Ended("chat gpt-4o")
	require.Len(t, spans, 1, env.Dump())
	require.True(t, oteltest.Has(oteltest.SpanAttrs(spans[0]), with("gen_ai.usage.input_tokens", "120")), env.Dump())
}

// What policies record in State.Policy becomes the retry, rate-limit and denial counters.
func TestTelemetryPolicyCounters(t *testing.T) {
	env := oteltest.New(t)
	gw := telemetryGateway(t, env)
	require.NoError(t, gw.Route("r").PathPrefix("/").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := agentgateway.StateFrom(r.Context())
		st.Policy = agentgateway.PolicyState{Retries: 2, RateLimit: agentgateway.RateLimitDenied, DeniedBy: "authz"}
		w.WriteHeader(http.StatusTooManyRequests)
	})))
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	p, ok := env.Find(t, "agentgateway.retries", map[string]string{"http.route": "r"})
	require.True(t, ok)
	require.EqualValues(t, 2, p.Value)
	p, ok = env.Find(t, "agentgateway.ratelimit.decisions", map[string]string{"agentgateway.ratelimit.decision": "denied"})
	require.True(t, ok)
	require.EqualValues(t, 1, p.Value)
	p, ok = env.Find(t, "agentgateway.authz.denials", map[string]string{"agentgateway.policy": "authz"})
	require.True(t, ok)
	require.EqualValues(t, 1, p.Value)
}

// A method a client makes up is recorded as _OTHER, so clients cannot grow the label space.
func TestTelemetryUnknownMethodIsOther(t *testing.T) {
	env := oteltest.New(t)
	gw := telemetryGateway(t, env)
	require.NoError(t, gw.Route("r").PathPrefix("/").To(named("x")))
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/", nil))
	_, ok := env.Find(t, "http.server.request.duration", map[string]string{"http.request.method": "_OTHER"})
	require.True(t, ok, "%v", env.Points(t, "http.server.request.duration"))
}

// With no provider given, the gateway uses the otel globals: set after the gateway was built, they
// receive its spans and metrics.
func TestTelemetryGlobalProviders(t *testing.T) {
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Route("r").PathPrefix("/").To(named("x")))
	env := oteltest.New(t)
	prevTP, prevMP := otel.GetTracerProvider(), otel.GetMeterProvider()
	otel.SetTracerProvider(env.TP)
	otel.SetMeterProvider(env.MP)
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetMeterProvider(prevMP)
	})
	require.True(t, gw.Services().Tracing())
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	require.Len(t, env.Ended("GET r"), 1, env.Dump())
	p, ok := env.Find(t, "http.server.request.duration", map[string]string{"http.route": "r"})
	require.True(t, ok)
	require.EqualValues(t, 1, p.Count)
}
