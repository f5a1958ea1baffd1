// Command embed is the README's embedding example, kept here so that it compiles: a gateway in front
// of an HTTP API (CORS, API keys, a CEL rule, a rate limit), an MCP federation of a remote server and an
// in-process go-sdk server, and an A2A agent. It serves until Ctrl-C, then drains.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"time"

	sdkmcp "github.com/modelcontextprotocol/go-sdk/mcp" // aliased: our own package is called mcp too

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/a2a"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
	"github.com/agentgw/agentgateway/policy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// An MCP server living in this process: no network hop to reach it.
	local := sdkmcp.NewServer(&sdkmcp.Implementation{Name: "local", Version: "1.0.0"}, nil)
	sdkmcp.AddTool(local, &sdkmcp.Tool{Name: "hello", Description: "says hello"},
		func(ctx context.Context, req *sdkmcp.CallToolRequest, in struct{ Name string }) (*sdkmcp.CallToolResult, any, error) {
			return &sdkmcp.CallToolResult{Content: []sdkmcp.Content{&sdkmcp.TextContent{Text: "hello " + in.Name}}}, nil, nil
		})

	gw := agentgateway.New()

	// Policies run by phase (CORS, authentication, authorization, rate limit, ...) whatever the order.
	must(gw.Route("api").PathPrefix("/api").
		Policy(policy.NewCORS(policy.CORSConfig{AllowOrigins: []string{"https://app.example.com"}})).
		Policy(policy.NewAuthorization(policy.AuthorizationConfig{Rules: []cel.Rule{cel.Deny(`request.method == "DELETE"`)}})).
		Policy(policy.NewAPIKey(policy.APIKeyConfig{Keys: []policy.APIKey{{Key: os.Getenv("API_KEY"), Metadata: map[string]any{"name": "ci"}}}})).
		Policy(policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{MaxTokens: 100, TokensPerFill: 10, FillInterval: time.Second}}})).
		RewritePrefix("/").
		To(agentgateway.HTTP("http://127.0.0.1:9000"))) // streaming, WebSocket, h2/h2c, pooled, balanced

	// One MCP endpoint in front of several servers; tools appear as github_<tool> and local_<tool>.
	must(gw.Route("mcp").PathPrefix("/mcp").
		To(mcp.Federate(mcp.HTTPTarget("github", "http://127.0.0.1:8081/mcp"), mcp.ServerTarget("local", local))))

	// An A2A agent: its card is rewritten to the gateway's address, its JSON-RPC calls are understood.
	must(gw.Route("agent").PathPrefix("/agents/echo").RewritePrefix("/").
		To(a2a.Proxy(agentgateway.HTTP("http://127.0.0.1:9999"))))

	if err := gw.Serve(ctx, "127.0.0.1:8080"); err != nil { // graceful: drains requests and streams
		log.Fatal(err)
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
