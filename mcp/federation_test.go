package mcp_test

import (
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

func TestFederateHTTPAndInProcess(t *testing.T) {
	up := serveHTTP(t, demoServer("alpha"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	f := mcp.Federate(
		mcp.HTTPTarget("alpha", up.URL),
		mcp.ServerTarget("beta", demoServer("beta")),
	)
	gw := gateway(t, f)
	cs := connect(t, gw.URL+"/mcp", nil)

	names := toolNames(t, cs)
	assert.ElementsMatch(t, []string{"alpha_echo", "alpha_secret", "alpha_progress", "alpha_ask", "beta_echo", "beta_secret", "beta_progress", "beta_ask"}, names)

	for _, target := range []string{"alpha", "beta"} {
		res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: target + "_echo", Arguments: map[string]any{"text": "hi"}})
		require.NoError(t, err)
		assert.Equal(t, target+":hi", text(t, res))
	}
	init := cs.InitializeResult()
	assert.Equal(t, "agentgateway", init.ServerInfo.Name)
	assert.NotNil(t, init.Capabilities.Tools)
	assert.Contains(t, init.Instructions, "use alpha")
	assert.Contains(t, init.Instructions, "use beta")

	var prompts []string
	for p, err := range cs.Prompts(ctxT(t), nil) {
		require.NoError(t, err)
		prompts = append(prompts, p.Name)
	}
	assert.ElementsMatch(t, []string{"alpha_greet", "beta_greet"}, prompts)
	gp, err := cs.GetPrompt(ctxT(t), &sdk.GetPromptParams{Name: "beta_greet"})
	require.NoError(t, err)
	assert.Equal(t, "hello from beta", gp.Messages[0].Content.(*sdk.TextContent).Text)

	var uris []string
	for r, err := range cs.Resources(ctxT(t), nil) {
		require.NoError(t, err)
		uris = append(uris, r.URI)
	}
	assert.ElementsMatch(t, []string{"alpha+demo://alpha/readme", "beta+demo://beta/readme"}, uris)
	rr, err := cs.ReadResource(ctxT(t), &sdk.ReadResourceParams{URI: "alpha+demo://alpha/readme"})
	require.NoError(t, err)
	assert.Equal(t, "readme of alpha", rr.Contents[0].Text)
}
