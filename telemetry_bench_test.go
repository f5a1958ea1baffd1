package agentgateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/oteltest"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark measures the gateway.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkTelemetry serves a request in process (no network) through a gateway with telemetry off,
// with the default providers (the otel globals, never set: what a user who configures nothing gets),
// and with an SDK meter provider (manual reader) and tracer provider (span recorder). The difference
// between off and default is what the instrumentation costs a gateway with no telemetry configured.
//
//	go test -run '^$' -bench Telemetry -benchmem -count 5
func BenchmarkTelemetry(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	run := func(b *testing.B, opts ...agentgateway.Option) {
		gw := agentgateway.New(append([]agentgateway.Option{agentgateway.WithAccessLog(false)}, opts...)...)
		if err := gw.Route("bench").PathPrefix("/").To(ok); err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		w := &discardWriter{h: http.Header{}}
		gw.ServeHTTP(w, req)
		b.ReportAllocs()
		cpu, cpuOK := processCPU()
		for b.Loop() {
			gw.ServeHTTP(w, req)
		}
		b.StopTimer()
		reportCPU(b, cpu, cpuOK)
	}
	b.Run("off", func(b *testing.B) { run(b, agentgateway.WithTelemetry(false)) })
	b.Run("default", func(b *testing.B) { run(b) })
	b.Run("sdk-metrics", func(b *testing.B) {
		env := oteltest.New(b)
		run(b, agentgateway.WithMeterProvider(env.MP))
	})
	b.Run("sdk-metrics-traces", func(b *testing.B) {
		env := oteltest.New(b)
		tp := sdktrace.NewTracerProvider() // samples every span, exports nowhere
		defer tp.Shutdown(context.Background())
		run(b, agentgateway.WithMeterProvider(env.MP), agentgateway.WithTracerProvider(tp))
	})
}

// BenchmarkTelemetryObserver measures the telemetry observer alone (Start and End of one request)
// with the default providers (the otel globals, never set), and with SDK providers (a manual
// reader; a tracer that samples every span and exports nowhere). cpu-ns/op is the figure to read on
// a shared machine.
func BenchmarkTelemetryObserver(b *testing.B) {
	run := func(b *testing.B, svc agentgateway.Services) {
		o := agentgateway.NewTelemetryObserver(svc)
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		st := &agentgateway.State{Listener: "l", Route: "r", Backend: "b", Status: 200, Start: time.Now()}
		ctx := context.Background()
		b.ReportAllocs()
		cpu, ok := processCPU()
		for b.Loop() {
			o.End(o.Start(ctx, r, st), r, st)
		}
		b.StopTimer()
		reportCPU(b, cpu, ok)
	}
	b.Run("default", func(b *testing.B) { run(b, agentgateway.Services{}) })
	b.Run("sdk-metrics", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer mp.Shutdown(context.Background())
		run(b, agentgateway.Services{MeterProvider: mp})
	})
	b.Run("sdk-metrics-traces", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer mp.Shutdown(context.Background())
		tp := sdktrace.NewTracerProvider()
		defer tp.Shutdown(context.Background())
		run(b, agentgateway.Services{MeterProvider: mp, TracerProvider: tp})
	})
}
