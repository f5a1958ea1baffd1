package config_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// BenchmarkAccessLogConfigured is one access log line with what a file typically asks for: a filter
// and two CEL fields (one reading a header), compared with BenchmarkAccessLogPlain.
func BenchmarkAccessLogConfigured(b *testing.B) {
	f, err := config.Load([]byte(`
config:
  logging:
    filter: 'request.path != "/healthz"'
    fields: {add: {team: 'request.headers["x-team"]', tool: 'mcp.tool.name'}}
`), nil)
	if err != nil {
		b.Fatal(err)
	}
	opts, err := f.AccessLogOptions()
	if err != nil {
		b.Fatal(err)
	}
	benchAccessLog(b, agentgateway.NewAccessLog(slog.New(slog.NewJSONHandler(io.Discard, nil)), opts))
}

// BenchmarkAccessLogPlain is the access log without options.
func BenchmarkAccessLogPlain(b *testing.B) {
	benchAccessLog(b, agentgateway.NewAccessLog(slog.New(slog.NewJSONHandler(io.Discard, nil)), agentgateway.AccessLogOptions{}))
}

func benchAccessLog(b *testing.B, obs agentgateway.Observer) {
	r := httptest.NewRequest("POST", "/mcp", nil)
	r.Header.Set("X-Team", "red")
	r.Header.Set("Authorization", "Bearer t")
	st := &agentgateway.State{Listener: "main", Route: "mcp", Backend: "mcp", Status: 200, Start: time.Now(),
		MCP: agentgateway.MCPState{Method: "tools/call", SessionID: "s1", ToolTarget: "gh", ToolName: "create_issue"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		obs.End(ctx, r, st)
	}
}
