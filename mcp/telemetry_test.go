package mcp_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/internal/oteltest"
	"github.com/agentgw/agentgateway/mcp"
)

// The test binary doubles as a stdio MCP server with the trace tool.
func init() {
	if os.Getenv("AGW_TEST_TRACE_STDIO") == "1" {
		_ = traceServer().Run(context.Background(), &sdk.StdioTransport{})
		os.Exit(0)
	}
}

// traceServer has one tool, "trace", that answers with the trace context it received: the
// traceparent of params._meta, and of the HTTP request when there was one.
func traceServer() *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "trace", Version: "1.0.0"}, nil)
	sdk.AddTool(s, &sdk.Tool{Name: "trace"}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
		meta, _ := req.Params.Meta["traceparent"].(string)
		header := ""
		if req.Extra != nil && req.Extra.Header != nil {
			header = req.Extra.Header.Get("Traceparent")
		}
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "meta=" + meta + " header=" + header}}}, nil, nil
	})
	return s
}

// A federated tools/list fans out with one client span per target under the request's server span;
// a tools/call has its client span, whose context the target gets in params._meta (over HTTP, in
// traceparent too) on HTTP, in-process and stdio targets; the MCP metrics carry method, tool and target.
func TestTelemetryFederatedToolCall(t *testing.T) {
	env := oteltest.New(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	stdio := mcp.StdioTarget("proc", exe)
	stdio.Env = map[string]string{"AGW_TEST_TRACE_STDIO": "1"}
	f := mcp.Federate(
		mcp.HTTPTarget("web", serveHTTP(t, traceServer(), nil).URL),
		mcp.ServerTarget("local", traceServer()),
		stdio,
	)
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithTracerProvider(env.TP), agentgateway.WithMeterProvider(env.MP))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").To(f))
	front := httptest.NewServer(gw)
	defer front.Close()
	defer f.Close()

	ctx := context.Background()
	client := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: front.URL + "/mcp"}, nil)
	require.NoError(t, err)
	defer cs.Close()

	p, ok := env.Find(t, "agentgateway.mcp.sessions", nil)
	require.True(t, ok)
	require.EqualValues(t, 1, p.Value)

	env.Spans.Reset()
	tools, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	require.Len(t, tools.Tools, 3)
	list := env.Ended("tools/list")
	var server trace.SpanContext
	for _, s := range list {
		if s.SpanKind() == trace.SpanKindServer {
			server = s.SpanContext()
		}
	}
	require.True(t, server.IsValid(), env.Dump())
	targets := map[string]bool{}
	for _, s := range list {
		if s.SpanKind() == trace.SpanKindClient {
			require.Equal(t, server.SpanID(), s.Parent().SpanID(), env.Dump())
			targets[oteltest.SpanAttrs(s)["mcp.target"]] = true
		}
	}
	require.Equal(t, map[string]bool{"web": true, "local": true, "proc": true}, targets, env.Dump())

	for _, target := range []string{"web", "local", "proc"} {
		env.Spans.Reset()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: target + "_trace"})
		require.NoError(t, err)
		got := res.Content[0].(*sdk.TextContent).Text
		var cl, srv trace.SpanContext
		// The server span ends when the gateway's handler returns, which may be just after the client
		// has read the answer.
		require.Eventually(t, func() bool {
			cl, srv = trace.SpanContext{}, trace.SpanContext{}
			for _, s := range env.Ended("tools/call trace") {
				if s.SpanKind() == trace.SpanKindClient {
					cl = s.SpanContext()
				} else {
					srv = s.SpanContext()
				}
			}
			return cl.IsValid() && srv.IsValid()
		}, 10*time.Second, 5*time.Millisecond, "%s", env.Dump())
		for _, s := range env.Ended("tools/call trace") {
			if s.SpanKind() == trace.SpanKindClient {
				require.Equal(t, target, oteltest.SpanAttrs(s)["mcp.target"])
				require.Equal(t, "trace", oteltest.SpanAttrs(s)["gen_ai.tool.name"])
			}
		}
		require.Equal(t, srv.TraceID(), cl.TraceID())
		want := fmt.Sprintf("00-%s-%s-01", cl.TraceID(), cl.SpanID())
		require.Contains(t, got, "meta="+want, target)
		if target == "web" {
			require.Contains(t, got, "header="+want)
		}

		p, ok := env.Find(t, "mcp.client.operation.duration", map[string]string{
			"mcp.method.name": "tools/call", "gen_ai.tool.name": "trace", "mcp.target": target})
		require.True(t, ok, "%v", env.Points(t, "mcp.client.operation.duration"))
		require.EqualValues(t, 1, p.Count)
		p, ok = env.Find(t, "mcp.server.operation.duration", map[string]string{
			"mcp.method.name": "tools/call", "gen_ai.tool.name": "trace", "mcp.target": target})
		require.True(t, ok, "%v", env.Points(t, "mcp.server.operation.duration"))
		require.EqualValues(t, 1, p.Count)
	}
	for _, target := range []string{"web", "local", "proc"} {
		_, ok := env.Find(t, "mcp.client.operation.duration", map[string]string{"mcp.method.name": "tools/list", "mcp.target": target})
		require.True(t, ok, target)
	}
}

// A call denied by the federation's authorization is counted as a denial.
func TestTelemetryMCPDenialCounted(t *testing.T) {
	env := oteltest.New(t)
	rules, err := cel.CompileRules(cel.Rule{Deny: `mcp.tool.name == "trace"`})
	require.NoError(t, err)
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", traceServer())},
		Authorization: rules})
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithMeterProvider(env.MP))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").To(f))
	front := httptest.NewServer(gw)
	defer front.Close()
	defer f.Close()
	ctx := context.Background()
	var cs *sdk.ClientSession
	cs, err = sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: front.URL + "/mcp"}, nil)
	require.NoError(t, err)
	defer cs.Close()
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "trace"})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "unknown tool"), err)
	p, ok := env.Find(t, "agentgateway.authz.denials", map[string]string{"agentgateway.policy": "mcpAuthz", "http.route": "mcp"})
	require.True(t, ok, "%v", env.Points(t, "agentgateway.authz.denials"))
	require.EqualValues(t, 1, p.Value)
}
