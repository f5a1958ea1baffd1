package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

// inspector runs the MCP inspector CLI against url with args and decodes its JSON output.
func inspector(t *testing.T, url string, args ...string) map[string]any {
	t.Helper()
	dir := nodeModules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cli := filepath.Join(dir, "node_modules/@modelcontextprotocol/inspector/clients/cli/build/index.js")
	cmd := exec.CommandContext(ctx, "node", append([]string{cli, url, "--transport", "http"}, args...)...)
	cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir()) // it writes ~/.mcp-inspector
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	// The CLI prints the result, then exits non-zero (after an error line) when it is a tool error.
	var v map[string]any
	require.NoError(t, json.NewDecoder(bytes.NewReader(out)).Decode(&v), "inspector %v: %v\n%s\n%s", args, err, out, stderr)
	if v["isError"] != true {
		require.NoError(t, err, "inspector %v:\n%s\n%s", args, out, stderr)
	}
	return v
}

// TestOpenAPITargetInspectorCLI: the MCP inspector CLI lists an OpenAPI target's tools through the
// gateway and calls one (a path parameter), and sees a non-2xx answer as a tool error.
func TestOpenAPITargetInspectorCLI(t *testing.T) {
	_, rest := newPetAPI(t)
	f := mcp.Federate(
		mcp.OpenAPITarget("pets", []byte(petstoreSpec), mcp.OpenAPIBaseURL(rest.URL)),
		mcp.ServerTarget("demo", demoServer("demo")),
	)
	gw := gateway(t, f)
	url := gw.URL + "/mcp"

	list := inspector(t, url, "--method", "tools/list")
	var names []string
	for _, tool := range list["tools"].([]any) {
		names = append(names, tool.(map[string]any)["name"].(string))
	}
	assert.Subset(t, names, []string{"pets_listPets", "pets_getPet", "pets_createPet", "demo_echo"})

	// The CLI sends "7" as a number; a string parameter takes it as its text.
	res := inspector(t, url, "--method", "tools/call", "--tool-name", "pets_getPet", "--tool-arg", "petId=7")
	assert.NotEqual(t, true, res["isError"], "%v", res)
	assert.Equal(t, "rex", res["structuredContent"].(map[string]any)["name"])

	res = inspector(t, url, "--method", "tools/call", "--tool-name", "pets_getPet", "--tool-arg", "petId=nope")
	assert.Equal(t, true, res["isError"], "%v", res)
	assert.Contains(t, res["content"].([]any)[0].(map[string]any)["text"], "HTTP 404")
}
