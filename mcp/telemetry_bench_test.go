package mcp_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
)

// BenchmarkToolsCallTelemetry is a tools/call through the gateway with telemetry off, with the
// default providers (otel globals never set), and with SDK providers (a manual metric reader; a
// tracer that samples every span and exports nowhere): server span, client span, _meta injection
// and both MCP histograms.
func BenchmarkToolsCallTelemetry(b *testing.B) {
	up := serveHTTP(b, demoServer("alpha"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	run := func(b *testing.B, opts ...agentgateway.Option) {
		f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}, Logger: slog.New(slog.DiscardHandler)})
		defer f.Close()
		gw := agentgateway.New(append([]agentgateway.Option{agentgateway.WithAccessLog(false)}, opts...)...)
		if err := gw.Route("mcp").PathPrefix("/mcp").To(f); err != nil {
			b.Fatal(err)
		}
		front := httptest.NewServer(gw)
		defer front.Close()
		cs := connect(b, front.URL+"/mcp", nil)
		defer cs.Close()
		params := &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := cs.CallTool(ctx, params); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("off", func(b *testing.B) { run(b, agentgateway.WithTelemetry(false)) })
	b.Run("default", func(b *testing.B) { run(b) })
	b.Run("sdk", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer mp.Shutdown(context.Background())
		tp := sdktrace.NewTracerProvider()
		defer tp.Shutdown(context.Background())
		run(b, agentgateway.WithMeterProvider(mp), agentgateway.WithTracerProvider(tp))
	})
}
