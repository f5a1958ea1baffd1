package mcp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
)

// Serve a REST API described by OpenAPI as MCP tools, beside an MCP server, and call an operation.
func ExampleOpenAPITarget() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"city":"`+r.URL.Query().Get("city")+`","celsius":21}`)
	}))
	defer api.Close()
	spec := []byte(`
openapi: 3.0.3
info: {title: Weather, version: "1"}
servers: [{url: "https://weather.example.com"}]
paths:
  /current:
    get:
      operationId: currentWeather
      summary: The weather now
      parameters: [{name: city, in: query, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
`)
	f := mcp.Federate(
		mcp.OpenAPITarget("weather", spec, mcp.OpenAPIBaseURL(api.URL)),
		mcp.ServerTarget("en", greeter("en")),
	)
	defer f.Close()
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	if err := gw.Route("mcp").PathPrefix("/mcp").To(f); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()

	ctx := context.Background()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "example", Version: "1.0.0"}, nil).
		Connect(ctx, &sdk.StreamableClientTransport{Endpoint: srv.URL + "/mcp"}, nil)
	if err != nil {
		panic(err)
	}
	defer cs.Close()
	tools, _ := cs.ListTools(ctx, nil)
	for _, t := range tools.Tools {
		fmt.Println(t.Name)
	}
	res, _ := cs.CallTool(ctx, &sdk.CallToolParams{Name: "weather_currentWeather", Arguments: map[string]any{"city": "Paris"}})
	fmt.Println(res.StructuredContent)
	res, _ = cs.CallTool(ctx, &sdk.CallToolParams{Name: "weather_currentWeather", Arguments: map[string]any{}})
	fmt.Println(res.IsError)
	// Output:
	// weather_currentWeather
	// en_hello
	// map[celsius:21 city:Paris]
	// true
}
