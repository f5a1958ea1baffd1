package agentgateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// BenchmarkAccessLogEnd is the access log's per-request cost: one JSON line for an MCP tools/call.
func BenchmarkAccessLogEnd(b *testing.B) {
	obs := agentgateway.AccessLog(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	r := httptest.NewRequest("POST", "/mcp", nil)
	st := &agentgateway.State{Listener: "main", Route: "mcp", Backend: "mcp", Status: 200, Start: time.Now(),
		MCP: agentgateway.MCPState{Method: "tools/call", SessionID: "s1", ToolTarget: "gh", ToolName: "create_issue"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		obs.End(ctx, r, st)
	}
}
