package mcp_test

import (
	"context"
	"net/http"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

// TestHiddenAndUnknownAnsweredAlike: a call to a tool, prompt or resource the client may not see gets
// exactly the answer a call to one that does not exist gets, whether or not the name's prefix names a
// target, so a client cannot probe which exist. Before, an unknown name under a known prefix was
// forwarded and answered by the target itself.
func TestHiddenAndUnknownAnsweredAlike(t *testing.T) {
	rules, err := cel.CompileRules(cel.Rule{Deny: `mcp.tool.name == "secret" || mcp.prompt.name == "greet" || mcp.resource.name.endsWith("/readme")`})
	require.NoError(t, err)
	a := serveHTTP(t, demoServer("a"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("a", a.URL), mcp.ServerTarget("b", demoServer("b"))}})
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(mcp.Authorization(rules)).To(f))
	url := newServer(t, gw, f).URL + "/mcp"
	sid := initSession(t, url)

	answer := func(method, params string) (int, string) {
		r := do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":5,"method":"`+method+`","params":`+params+`}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		return r.rpcError(t)
	}
	// The error names what the client asked for, so compare with the name swapped.
	same := func(method, hiddenName, unknownName string, params func(string) string) {
		t.Helper()
		hc, hm := answer(method, params(hiddenName))
		uc, um := answer(method, params(unknownName))
		assert.NotZero(t, hc, "%s %s answered", method, hiddenName)
		assert.Equal(t, hc, uc, method)
		assert.Equal(t, hm, swapName(um, unknownName, hiddenName), method)
	}
	name := func(n string) string { return `{"name":"` + n + `"}` }
	uri := func(u string) string { return `{"uri":"` + u + `"}` }
	for _, unknown := range []string{"a_no-such-tool", "zz_no-such-tool", "nounderscore"} {
		same("tools/call", "a_secret", unknown, name)
	}
	same("prompts/get", "a_greet", "a_no-such-prompt", name)
	same("prompts/get", "a_greet", "zz_greet", name)
	same("resources/read", "a+demo://a/readme", "a+demo://a/nope", uri)
	same("resources/read", "a+demo://a/readme", "zz+demo://a/readme", uri)

	// Allowed, listed names still work.
	r := do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"a_echo","arguments":{"text":"x"}}}`)
	assert.Contains(t, string(r.body), "a:x")
}

func swapName(msg, from, to string) string {
	out := []byte(msg)
	for i := 0; i+len(from) <= len(out); i++ {
		if string(out[i:i+len(from)]) == from {
			return string(out[:i]) + to + string(out[i+len(from):])
		}
	}
	return msg
}

// TestKnownListRefreshedOnListChanged: a tool a target adds after the client listed is callable
// once the target announces list_changed, without the client listing again.
func TestKnownListRefreshedOnListChanged(t *testing.T) {
	srv := demoServer("dyn")
	f := mcp.Federate(mcp.ServerTarget("dyn", srv), mcp.ServerTarget("other", demoServer("other")))
	gw := gateway(t, f)
	changed := make(chan struct{}, 10)
	cs := connect(t, gw.URL+"/mcp", &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { changed <- struct{}{} },
	})
	require.NotContains(t, toolNames(t, cs), "dyn_late")
	_, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "dyn_late"})
	require.ErrorContains(t, err, `unknown tool "dyn_late"`)
	srv.AddTool(&sdk.Tool{Name: "late", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "late"}}}, nil
	})
	select {
	case <-changed:
	case <-ctxT(t).Done():
		t.Fatal("no list_changed notification")
	}
	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "dyn_late"})
	require.NoError(t, err)
	assert.Equal(t, "late", res.Content[0].(*sdk.TextContent).Text)
}
