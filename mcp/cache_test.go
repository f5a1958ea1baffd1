package mcp_test

import (
	"context"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

// cachingServer is demoServer with fixed cache hints on its results.
func cachingServer(label string, ttl int, scope string) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: label, Version: "1.0.0"}, &sdk.ServerOptions{
		SetCacheable: func(_ context.Context, _ sdk.Request, c *sdk.Cacheable) { c.TTLMs, c.CacheScope = ttl, scope },
	})
	sdk.AddTool(s, &sdk.Tool{Name: "echo"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{}, nil, nil
	})
	return s
}

// A merged list keeps its targets' cache hints: the shortest TTL, private if any target says so, and
// private whenever the gateway filtered the list for the caller.
func TestMergedListsKeepCacheHints(t *testing.T) {
	list := func(f *mcp.Federation) *sdk.ListToolsResult {
		cs := connect(t, gateway(t, f).URL+"/mcp", nil)
		res, err := cs.ListTools(ctxT(t), nil)
		require.NoError(t, err)
		return res
	}
	res := list(mcp.Federate(mcp.ServerTarget("a", cachingServer("a", 60000, "public")), mcp.ServerTarget("b", cachingServer("b", 5000, "public"))))
	require.Equal(t, 5000, res.TTLMs)
	require.Equal(t, "public", res.CacheScope)

	res = list(mcp.Federate(mcp.ServerTarget("a", cachingServer("a", 60000, "public")), mcp.ServerTarget("b", cachingServer("b", 90000, "private"))))
	require.Equal(t, 60000, res.TTLMs)
	require.Equal(t, "private", res.CacheScope)

	rules := cel.MustCompileRules(cel.Deny(`mcp.tool.name == "nothing"`))
	res = list(mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("a", cachingServer("a", 60000, "public"))}, Authorization: rules}))
	require.Equal(t, 60000, res.TTLMs)
	require.Equal(t, "private", res.CacheScope, "a list filtered by authorization is per caller")

	res = list(mcp.Federate(mcp.ServerTarget("a", demoServer("a"))))
	require.Equal(t, "public", res.CacheScope, "the go-sdk default scope")
}
