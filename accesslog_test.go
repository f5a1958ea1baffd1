package agentgateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	agentgateway "github.com/agentgw/agentgateway"
)

// spanStarter starts a recording span for each request, as a tracing observer does.
type spanStarter struct{ tp *sdktrace.TracerProvider }

func (s spanStarter) Start(ctx context.Context, r *http.Request, _ *agentgateway.State) context.Context {
	ctx, _ = s.tp.Tracer("t").Start(ctx, r.Method)
	return ctx
}
func (spanStarter) End(context.Context, *http.Request, *agentgateway.State) {}

// The access log line carries the GenAI usage and cost under their OpenTelemetry names and the trace
// id of a recording span; Filter drops lines, Fields adds attributes, Remove takes them out, and
// SetOptions swaps all three while serving.
func TestAccessLogOptionsAndFields(t *testing.T) {
	var buf bytes.Buffer
	al := agentgateway.NewAccessLog(slog.New(slog.NewJSONHandler(&buf, nil)), agentgateway.AccessLogOptions{
		Filter: func(_ context.Context, r *http.Request, _ *agentgateway.State) bool { return r.URL.Path != "/skip" },
		Fields: func(_ context.Context, _ *http.Request, st *agentgateway.State, attrs []slog.Attr) []slog.Attr {
			return append(attrs, slog.String("team", "red"))
		},
		Remove: []string{"source"},
	})
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithObserver(spanStarter{tp}, al))
	require.NoError(t, gw.Route("llm").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agentgateway.StateFrom(r.Context()).LLM = agentgateway.LLMState{Operation: "chat", Provider: "openai",
			RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024", InputTokens: 12, OutputTokens: 34, Cost: 0.5}
	})))
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/skip", nil))
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line), "exactly one line: %s", buf.String())
	assert.Equal(t, "/x", line["path"])
	assert.Equal(t, "openai", line["gen_ai.provider.name"])
	assert.Equal(t, "gpt-4o", line["gen_ai.request.model"])
	assert.Equal(t, "gpt-4o-2024", line["gen_ai.response.model"])
	assert.Equal(t, "chat", line["gen_ai.operation.name"])
	assert.EqualValues(t, 12, line["gen_ai.usage.input_tokens"])
	assert.EqualValues(t, 34, line["gen_ai.usage.output_tokens"])
	assert.EqualValues(t, 0.5, line["gen_ai.usage.cost"])
	assert.Len(t, line["trace.id"], 32)
	assert.Equal(t, "red", line["team"])
	assert.NotContains(t, line, "source")

	buf.Reset()
	al.SetOptions(agentgateway.AccessLogOptions{})
	gw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/skip", nil))
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.Equal(t, "/skip", line["path"], "the new options apply at once")
	assert.Contains(t, line, "source")
}
