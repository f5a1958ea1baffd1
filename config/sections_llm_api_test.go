package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLLMPassthroughYAML: llm.models[].passthrough detect forwards the client's body unchanged
// (params.model does not rewrite it); a mode outside the schema's enum is an error at its path.
func TestLLMPassthroughYAML(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	yaml := `
llm:
  port: 4101
  models:
  - name: raw
    provider: openai
    passthrough: detect
    params: {model: rewritten, baseUrl: $OPENAI_URL/v1, apiKey: k}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OPENAI_URL": oa.URL})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"raw","vendor":1,"messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	req, _, _ := oa.last()
	assert.Equal(t, "raw", req["model"], "passthrough keeps the body")
	assert.Equal(t, float64(1), req["vendor"])

	_, err := build(t, "llm:\n  models:\n  - {name: g, provider: openai, passthrough: sometimes}\n", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "llm.models[0].passthrough")
}
