package a2a_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	agentgateway "github.com/agentgw/agentgateway"
	a2agw "github.com/agentgw/agentgateway/a2a"
	"github.com/agentgw/agentgateway/internal/oteltest"
)

// An A2A stream through the gateway to an a2a-go agent: a server span and an A2A client span named
// after the method, the HTTP backend's span under it whose context the agent receives, the request
// metric by a2a.method, and the open-stream gauge while the stream runs.
func TestTelemetryA2AStream(t *testing.T) {
	env := oteltest.New(t)
	var mu sync.Mutex
	var seen []string
	agentH := goAgentHandler(echoCard("go-echo", "http://10.255.255.1:9/rpc"), "")
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Traceparent"))
		mu.Unlock()
		agentH.ServeHTTP(w, r)
	}))
	defer agent.Close()
	backend := agentgateway.HTTP(agent.URL)
	defer backend.Close()
	gw, _ := gatewayFor(t, "/agents/echo", a2agw.Proxy(backend),
		agentgateway.WithTracerProvider(env.TP), agentgateway.WithMeterProvider(env.MP))

	stream := func(ctx context.Context, text string) (*http.Response, *bufio.Reader) {
		body := `{"jsonrpc":"2.0","id":1,"method":"message/stream","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"text","text":"` + text + `"}]}}}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw+"/agents/echo/rpc", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		return resp, bufio.NewReader(resp.Body)
	}

	// A stream that stays open: the gauge counts it until the client goes away.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, br := stream(ctx, "wait")
	defer resp.Body.Close()
	var first struct {
		Result struct {
			ID string `json:"id"`
		} `json:"result"`
	}
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		if data, ok := strings.CutPrefix(line, "data:"); ok {
			require.NoError(t, json.Unmarshal([]byte(data), &first)) // the task: the stream is open end to end
			break
		}
	}
	p, ok := env.Find(t, "agentgateway.a2a.streams", nil)
	require.True(t, ok)
	require.EqualValues(t, 1, p.Value)
	// The agent's task outlives a client that goes away: cancel it, which ends the stream.
	status, _ := rpc(t, gw+"/agents/echo/rpc", `{"jsonrpc":"2.0","id":2,"method":"tasks/cancel","params":{"id":"`+first.Result.ID+`"}}`)
	require.Equal(t, http.StatusOK, status)
	_, _ = io.Copy(io.Discard, br)
	resp.Body.Close()
	require.Eventually(t, func() bool {
		p, ok := env.Find(t, "agentgateway.a2a.streams", nil)
		return ok && p.Value == 0
	}, 10*time.Second, 10*time.Millisecond)

	env.Spans.Reset()
	resp, br = stream(context.Background(), "hello")
	var events []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(line, "data:") {
			events = append(events, line)
		}
	}
	resp.Body.Close()
	require.Len(t, events, 4)
	require.Contains(t, events[2], "echo: hello")

	spans := env.AwaitEnded(t, "message/stream", 2)
	var srv, cl trace.SpanContext
	var clParent trace.SpanID
	for _, s := range spans {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			srv = s.SpanContext()
			require.Equal(t, "message/stream", oteltest.SpanAttrs(s)["a2a.method"])
		case trace.SpanKindClient:
			cl, clParent = s.SpanContext(), s.Parent().SpanID()
		}
	}
	require.True(t, srv.IsValid() && cl.IsValid(), env.Dump())
	require.Equal(t, srv.SpanID(), clParent, env.Dump())
	https := env.Ended("POST")
	require.Len(t, https, 1, env.Dump())
	require.Equal(t, cl.SpanID(), https[0].Parent().SpanID())
	mu.Lock()
	require.Equal(t, "00-"+srv.TraceID().String()+"-"+https[0].SpanContext().SpanID().String()+"-01", seen[len(seen)-1])
	mu.Unlock()

	p, ok = env.Find(t, "a2a.server.request.duration", map[string]string{"a2a.method": "message/stream", "http.route": "agent"})
	require.True(t, ok, "%v", env.Points(t, "a2a.server.request.duration"))
	require.EqualValues(t, 2, p.Count)
	p, ok = env.Find(t, "a2a.server.request.duration", map[string]string{"a2a.method": "tasks/cancel"})
	require.True(t, ok)
	require.EqualValues(t, 1, p.Count)
}

// A call refused by the proxy's rules is counted as a denial.
func TestTelemetryA2ADenialCounted(t *testing.T) {
	env := oteltest.New(t)
	agent := startGoAgent(t, "go-echo")
	backend := agentgateway.HTTP(agent)
	defer backend.Close()
	gw, _ := gatewayFor(t, "/a", a2agw.Proxy(backend, a2agw.Authorize(`a2a.method == "tasks/get"`)),
		agentgateway.WithMeterProvider(env.MP))
	status, _ := rpc(t, gw+"/a/rpc", `{"jsonrpc":"2.0","id":"q1","method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]}}}`)
	require.Equal(t, http.StatusForbidden, status)
	p, ok := env.Find(t, "agentgateway.authz.denials", map[string]string{"agentgateway.policy": "a2aAuthz"})
	require.True(t, ok, "%v", env.Points(t, "agentgateway.authz.denials"))
	require.EqualValues(t, 1, p.Value)
}

// A call the catalog routes by skill runs in its client span, with the agent's HTTP backend span
// (provisioned by the catalog, the backend being on no route) under it.
func TestTelemetryCatalogCall(t *testing.T) {
	env := oteltest.New(t)
	agent := agentgateway.HTTP(startGoAgent(t, "weather", a2a.AgentSkill{ID: "forecast", Name: "Forecast", Tags: []string{"weather"}}))
	defer agent.Close()
	gw, _ := gatewayFor(t, "/catalog", a2agw.Catalog([]a2agw.Agent{{Name: "weather", Path: "/agents/weather", Upstream: agent}}),
		agentgateway.WithTracerProvider(env.TP), agentgateway.WithMeterProvider(env.MP))
	status, resp := rpc(t, gw+"/catalog/", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"metadata":{"skill":"forecast"},"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"text","text":"x"}]}}}`)
	require.Equal(t, http.StatusOK, status, resp)
	var srv, cl trace.SpanContext
	var clParent trace.SpanID
	for _, s := range env.AwaitEnded(t, "message/send", 2) {
		if s.SpanKind() == trace.SpanKindServer {
			srv = s.SpanContext()
		} else {
			cl, clParent = s.SpanContext(), s.Parent().SpanID()
		}
	}
	require.True(t, srv.IsValid() && cl.IsValid(), env.Dump())
	require.Equal(t, srv.SpanID(), clParent)
	var posts int
	for _, s := range env.Ended("POST") {
		if s.Parent().SpanID() == cl.SpanID() {
			posts++
		}
	}
	require.Equal(t, 1, posts, env.Dump())
}
