package config_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAIPolicyDeclaredModels: a route's ai.models (the published ai-models example) is what GET
// /v1/models answers, with each model's ownedBy and created; chat still reaches the provider; a
// model without an id is refused with its path.
func TestAIPolicyDeclaredModels(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai:
          name: openai
          provider: {openAI: {}}
          hostOverride: $OA
      policies:
        ai:
          models:
          - {id: gpt-4o-mini, ownedBy: openai, created: 1704067200}
          - {id: gpt-3.5-turbo, ownedBy: openai, created: 1677649963}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OA": strings.TrimPrefix(oa.URL, "http://")})
	resp, err := http.Get(srv.URL + "/v1/models")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(b))
	assert.JSONEq(t, `{"object":"list","data":[
		{"id":"gpt-4o-mini","object":"model","created":1704067200,"owned_by":"openai"},
		{"id":"gpt-3.5-turbo","object":"model","created":1677649963,"owned_by":"openai"}]}`, string(b))

	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)

	_, err = build(t, strings.Replace(yaml, "{id: gpt-3.5-turbo,", "{", 1), map[string]string{"OA": "127.0.0.1:1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policies.ai")
	assert.Contains(t, err.Error(), "models[1].id: required")
}
