package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

// countingServer is a go-sdk server whose tools count their runs.
func countingServer(runs map[string]*atomic.Int32, names ...string) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "counting", Version: "1"}, nil)
	for _, name := range names {
		runs[name] = &atomic.Int32{}
		sdk.AddTool(s, &sdk.Tool{Name: name}, func(ctx context.Context, req *sdk.CallToolRequest, in map[string]any) (*sdk.CallToolResult, any, error) {
			runs[name].Add(1)
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "ran " + name}}}, nil, nil
		})
	}
	return s
}

// TestDuplicateKeysCannotBypassAuthorization sends tools/call messages whose params name two tools:
// the gateway authorized the first, go-sdk (like Python and JavaScript) runs the last. Such messages
// are now refused as invalid requests before anything is forwarded.
func TestDuplicateKeysCannotBypassAuthorization(t *testing.T) {
	runs := map[string]*atomic.Int32{}
	up := serveHTTP(t, countingServer(runs, "test_simple_text", "test_image_content"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	rules := cel.MustCompileRules(cel.Allow(`mcp.tool.name == "test_simple_text"`))
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("everything", up.URL)}, Authorization: rules})
	url := gateway(t, f).URL + "/mcp"
	sid := initSession(t, url)

	for name, body := range map[string]string{
		"duplicate":          `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_simple_text","name":"test_image_content","arguments":{}}}`,
		"escaped key":        `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_simple_text","n\u0061me":"test_image_content","arguments":{}}}`,
		"fully escaped key":  `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_simple_text","\u006e\u0061\u006d\u0065":"test_image_content"}}`,
		"duplicate params":   `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_simple_text"},"params":{"name":"test_image_content"}}`,
		"duplicate method":   `{"jsonrpc":"2.0","id":5,"method":"ping","method":"tools/call","params":{"name":"test_image_content"}}`,
		"duplicate argument": `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_simple_text","arguments":{"path":"/tmp","path":"/etc"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := do(t, http.MethodPost, url, sid, body)
			assert.Zero(t, runs["test_image_content"].Load(), "the denied tool ran")
			assert.Zero(t, runs["test_simple_text"].Load(), "a rejected message was forwarded")
			assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			code, _ := r.rpcError(t)
			assert.Equal(t, -32600, code)
		})
	}

	// The rule itself works: the allowed tool runs, the other is unknown to this caller.
	r := do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}}`)
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), "ran test_simple_text")
	r = do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"test_image_content","arguments":{}}}`)
	code, _ := r.rpcError(t)
	assert.Equal(t, -32602, code)
	assert.Zero(t, runs["test_image_content"].Load())
}

// TestDuplicateNameCannotEscapePrefix: with two prefixed targets the gateway rewrote only the first
// name ("x_fast" → "fast") and the target ran the second, a bare name no route allows.
func TestDuplicateNameCannotEscapePrefix(t *testing.T) {
	runs := map[string]*atomic.Int32{}
	x := serveHTTP(t, countingServer(runs, "fast", "hang"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("x", x.URL), mcp.ServerTarget("y", demoServer("y"))}})
	url := gateway(t, f).URL + "/mcp"
	sid := initSession(t, url)

	r := do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"x_fast","name":"hang"}}`)
	assert.Zero(t, runs["hang"].Load(), "the unprefixed tool ran")
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	code, _ := r.rpcError(t)
	assert.Equal(t, -32600, code)

	r = do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x_fast"}}`)
	assert.Contains(t, string(r.body), "ran fast")
}

// structTarget stands for an MCP server that decodes requests into Go structs with encoding/json
// (mark3labs/mcp-go does): field names match case-insensitively, and the last match wins.
func structTarget(runs map[string]*atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || json.Unmarshal(b, &msg) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if msg.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		result := `{}`
		switch msg.Method {
		case "initialize":
			result = `{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"structs","version":"1"}}`
		case "tools/list":
			result = `{"tools":[{"name":"allowed","inputSchema":{"type":"object"}},{"name":"denied","inputSchema":{"type":"object"}}]}`
		case "tools/call":
			if c := runs[msg.Params.Name]; c != nil {
				c.Add(1)
			}
			result = fmt.Sprintf(`{"content":[{"type":"text","text":"ran %s"}]}`, msg.Params.Name)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, msg.ID, result)
	})
}

