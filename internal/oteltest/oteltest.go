// Package oteltest gives tests an in-memory OpenTelemetry SDK: a manual metric reader and a span
// recorder, with helpers that flatten what they hold into plain values to assert on.
package oteltest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Env is an SDK meter provider read by hand and a tracer provider that records every span.
type Env struct {
	Reader *sdkmetric.ManualReader
	MP     *sdkmetric.MeterProvider
	Spans  *tracetest.SpanRecorder
	TP     *sdktrace.TracerProvider
}

// New returns an Env whose providers shut down when the test ends.
func New(t testing.TB) *Env {
	e := &Env{Reader: sdkmetric.NewManualReader(), Spans: tracetest.NewSpanRecorder()}
	e.MP = sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.Reader))
	e.TP = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.Spans))
	t.Cleanup(func() {
		_ = e.MP.Shutdown(context.Background())
		_ = e.TP.Shutdown(context.Background())
	})
	return e
}

// Point is one data point: its attributes as strings, and its count and sum (histograms) or value
// (sums and gauges).
type Point struct {
	Attrs map[string]string
	Count uint64
	Sum   float64
	Value float64
}

// Points collects and returns the data points of the metric named name (nil when it has none).
func (e *Env) Points(t testing.TB, name string) []Point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.Reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	var out []Point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: attrs(p.Attributes), Count: p.Count, Sum: p.Sum})
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: attrs(p.Attributes), Count: p.Count, Sum: float64(p.Sum)})
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: attrs(p.Attributes), Value: float64(p.Value)})
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: attrs(p.Attributes), Value: p.Value})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, Point{Attrs: attrs(p.Attributes), Value: float64(p.Value)})
				}
			default:
				t.Fatalf("metric %s: unhandled data %T", name, m.Data)
			}
		}
	}
	return out
}

// Find returns the first point of name whose attributes include want.
func (e *Env) Find(t testing.TB, name string, want map[string]string) (Point, bool) {
	t.Helper()
	for _, p := range e.Points(t, name) {
		if Has(p.Attrs, want) {
			return p, true
		}
	}
	return Point{}, false
}

// Has reports whether attrs includes every pair of want.
func Has(attrs, want map[string]string) bool {
	for k, v := range want {
		if attrs[k] != v {
			return false
		}
	}
	return true
}

func attrs(s attribute.Set) map[string]string {
	m := map[string]string{}
	for _, kv := range s.ToSlice() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// SpanAttrs returns a span's attributes as strings.
func SpanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	return attrs(attribute.NewSet(s.Attributes()...))
}

// Ended returns the ended spans whose name is name ("" for all).
func (e *Env) Ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range e.Spans.Ended() {
		if name == "" || s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// AwaitEnded is Ended once at least n spans of that name have ended: a server span ends when the
// gateway's handler returns, which may be just after the client has read the whole answer.
func (e *Env) AwaitEnded(t testing.TB, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.Ended(name)) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return e.Ended(name)
}

// Dump describes the ended spans, for failure messages.
func (e *Env) Dump() string {
	s := ""
	for _, sp := range e.Spans.Ended() {
		s += fmt.Sprintf("%s kind=%s trace=%s span=%s parent=%s %v\n", sp.Name(), sp.SpanKind(), sp.SpanContext().TraceID(),
			sp.SpanContext().SpanID(), sp.Parent().SpanID(), SpanAttrs(sp))
	}
	return s
}
