package main

import (
	"context"
	"fmt"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
)

// addMCPDemo adds the MCP demo route and returns the curl lines that exercise it.
//
// Two in-process go-sdk servers ("greeter" and "calc") are federated at /mcp: clients see
// greeter_hello and calc_add. The endpoint is stateful, so the first line initializes a session and
// keeps its Mcp-Session-Id in $SID for the lines after it (run them in one shell).
func addMCPDemo(gw *agentgateway.Gateway) []string {
	greeter := sdk.NewServer(&sdk.Implementation{Name: "greeter", Version: "1.0.0"}, nil)
	type helloIn struct {
		Name string `json:"name" jsonschema:"who to greet"`
	}
	sdk.AddTool(greeter, &sdk.Tool{Name: "hello", Description: "Greets someone"},
		func(ctx context.Context, req *sdk.CallToolRequest, in helloIn) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "Hello, " + in.Name + "!"}}}, nil, nil
		})

	calc := sdk.NewServer(&sdk.Implementation{Name: "calc", Version: "1.0.0"}, nil)
	type addIn struct {
		A float64 `json:"a"`
		B float64 `json:"b"`
	}
	sdk.AddTool(calc, &sdk.Tool{Name: "add", Description: "Adds two numbers"},
		func(ctx context.Context, req *sdk.CallToolRequest, in addIn) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: fmt.Sprint(in.A + in.B)}}}, nil, nil
		})

	// Errors are recorded by the gateway and reported by gw.Err().
	_ = gw.Route("mcp").PathPrefix("/mcp").To(mcp.Federate(
		mcp.ServerTarget("greeter", greeter),
		mcp.ServerTarget("calc", calc),
	))

	const hdr = `-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'`
	return []string{
		`SID=$(curl -s -D - -o /dev/null {base}/mcp ` + hdr + ` -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}' | tr -d '\r' | awk 'tolower($1)=="mcp-session-id:"{print $2}')`,
		`curl -s {base}/mcp ` + hdr + ` -H "Mcp-Session-Id: $SID" -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'`,
		`curl -s {base}/mcp ` + hdr + ` -H "Mcp-Session-Id: $SID" -d '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"calc_add","arguments":{"a":2,"b":3}}}'`,
	}
}
