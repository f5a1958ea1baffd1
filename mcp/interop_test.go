package mcp_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

// everythingJS returns node's arguments to run @modelcontextprotocol/server-everything in mode,
// bound to 127.0.0.1 by the preload.
func everythingJS(t testing.TB, mode string) []string {
	dir := nodeModules(t)
	return []string{"--require", filepath.Join(dir, "force-loopback.cjs"),
		filepath.Join(dir, "node_modules/@modelcontextprotocol/server-everything/dist/index.js"), mode}
}

// startServerEverythingHTTP runs server-everything over streamable HTTP and returns its endpoint.
func startServerEverythingHTTP(t testing.TB) string {
	port := freePort(t)
	cmd := exec.Command("node", everythingJS(t, "streamableHttp")...)
	cmd.Env = append(cmd.Environ(), fmt.Sprintf("PORT=%d", port))
	url := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	startProcess(t, url, cmd)
	return url
}

// TestServerEverythingFederation federates server-everything over streamable HTTP and over stdio
// with an in-process go-sdk server, and drives it with a go-sdk client: the prefixed union, a tool
// call on each target, progress notifications, and sampling and elicitation round trips.
func TestServerEverythingFederation(t *testing.T) {
	httpURL := startServerEverythingHTTP(t)
	args := everythingJS(t, "stdio")
	f := mcp.Federate(
		mcp.HTTPTarget("web", httpURL),
		mcp.StdioTarget("proc", "node", args...),
		mcp.ServerTarget("local", demoServer("local")),
	)
	gw := gateway(t, f)

	var mu sync.Mutex
	progress := map[string][]float64{}
	var samplingPrompts []string
	client := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "1.0.0"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(ctx context.Context, req *sdk.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			tok := fmt.Sprint(req.Params.ProgressToken)
			progress[tok] = append(progress[tok], req.Params.Progress)
		},
		CreateMessageHandler: func(ctx context.Context, req *sdk.CreateMessageRequest) (*sdk.CreateMessageResult, error) {
			mu.Lock()
			samplingPrompts = append(samplingPrompts, req.Params.Messages[0].Content.(*sdk.TextContent).Text)
			mu.Unlock()
			return &sdk.CreateMessageResult{Model: "test-model", Role: "assistant", Content: &sdk.TextContent{Text: "sampled answer"}}, nil
		},
		ElicitationHandler: func(ctx context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			if strings.Contains(req.Params.Message, "name?") {
				return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}, nil
			}
			return &sdk.ElicitResult{Action: "decline"}, nil
		},
	})
	client.AddRoots(&sdk.Root{URI: "file:///work/demo-root", Name: "demo"})
	cs := connectClient(t, gw.URL+"/mcp", client)

	names := toolNames(t, cs)
	for _, want := range []string{"web_get-roots-list", "web_echo", "web_get-sum", "web_trigger-long-running-operation", "web_trigger-sampling-request",
		"proc_echo", "proc_get-sum", "proc_trigger-long-running-operation", "local_echo", "local_ask"} {
		assert.Contains(t, names, want)
	}
	for _, n := range names {
		assert.True(t, strings.HasPrefix(n, "web_") || strings.HasPrefix(n, "proc_") || strings.HasPrefix(n, "local_"), n)
	}

	ctx := ctxT(t)
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "web_echo", Arguments: map[string]any{"message": "over http"}})
	require.NoError(t, err)
	assert.Contains(t, text(t, res), "over http")
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "proc_get-sum", Arguments: map[string]any{"a": 2, "b": 3}})
	require.NoError(t, err)
	assert.Contains(t, text(t, res), "5")
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "local_echo", Arguments: map[string]any{"text": "in process"}})
	require.NoError(t, err)
	assert.Equal(t, "local:in process", text(t, res))

	for _, target := range []string{"web", "proc"} {
		tok := "op-" + target
		res, err = cs.CallTool(ctx, &sdk.CallToolParams{
			Name:      target + "_trigger-long-running-operation",
			Arguments: map[string]any{"duration": 0.3, "steps": 3},
			Meta:      sdk.Meta{"progressToken": tok},
		})
		require.NoError(t, err)
		assert.Contains(t, text(t, res), "Long running operation completed")
		// The client runs notification handlers asynchronously: the last one may land just after the result.
		assert.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(progress[tok]) == 3
		}, 10*time.Second, 5*time.Millisecond, target)
		mu.Lock()
		assert.Equal(t, []float64{1, 2, 3}, progress[tok], target)
		mu.Unlock()

		res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: target + "_trigger-sampling-request", Arguments: map[string]any{"prompt": "hello " + target, "maxTokens": 20}})
		require.NoError(t, err)
		assert.Contains(t, fmt.Sprint(res.Content[0].(*sdk.TextContent).Text), "sampled answer", target)
	}
	mu.Lock()
	require.Len(t, samplingPrompts, 2)
	assert.Contains(t, samplingPrompts[0]+samplingPrompts[1], "hello web")
	assert.Contains(t, samplingPrompts[0]+samplingPrompts[1], "hello proc")
	mu.Unlock()

	// roots/list: the target asks, the gateway relays, the client's answer goes back to it.
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "web_get-roots-list"})
	require.NoError(t, err)
	assert.Contains(t, text(t, res), "file:///work/demo-root")

	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "local_ask"})
	require.NoError(t, err)
	assert.Equal(t, "local got accept Ada", text(t, res))
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "web_trigger-elicitation-request"})
	require.NoError(t, err)
	assert.Contains(t, strings.ToLower(text(t, res)), "decline")
}
