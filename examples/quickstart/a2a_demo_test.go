package main

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestA2ADemoCurls runs the A2A demo's curl lines, as printed, against the quickstart gateway.
func TestA2ADemoCurls(t *testing.T) {
	base, a2aLines := demoCurls(t, "/agents/echo")
	require.Len(t, a2aLines, 2)

	out, err := exec.Command("sh", "-c", a2aLines[0]).Output()
	require.NoError(t, err)
	var card map[string]any
	require.NoError(t, json.Unmarshal(out, &card), "%s", out)
	assert.Equal(t, "echo", card["name"])
	assert.Equal(t, base+"/agents/echo/", card["url"], "the card leads back through the gateway")

	out, err = exec.Command("sh", "-c", a2aLines[1]).Output()
	require.NoError(t, err)
	var resp struct {
		Result struct {
			Kind   string `json:"kind"`
			Status struct {
				State string `json:"state"`
			} `json:"status"`
			Artifacts []struct {
				Parts []struct {
					Text string `json:"text"`
				} `json:"parts"`
			} `json:"artifacts"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal(out, &resp), "%s", out)
	assert.Equal(t, "task", resp.Result.Kind)
	assert.Equal(t, "completed", resp.Result.Status.State)
	require.Len(t, resp.Result.Artifacts, 1)
	assert.Equal(t, "echo: hello", resp.Result.Artifacts[0].Parts[0].Text)
}
