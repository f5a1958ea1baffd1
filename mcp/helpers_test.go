package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcp-test-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			println("goleak:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

var buildOnce = map[string]*sync.Once{"everything": {}}
var builtPath sync.Map

// everythingServer builds the go-sdk conformance everything-server once per test binary.
func everythingServer(t testing.TB) string {
	t.Helper()
	buildOnce["everything"].Do(func() {
		out := filepath.Join(binDir, "everything-server")
		cmd := exec.Command("go", "build", "-o", out, "github.com/modelcontextprotocol/go-sdk/conformance/everything-server")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Logf("building everything-server: %v\n%s", err, b)
			return
		}
		builtPath.Store("everything", out)
	})
	p, ok := builtPath.Load("everything")
	if !ok {
		t.Fatal("everything-server did not build")
	}
	return p.(string)
}

// demoServer is a go-sdk server with a few tools, prompts and resources named after its label.
func demoServer(label string) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: label, Version: "1.0.0"}, &sdk.ServerOptions{Instructions: "use " + label})
	type echoIn struct {
		Text string `json:"text"`
	}
	sdk.AddTool(s, &sdk.Tool{Name: "echo", Description: "echo from " + label}, func(ctx context.Context, req *sdk.CallToolRequest, in echoIn) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: label + ":" + in.Text}}}, nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "secret", Description: "hidden by policies"}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "secret of " + label}}}, nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "progress", Description: "sends progress"}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
		for i := 1; i <= 3; i++ {
			if tok := req.Params.GetProgressToken(); tok != nil {
				_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: 3})
			}
		}
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "done"}}}, nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "ask", Description: "elicits"}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
		res, err := req.Session.Elicit(ctx, &sdk.ElicitParams{Message: "name?", RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
		if err != nil {
			return nil, nil, err
		}
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: label + " got " + res.Action + " " + res.Content["name"].(string)}}}, nil, nil
	})
	s.AddPrompt(&sdk.Prompt{Name: "greet"}, func(ctx context.Context, req *sdk.GetPromptRequest) (*sdk.GetPromptResult, error) {
		return &sdk.GetPromptResult{Messages: []*sdk.PromptMessage{{Role: "user", Content: &sdk.TextContent{Text: "hello from " + label}}}}, nil
	})
	s.AddResource(&sdk.Resource{URI: "demo://" + label + "/readme", Name: "readme", MIMEType: "text/plain"}, func(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
		return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, Text: "readme of " + label}}}, nil
	})
	return s
}

// serveHTTP serves a go-sdk server over streamable HTTP on 127.0.0.1.
func serveHTTP(t testing.TB, s *sdk.Server, opts *sdk.StreamableHTTPOptions) *httptest.Server {
	t.Helper()
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, opts)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// gateway mounts a federation at /mcp of a Gateway served on 127.0.0.1.
func gateway(t testing.TB, f *mcp.Federation) *httptest.Server {
	t.Helper()
	gw := agentgateway.New(agentgateway.WithAccessLog(testing.Verbose()))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").To(f))
	ts := httptest.NewServer(gw)
	t.Cleanup(func() {
		// Closing the federation ends its sessions and so the clients' open GET streams.
		require.NoError(t, f.Close())
		ts.Close()
	})
	return ts
}

// connect opens a go-sdk client session to url.
func connect(t testing.TB, url string, opts *sdk.ClientOptions) *sdk.ClientSession {
	t.Helper()
	return connectClient(t, url, sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "1.0.0"}, opts))
}

// connectClient connects c to url.
func connectClient(t testing.TB, url string, c *sdk.Client) *sdk.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func toolNames(t testing.TB, cs *sdk.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(ctxT(t), nil) {
		require.NoError(t, err)
		names = append(names, tool.Name)
	}
	return names
}

func text(t testing.TB, res *sdk.CallToolResult) string {
	t.Helper()
	require.NotEmpty(t, res.Content)
	tc, ok := res.Content[0].(*sdk.TextContent)
	require.True(t, ok, "content %T", res.Content[0])
	return tc.Text
}

// newServer serves a gateway on 127.0.0.1 and closes f (then the server) when the test ends.
func newServer(t testing.TB, gw http.Handler, f *mcp.Federation) *httptest.Server {
	ts := httptest.NewServer(gw)
	t.Cleanup(func() {
		require.NoError(t, f.Close())
		ts.Close()
	})
	return ts
}

func newHTTPServer(t testing.TB, h http.Handler) *httptest.Server {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// scriptedTarget is a minimal streamable-HTTP MCP target for tests that need to control the wire: it
// accepts notifications, answers initialize (session "s1", the tools capability), and asks answer for
// every other request, which either writes the reply itself (written) or returns the JSON result to
// send.
func scriptedTarget(name string, answer func(w http.ResponseWriter, r *http.Request, id json.RawMessage, method string) (result string, written bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&msg) != nil {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if msg.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		result := `{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"` + name + `","version":"1"}}`
		if msg.Method == "initialize" {
			w.Header().Set("Mcp-Session-Id", "s1")
		} else {
			var written bool
			if result, written = answer(w, r, msg.ID, msg.Method); written {
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, msg.ID, result)
	})
}
