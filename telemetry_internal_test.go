package agentgateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// With the default providers the observer allocates nothing.
func TestTelemetryObserverAllocatesNothingByDefault(t *testing.T) {
	tel := newTelemetry(Services{})
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	st := &State{Listener: "l", Route: "r", Backend: "b", Status: 200, Start: time.Now(),
		MCP: MCPState{Method: "tools/call", ToolName: "t", ToolTarget: "x"}, A2A: A2AState{Method: "message/send"},
		LLM:    LLMState{Provider: "openai", InputTokens: 1, OutputTokens: 1, Cost: 1, FirstToken: 1},
		Policy: PolicyState{Retries: 1, RateLimit: RateLimitAllowed, DeniedBy: "authz"}}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { tel.End(tel.Start(ctx, r, st), r, st) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}
