package config_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// changingUpstream serves a go-sdk server whose "echo" description the returned func changes.
func changingUpstream(t *testing.T) (string, func(desc string)) {
	s := sdk.NewServer(&sdk.Implementation{Name: "changing", Version: "1"}, nil)
	set := func(desc string) {
		s.AddTool(&sdk.Tool{Name: "echo", Description: desc, InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: desc}}}, nil
		})
	}
	set("v1")
	yes := true
	s.AddTool(&sdk.Tool{Name: "drop", InputSchema: map[string]any{"type": "object"}, Annotations: &sdk.ToolAnnotations{DestructiveHint: &yes}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "dropped"}}}, nil
	})
	ts := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(ts.Close)
	return ts.URL, set
}

// serveConfigIn builds a config whose relative names resolve in dir, with the binary's default pin
// file pins ("" for none), and serves it.
func servePinned(t *testing.T, dir, yaml, pins string) string {
	t.Helper()
	f, err := config.Load([]byte(yaml), nil)
	require.NoError(t, err)
	f.SetMCPPins(pins)
	return serveFile(t, f, dir)
}

func descriptions(t *testing.T, cs *sdk.ClientSession) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	m := map[string]string{}
	for _, tool := range res.Tools {
		m[tool.Name] = tool.Description
	}
	return m
}

// TestMCPPinsYAML: `pins` (relative to the config file) and `pinning` pin the targets' tools in the
// file and hide a tool whose description changes; a target's own `pinning: allow` wins.
func TestMCPPinsYAML(t *testing.T) {
	dir := t.TempDir()
	hidden, setHidden := changingUpstream(t)
	allowed, setAllowed := changingUpstream(t)
	url := servePinned(t, dir, fmt.Sprintf(`
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - mcp:
          pins: pins.json
          pinning: hide
          targets:
          - name: strict
            mcp: {host: %s}
          - name: lax
            pinning: allow
            mcp: {host: %s}
`, hidden+"/", allowed+"/"), "")
	_, cs := mcpToolNames(t, url)
	require.Equal(t, "v1", descriptions(t, cs)["strict_echo"])
	var doc struct {
		Targets map[string]map[string]any `json:"targets"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "pins.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.Contains(t, doc.Targets["strict"], "echo")
	assert.Contains(t, doc.Targets["lax"], "echo")

	setHidden("v2")
	setAllowed("v2")
	d := descriptions(t, cs)
	assert.NotContains(t, d, "strict_echo")
	assert.Contains(t, d, "strict_drop")
	assert.Equal(t, "v2", d["lax_echo"])
}

// TestMCPPinsDefaultFile: without `pins`, the binary's --pins (File.SetMCPPins) is the pin file.
func TestMCPPinsDefaultFile(t *testing.T) {
	up, _ := changingUpstream(t)
	pins := filepath.Join(t.TempDir(), "default-pins.json")
	url := servePinned(t, t.TempDir(), fmt.Sprintf(`
mcp:
  port: 3000
  targets:
  - name: one
    mcp: {host: %s}
`, up+"/"), pins)
	mcpToolNames(t, url)
	b, err := os.ReadFile(pins)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"echo"`)
}

// TestMCPApprovalYAML: `approval` holds the calls its rule selects until the webhook answers.
func TestMCPApprovalYAML(t *testing.T) {
	up, _ := changingUpstream(t)
	asked := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Tool string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		asked <- req.Tool + " " + r.Header.Get("X-Token")
		_, _ = w.Write([]byte(`{"allow": false, "reason": "no"}`))
	}))
	t.Cleanup(hook.Close)
	url := servePinned(t, t.TempDir(), fmt.Sprintf(`
mcp:
  port: 3000
  approval:
    when: mcp.tool.annotations.destructiveHint && mcp.tool.name != "echo"
    webhook: %s
    timeout: 5s
    headers: {X-Token: t0k}
  targets:
  - name: one
    mcp: {host: %s}
`, hook.URL, up+"/"), "")
	_, cs := mcpToolNames(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "drop"})
	require.ErrorContains(t, err, "tools/call not approved: denied: no")
	assert.Equal(t, "drop t0k", <-asked)
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
	require.NoError(t, err)
	assert.False(t, res.IsError)
	assert.Empty(t, asked)
}

// TestMCPPinsYAMLErrors: bad extension values are errors at their field.
func TestMCPPinsYAMLErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"version":9}`), 0o644))
	for name, tc := range map[string]struct{ spec, want string }{
		"mode":        {`pins: p.json` + "\n  pinning: maybe", `mcp.pinning: unknown pin mode "maybe"`},
		"targetMode":  {`pins: p.json` + "\n  targets: [{name: a, pinning: no, mcp: {host: 127.0.0.1:1}}]", `mcp.targets[0].pinning: unknown pin mode "no"`},
		"noFile":      {`pinning: hide`, `mcp.pinning: pin modes need a pin file`},
		"brokenFile":  {`pins: broken.json`, `mcp.pins: mcp: pins`},
		"webhook":     {`approval: {webhook: "file:///x"}`, `approval.webhook`},
		"approvalCEL": {`approval: {webhook: "http://x", when: "1 +"}`, `approval.when`},
	} {
		t.Run(name, func(t *testing.T) {
			yaml := "mcp:\n  port: 3000\n  " + tc.spec + "\n"
			if !strings.Contains(tc.spec, "targets") {
				yaml += "  targets: [{name: a, mcp: {host: 127.0.0.1:1}}]\n"
			}
			f, err := config.Load([]byte(yaml), nil)
			require.NoError(t, err)
			f.SetDir(dir)
			_, err = f.Build(slog.New(slog.DiscardHandler))
			require.Error(t, err)
			assert.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
