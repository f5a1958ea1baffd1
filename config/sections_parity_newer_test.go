package config_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAIRoutesPascalCase: agentgateway's published examples spell ai route types in PascalCase
// ("Models", "Completions"); those spellings serve exactly as the camelCase ones do: GET /v1/models
// answers the declared models and chat completions reach the provider.
func TestAIRoutesPascalCase(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	yaml := `
binds:
- port: 3003
  listeners:
  - routes:
    - backends:
      - ai: {name: openai, provider: {openAI: {}}, hostOverride: $OA}
      policies:
        ai:
          models:
          - {id: gpt-4o-mini, ownedBy: openai, created: 1704067200}
          routes:
            "/v1/models": Models
            "/v1/chat/completions": Completions
            "/count": AnthropicTokenCount
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OA": strings.TrimPrefix(oa.URL, "http://")})
	resp, err := http.Get(srv.URL + "/v1/models")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(b))
	assert.Contains(t, string(b), `"gpt-4o-mini"`)
	assert.Contains(t, string(b), `"owned_by":"openai"`)

	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, "from openai")

	// A spelling agentgateway has in neither case is still refused at its key.
	_, err = build(t, "binds: [{port: 1, listeners: [{routes: [{backends: [{ai: {name: o, provider: {openAI: {}}}}], policies: {ai: {routes: {/x: CHAT}}}}]}]}]", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policies.ai.routes./x")
}
