package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMCPDemoCurls runs the MCP demo's curl lines, as printed, in one shell against the quickstart
// gateway: initialize, tools/list (the prefixed union of both servers) and a tools/call.
func TestMCPDemoCurls(t *testing.T) {
	_, script := demoCurls(t, "/mcp")
	for i := range script {
		script[i] += ` && echo`
	}
	require.Len(t, script, 3)
	out, err := exec.Command("sh", "-ec", strings.Join(script, "\n")).Output()
	require.NoError(t, err, "%s", out)
	outLines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	require.Len(t, outLines, 2, "%s", out)

	var list struct {
		Result struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal(outLines[0], &list), "%s", outLines[0])
	var names []string
	for _, tool := range list.Result.Tools {
		names = append(names, tool.Name)
	}
	assert.ElementsMatch(t, []string{"greeter_hello", "calc_add"}, names)

	var call struct {
		Result struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal(outLines[1], &call), "%s", outLines[1])
	require.NotEmpty(t, call.Result.Content)
	assert.Equal(t, "5", call.Result.Content[0].Text)
}