// TestCaseVariantKeysCannotBypassAuthorization: a target decoding with encoding/json reads "NAME"
// and "ID" as name and id. The gateway refuses two keys that differ only in case, and reads a lone
// variant as the member it stands for, so what it authorizes is what such a target runs.
func TestCaseVariantKeysCannotBypassAuthorization(t *testing.T) {
	runs := map[string]*atomic.Int32{"allowed": {}, "denied": {}}
	up := newHTTPServer(t, structTarget(runs))
	rules := cel.MustCompileRules(cel.Allow(`mcp.tool.name == "allowed"`))
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("structs", up.URL)}, Authorization: rules})
	url := gateway(t, f).URL + "/mcp"
	sid := initSession(t, url)

	// Two names: refused.
	r := do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"allowed","NAME":"denied"}}`)
	assert.Zero(t, runs["denied"].Load(), "the denied tool ran")
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	code, _ := r.rpcError(t)
	assert.Equal(t, -32600, code)

	// "ID" makes a request for the target, not a notification the gateway would forward unchecked.
	r = do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","ID":6,"method":"tools/call","params":{"name":"denied"}}`)
	assert.Zero(t, runs["denied"].Load(), "the denied tool ran")
	code, _ = r.rpcError(t)
	assert.Equal(t, -32602, code, "%s", r.body)

	// A lone "NAME" is the name: authorized as such.
	r = do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"NAME":"denied"}}`)
	code, _ = r.rpcError(t)
	assert.Equal(t, -32602, code, "%s", r.body)
	assert.Zero(t, runs["denied"].Load(), "the denied tool ran")

	r = do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"allowed"}}`)
	assert.Contains(t, string(r.body), "ran allowed")
	assert.Equal(t, int32(1), runs["allowed"].Load())
}

// dupTarget is a target that answers tools/call with messages holding duplicate keys: a response with
// two results ("dupresp"), a server→client request with two ids before its answer ("duprequest"), a
// streamed response with two ids ("dupid").
func dupTarget() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&msg) != nil {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if msg.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		sse := func(events ...string) {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, e := range events {
				fmt.Fprintf(w, "data: %s\n\n", e)
			}
		}
		done := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"done"}]}}`, msg.ID)
		switch {
		case msg.Method == "initialize":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"dup","version":"1"}}}`, msg.ID)
		case msg.Method == "tools/list":
			// Calls are checked against the list: the target lists what it serves.
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"fine","inputSchema":{"type":"object"}},{"name":"dupresp","inputSchema":{"type":"object"}},{"name":"duprequest","inputSchema":{"type":"object"}},{"name":"dupid","inputSchema":{"type":"object"}}]}}`, msg.ID)
		case msg.Params.Name == "dupresp":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"first"}]},"result":{"content":[{"type":"text","text":"second"}]}}`, msg.ID)
		case msg.Params.Name == "duprequest":
			sse(`{"jsonrpc":"2.0","id":"s1","id":"s2","method":"roots/list"}`, done)
		case msg.Params.Name == "dupid":
			sse(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"content":[]},"ID":"other"}`, msg.ID))
		default:
			sse(done)
		}
	})
}

// TestUpstreamDuplicateKeysAreNotForwarded: a message from a target with duplicate keys is broken:
// a response is an error for the client, a server→client request is dropped (its id could not be
// remapped unambiguously), a streamed answer with two ids is not taken for the answer.
func TestUpstreamDuplicateKeysAreNotForwarded(t *testing.T) {
	up := newHTTPServer(t, dupTarget())
	url := gateway(t, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("dup", up.URL)}})).URL + "/mcp"
	sid := initSession(t, url)
	call := func(name string) rawResp {
		return do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"`+name+`"}}`)
	}

	r := call("fine")
	assert.Contains(t, string(r.body), `"text":"done"`, "a plain stream gets through")

	t.Run("response with two results", func(t *testing.T) {
		r := call("dupresp")
		assert.NotContains(t, string(r.body), "first")
		assert.NotContains(t, string(r.body), "second")
		code, msg := r.rpcError(t)
		assert.Equal(t, -32603, code)
		assert.Contains(t, msg, "duplicate object key")
	})
	t.Run("request with two ids", func(t *testing.T) {
		r := call("duprequest")
		assert.NotContains(t, string(r.body), "roots/list", "the ambiguous request reached the client")
		assert.Contains(t, string(r.body), `"text":"done"`)
	})
	t.Run("streamed response with two ids", func(t *testing.T) {
		r := call("dupid")
		assert.NotContains(t, string(r.body), "other")
		code, _ := r.rpcError(t)
		assert.Equal(t, -32603, code)
	})
}
