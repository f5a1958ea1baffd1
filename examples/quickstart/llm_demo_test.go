package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLLMDemoCurls runs the LLM demo's curl lines, as printed: an OpenAI-format call and a streamed
// Anthropic-format call to the in-process demo model.
func TestLLMDemoCurls(t *testing.T) {
	_, lines := demoCurls(t, "/llm/")
	require.Len(t, lines, 2)

	out, err := exec.Command("sh", "-c", lines[0]).Output()
	require.NoError(t, err)
	var resp struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	require.NoError(t, json.Unmarshal(out, &resp), "%s", out)
	assert.Equal(t, "chat.completion", resp.Object)
	require.Len(t, resp.Choices, 1)
	assert.Equal(t, "echo: hello", resp.Choices[0].Message.Content)

	out, err = exec.Command("sh", "-c", lines[1]).Output()
	require.NoError(t, err)
	s := string(out)
	assert.True(t, strings.HasPrefix(s, "event: message_start\n"), "%s", s)
	assert.Contains(t, s, `"text_delta","text":"hello"`)
	assert.True(t, strings.HasSuffix(s, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), "%s", s)
}
