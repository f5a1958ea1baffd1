package main

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestA2ADemoCurls runs the A2A demo's curl lines, as printed, against the quickstart gateway.
func TestA2ADemoCurls(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	gw, lines, cleanup, err := newGateway(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer cleanup()
	srv := httptest.NewServer(gw)
	defer srv.Close()

	var a2aLines []string
	for _, l := range lines {
		if strings.Contains(l, "/agents/echo") {
			a2aLines = append(a2aLines, strings.ReplaceAll(l, "{base}", srv.URL))
		}
	}
	require.Len(t, a2aLines, 2)

	out, err := exec.Command("sh", "-c", a2aLines[0]).Output()
	require.NoError(t, err)
	var card map[string]any
	require.NoError(t, json.Unmarshal(out, &card), "%s", out)
	assert.Equal(t, "echo", card["name"])
	assert.Equal(t, srv.URL+"/agents/echo/", card["url"], "the card leads back through the gateway")

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
