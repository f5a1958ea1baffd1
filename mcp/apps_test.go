package mcp_test

import (
	"context"
	"path/filepath"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

// appServerTarget runs the MCP Apps example server (@modelcontextprotocol/server-basic-vanillajs) over
// stdio: a get-time tool whose UI is the ui://get-time/mcp-app.html resource.
func appServerTarget(t testing.TB, name string) mcp.Target {
	dir := nodeModules(t)
	return mcp.StdioTarget(name, "node", filepath.Join(dir, "node_modules/@modelcontextprotocol/server-basic-vanillajs/dist/index.js"), "--stdio")
}

// TestMCPAppThroughFederation federates the MCP App example server with a go-sdk server (so names
// are prefixed) and reads the app as a host would: the tool's _meta.ui.resourceUri (and the legacy
// flat key) point at the federated ui:// URI, which is listed, keeps the ui:// scheme, and reads the
// app's HTML from the owning target under that URI. With a rule that hides ui:// resources, the
// resource is neither listed nor readable and the tool loses its link but stays callable.
func TestMCPAppThroughFederation(t *testing.T) {
	const want = "ui://apps/get-time/mcp-app.html"
	run := func(t *testing.T, rules *cel.RuleSet) *sdk.ClientSession {
		f := mcp.Federate(appServerTarget(t, "apps"), mcp.ServerTarget("local", demoServer("local")))
		gw := agentgateway.New(agentgateway.WithAccessLog(false))
		rt := gw.Route("mcp").PathPrefix("/mcp")
		if rules != nil {
			rt = rt.Use(mcp.Authorization(rules))
		}
		require.NoError(t, rt.To(f))
		return connect(t, newServer(t, gw, f).URL+"/mcp", nil)
	}
	ctx := context.Background()
	appTool := func(t *testing.T, cs *sdk.ClientSession) *sdk.Tool {
		res, err := cs.ListTools(ctx, nil)
		require.NoError(t, err)
		for _, tool := range res.Tools {
			if tool.Name == "apps_get-time" {
				return tool
			}
		}
		t.Fatalf("apps_get-time not listed: %v", res.Tools)
		return nil
	}

	t.Run("visible", func(t *testing.T) {
		cs := run(t, nil)
		tool := appTool(t, cs)
		ui, ok := tool.Meta["ui"].(map[string]any)
		require.True(t, ok, "%v", tool.Meta)
		assert.Equal(t, want, ui["resourceUri"])
		assert.Equal(t, want, tool.Meta["ui/resourceUri"])

		rl, err := cs.ListResources(ctx, nil)
		require.NoError(t, err)
		var listed *sdk.Resource
		for _, r := range rl.Resources {
			if r.URI == want {
				listed = r
			}
		}
		require.NotNil(t, listed, "%v", rl.Resources)
		assert.Equal(t, "text/html;profile=mcp-app", listed.MIMEType)

		rr, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: want})
		require.NoError(t, err)
		require.Len(t, rr.Contents, 1)
		assert.Equal(t, want, rr.Contents[0].URI)
		assert.Equal(t, "text/html;profile=mcp-app", rr.Contents[0].MIMEType)
		assert.Contains(t, rr.Contents[0].Text, "<html")

		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "apps_get-time"})
		require.NoError(t, err)
		assert.False(t, res.IsError)
	})

	t.Run("hidden", func(t *testing.T) {
		rules, err := cel.CompileRules(cel.Rule{Deny: `mcp.resource.uri.startsWith("ui://")`})
		require.NoError(t, err)
		cs := run(t, rules)
		tool := appTool(t, cs)
		ui, _ := tool.Meta["ui"].(map[string]any)
		assert.NotContains(t, ui, "resourceUri")
		assert.NotContains(t, tool.Meta, "ui/resourceUri")

		rl, err := cs.ListResources(ctx, nil)
		require.NoError(t, err)
		for _, r := range rl.Resources {
			assert.NotEqual(t, want, r.URI)
		}
		_, err = cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: want})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "resource not found")

		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "apps_get-time"})
		require.NoError(t, err)
		assert.False(t, res.IsError)
	})
}
