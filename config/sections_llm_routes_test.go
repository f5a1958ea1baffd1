package config_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAIRoutesFromYAML: policies.ai.routes makes a path no default knows serve chat completions
// (translated for the provider, model rewritten) and "*" pass every other path to the provider
// unchanged; unsupported route kinds are refused at their key.
func TestAIRoutesFromYAML(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	yaml := `
binds:
- port: 3002
  listeners:
  - routes:
    - backends:
      - ai: {name: openai, provider: {openAI: {model: gpt-4o-mini}}, hostOverride: $OA}
      policies:
        ai:
          routes:
            /api/generate: completions
            "*": passthrough
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OA": strings.TrimPrefix(oa.URL, "http://")})
	status, body := chat(t, srv.URL, "/api/generate", `{"model":"any","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, "from openai")
	req, _, path := oa.last()
	assert.Equal(t, "/v1/chat/completions", path)
	assert.Equal(t, "gpt-4o-mini", req["model"])

	status, body = chat(t, srv.URL, "/v1/vendor/extension", `{"model":"any","custom":true}`)
	require.Equal(t, 200, status, body)
	req, _, path = oa.last()
	assert.Equal(t, "/v1/vendor/extension", path)
	assert.Equal(t, map[string]any{"model": "any", "custom": true}, req)

	for _, c := range []struct{ routes, path string }{
		{"{/rt: realtime}", "policies.ai.routes./rt"},
		{"{/x: chat}", "policies.ai.routes./x"},
	} {
		_, err := build(t, "binds: [{port: 1, listeners: [{routes: [{backends: [{ai: {name: o, provider: {openAI: {}}}}], policies: {ai: {routes: "+c.routes+"}}}]}]}]", nil)
		require.Error(t, err, c.routes)
		assert.Contains(t, err.Error(), c.path, c.routes)
	}
}
