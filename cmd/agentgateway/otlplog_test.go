package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectorlogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// logCollector is an OTLP/gRPC collector: the LogsService records what it is sent; the
// TraceService accepts spans so that tracing beside it exports cleanly.
type logCollector struct {
	collectorlogs.UnimplementedLogsServiceServer
	mu      sync.Mutex
	records []*logspb.LogRecord
	headers []metadata.MD
}

func (c *logCollector) Export(ctx context.Context, req *collectorlogs.ExportLogsServiceRequest) (*collectorlogs.ExportLogsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.headers = append(c.headers, md)
	for _, rl := range req.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			c.records = append(c.records, sl.LogRecords...)
		}
	}
	return &collectorlogs.ExportLogsServiceResponse{}, nil
}

type traceSink struct {
	collectortrace.UnimplementedTraceServiceServer
}

func (traceSink) Export(context.Context, *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func attrs(r *logspb.LogRecord) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range r.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// agentgateway's published telemetry/logging/otel.yaml: `config.logging.otlp: {}` beside
// config.tracing.otlpEndpoint exports the access log's records as OTLP logs to the tracing collector
// (with its headers), carrying the access log's fields (CEL ones included, removed ones left out),
// and the records still queued are flushed when the gateway shuts down.
func TestLoggingOTLPExportsAccessLog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	col := &logCollector{}
	collectorlogs.RegisterLogsServiceServer(srv, col)
	collectortrace.RegisterTraceServiceServer(srv, traceSink{})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	port := freePort(t)
	g := start(t, fmt.Sprintf(`
config:
  tracing:
    otlpEndpoint: http://%s
    headers: {x-tenant: acme}
    randomSampling: true
  logging:
    fields:
      add: {team: 'request.headers["x-team"]'}
      remove: [source]
    otlp: {}
binds:
- port: %d
  listeners:
  - routes:
    - policies:
        directResponse: {status: 201, body: ok}
`, ln.Addr(), port), port)
	req, err := http.NewRequest("GET", g.url("/exported"), nil)
	require.NoError(t, err)
	req.Header.Set("X-Team", "red")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	g.stop() // shutdown flushes the batch

	col.mu.Lock()
	defer col.mu.Unlock()
	require.Len(t, col.records, 1, "one access log record exported")
	r := col.records[0]
	assert.Equal(t, "request", r.Body.GetStringValue())
	assert.Equal(t, logspb.SeverityNumber_SEVERITY_NUMBER_INFO, r.SeverityNumber)
	a := attrs(r)
	assert.Equal(t, "/exported", a["path"].GetStringValue())
	assert.Equal(t, "GET", a["method"].GetStringValue())
	assert.EqualValues(t, 201, a["status"].GetIntValue())
	assert.Equal(t, "red", a["team"].GetStringValue())
	assert.NotContains(t, a, "source")
	assert.Len(t, r.TraceId, 16, "the record carries the request's trace")
	assert.Equal(t, []string{"acme"}, col.headers[0].Get("x-tenant"))
}
