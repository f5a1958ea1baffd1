package config_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// toolCallingModel is an OpenAI chat-completions stub that asks for the first offered tool until
// the conversation holds a tool result, then answers with that result.
func toolCallingModel(t *testing.T) (*httptest.Server, func() []map[string]any) {
	var mu sync.Mutex
	var reqs []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		msgs, _ := req["messages"].([]any)
		last, _ := msgs[len(msgs)-1].(map[string]any)
		usage := map[string]any{"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
		if last["role"] == "tool" {
			c, _ := json.Marshal(last["content"])
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "b", "object": "chat.completion", "model": "up",
				"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": "searched: " + string(c)}}},
				"usage":   usage})
			return
		}
		tools, _ := req["tools"].([]any)
		fn, _ := tools[0].(map[string]any)["function"].(map[string]any)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "a", "object": "chat.completion", "model": "up",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "tool_calls", "message": map[string]any{"role": "assistant",
				"tool_calls": []any{map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": fn["name"], "arguments": `{"query":"cup winner"}`}}}}}},
			"usage": usage})
	}))
	t.Cleanup(srv.Close)
	return srv, func() []map[string]any { mu.Lock(); defer mu.Unlock(); return append([]map[string]any(nil), reqs...) }
}

// TestLLMServerTools: agentgateway's llm-server-tools example — an openAI model with serverTools
// mapping web_search_* to the `search` tool of a top-level MCP backend — served end to end: the
// Anthropic client's web_search_20250305 becomes a function tool for the model, the gateway calls
// the MCP server (a go-sdk server behind the backend's federation) and the client gets the answer.
func TestLLMServerTools(t *testing.T) {
	model, requests := toolCallingModel(t)
	srv := mcp.NewServer(&mcp.Implementation{Name: "searxng", Version: "1"}, nil)
	type args struct {
		Query string `json:"query"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "search", Description: "Search the web"}, func(_ context.Context, _ *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Spain won (" + a.Query + ")"}}}, nil, nil
	})
	mcpSrv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(mcpSrv.Close)
	yaml := `
backends:
- name: search
  mcp:
    targets:
    - name: searxng
      mcp: {host: $MCP/mcp}
llm:
  models:
  - name: qwen3
    provider: openAI
    params: {baseUrl: $MODEL/v1}
    serverTools:
      maxIterations: 3
      keepaliveInterval: 15s
      failureMode: failClosed
      tools:
      - type: web_search_*
        mcp: {backend: search, tool: search}
`
	gw, _ := serveRuntime(t, yaml, map[string]string{"MCP": mcpSrv.URL, "MODEL": model.URL})
	body := `{"model":"qwen3","max_tokens":50,"messages":[{"role":"user","content":"who won?"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}`
	resp, err := http.Post(gw.URL+"/v1/messages", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(out))
	assert.Contains(t, string(out), "Spain won (cup winner)")
	assert.Contains(t, string(out), `"stop_reason":"end_turn"`)
	reqs := requests()
	require.Len(t, reqs, 2)
	fn := reqs[0]["tools"].([]any)[0].(map[string]any)["function"].(map[string]any)
	assert.Equal(t, "web_search", fn["name"])
	assert.Equal(t, "Search the web", fn["description"])

	for _, c := range []struct{ st, path, msg string }{
		{"{tools: [{type: web_search_*, mcp: {backend: nope, tool: search}}]}", "serverTools.tools[0].mcp.backend", "no backend named"},
		{"{tools: [{type: web_search_*, mcp: {backend: search}}]}", "serverTools.tools[0].mcp", "tool"},
		{"{tools: [{type: web_search_*, mcp: {backend: search, target: searxng, tool: search}}]}", "serverTools.tools[0].mcp.target", "not supported"},
		{"{failureMode: sometimes, tools: [{type: x, mcp: {backend: search, tool: search}}]}", "serverTools.failureMode", "failOpen"},
		{"{maxIterations: 0, tools: [{type: x, mcp: {backend: search, tool: search}}]}", "serverTools.maxIterations", "at least 1"},
		{"{tools: []}", "serverTools.tools", "at least one"},
		{"{tools: [{type: x, mcp: {backend: web, tool: search}}]}", "serverTools.tools[0].mcp.backend", "mcp backend"},
	} {
		y := "backends:\n- name: search\n  mcp: {targets: [{name: s, mcp: {host: http://127.0.0.1:1/mcp}}]}\n- name: web\n  host: 127.0.0.1:1\n" +
			"llm:\n  models:\n  - {name: m, provider: openAI, serverTools: " + c.st + "}\n"
		_, err := build(t, y, nil)
		require.Error(t, err, c.st)
		assert.Contains(t, err.Error(), c.path, c.st)
		assert.Contains(t, err.Error(), c.msg, c.st)
	}
}
