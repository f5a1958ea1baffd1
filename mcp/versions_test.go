package mcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
)

// versionedTarget serves a go-sdk server that speaks only the given protocol versions, and records
// the MCP-Protocol-Version header of the requests it gets after initialize.
func versionedTarget(t *testing.T, label string, versions ...string) (*httptest.Server, func() []string) {
	srv := sdk.NewServer(&sdk.Implementation{Name: label, Version: "1"}, &sdk.ServerOptions{SupportedProtocolVersions: versions})
	srv.AddTool(&sdk.Tool{Name: "echo", InputSchema: json.RawMessage(`{"type":"object"}`)}, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: label}}}, nil
	})
	var mu sync.Mutex
	var seen []string
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, &sdk.StreamableHTTPOptions{JSONResponse: true})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Mcp-Protocol-Version"); v != "" && r.Method == http.MethodPost {
			mu.Lock()
			seen = append(seen, v)
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func initAt(t *testing.T, url, version string) (rawResp, string) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":{},"clientInfo":{"name":"v","version":"1"}}}`
	r := do(t, http.MethodPost, url, "", body)
	var m struct {
		Result struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if r.status == http.StatusOK {
		require.NoError(t, json.Unmarshal(r.body, &m), "%s", r.body)
	}
	return r, m.Result.ProtocolVersion
}

// TestProtocolVersionsAcrossTargets: the client gets the version it asked for (when the gateway
// speaks it) even when a target is older, each target is spoken to in the version it negotiated, and
// a target that answers a version newer than the client's is refused as a client would refuse it
// (failClosed: initialize fails; failOpen: the session goes on without it). Before, one old target
// pulled every client down to its version.
func TestProtocolVersionsAcrossTargets(t *testing.T) {
	old, oldSeen := versionedTarget(t, "old", "2025-03-26")
	cur, curSeen := versionedTarget(t, "new")

	f := mcp.Federate(mcp.HTTPTarget("old", old.URL), mcp.HTTPTarget("new", cur.URL))
	url := gateway(t, f).URL + "/mcp"
	for _, v := range []string{"2025-11-25", "2025-06-18"} {
		r, got := initAt(t, url, v)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, v, got, "client-facing version")
		sid := r.header.Get("Mcp-Session-Id")
		before := len(curSeen())
		res := rpcOK(t, url, sid, "tools/call", `{"name":"old_echo","arguments":{"text":"x"}}`, "Mcp-Protocol-Version", v)
		assert.Contains(t, string(res), `"old"`)
		res = rpcOK(t, url, sid, "tools/call", `{"name":"new_echo","arguments":{"text":"x"}}`, "Mcp-Protocol-Version", v)
		assert.Contains(t, string(res), `"new"`)
		for _, h := range oldSeen() {
			assert.Equal(t, "2025-03-26", h, "the old target is spoken to in its version")
		}
		after := curSeen()[before:]
		require.NotEmpty(t, after)
		for _, h := range after {
			assert.Equal(t, v, h, "the new target is spoken to in the client's version")
		}
	}

	// A target that only speaks 2025-11-25 answers a 2025-03-26 client with 2025-11-25.
	newest, _ := versionedTarget(t, "newest", "2025-11-25")
	closed := mcp.Federate(mcp.HTTPTarget("old", old.URL), mcp.HTTPTarget("newest", newest.URL))
	r, _ := initAt(t, gateway(t, closed).URL+"/mcp", "2025-03-26")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), "newer than the session")

	open := mcp.New(mcp.Config{Failure: agentgateway.FailOpen, Targets: []mcp.Target{mcp.HTTPTarget("old", old.URL), mcp.HTTPTarget("newest", newest.URL)}})
	ourl := gateway(t, open).URL + "/mcp"
	r, got := initAt(t, ourl, "2025-03-26")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "2025-03-26", got)
	tools := string(rpcOK(t, ourl, r.header.Get("Mcp-Session-Id"), "tools/list", `{}`, "Mcp-Protocol-Version", "2025-03-26"))
	assert.Contains(t, tools, "old_echo")
	assert.False(t, strings.Contains(tools, "newest_"), "the refused target is left out: %s", tools)
}
