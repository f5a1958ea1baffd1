package mcp_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

func greeter(name string) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: name, Version: "1.0.0"}, nil)
	sdk.AddTool(s, &sdk.Tool{Name: "hello"}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "hello from " + name}}}, nil, nil
	})
	return s
}

// Federate two in-process go-sdk servers behind /mcp and call a tool through the gateway.
func ExampleFederate() {
	f := mcp.Federate(
		mcp.ServerTarget("en", greeter("en")),
		mcp.ServerTarget("fr", greeter("fr")),
	)
	defer f.Close()
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Route("mcp").PathPrefix("/mcp").To(f); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()

	ctx := context.Background()
	client := sdk.NewClient(&sdk.Implementation{Name: "example", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: srv.URL + "/mcp"}, nil)
	if err != nil {
		panic(err)
	}
	defer cs.Close()
	tools, _ := cs.ListTools(ctx, nil)
	for _, t := range tools.Tools {
		fmt.Println(t.Name)
	}
	res, _ := cs.CallTool(ctx, &sdk.CallToolParams{Name: "fr_hello"})
	fmt.Println(res.Content[0].(*sdk.TextContent).Text)
	// Output:
	// en_hello
	// fr_hello
	// hello from fr
}

// Authorization rules hide tools from lists and make calls to them look like calls to unknown tools.
func ExampleConfig_authorization() {
	rules, err := cel.CompileRules(cel.Allow(`mcp.tool.target == "en"`))
	if err != nil {
		panic(err)
	}
	f := mcp.New(mcp.Config{
		Targets:       []mcp.Target{mcp.ServerTarget("en", greeter("en")), mcp.ServerTarget("fr", greeter("fr"))},
		Authorization: rules,
	})
	defer f.Close()
	srv := httptest.NewServer(f)
	defer srv.Close()

	ctx := context.Background()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "example", Version: "1.0.0"}, nil).
		Connect(ctx, &sdk.StreamableClientTransport{Endpoint: srv.URL}, nil)
	if err != nil {
		panic(err)
	}
	defer cs.Close()
	tools, _ := cs.ListTools(ctx, nil)
	fmt.Println(len(tools.Tools), tools.Tools[0].Name)
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "fr_hello"})
	fmt.Println(err != nil)
	// Output:
	// 1 en_hello
	// true
}

// Configuration errors name the field, and match agentgateway.ErrInvalidConfig.
func ExampleFederation_Validate() {
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("my_tools", "http://localhost:3001/mcp")}, Logger: slog.New(slog.DiscardHandler)})
	defer f.Close()
	fmt.Println(f.Validate())
	// Output:
	// targets[0].name: target name "my_tools" must not contain '_', '+' or '/': they separate target and tool names
}
