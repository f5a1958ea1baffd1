package config_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAIPinnedModelNeedsNoClientModel: an `ai` backend whose provider pins a model (the published
// ai-cors, iflytek and prompt-guard examples) serves requests that name no model, as agentgateway
// does: the provider receives the pinned model. A backend pinning none still asks for one.
func TestAIPinnedModelNeedsNoClientModel(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai:
          name: spark
          provider: {openAI: {model: generalv3.5}}
          hostOverride: $OA
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OA": strings.TrimPrefix(oa.URL, "http://")})
	for _, body := range []string{
		`{"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":null,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"whatever","messages":[{"role":"user","content":"hi"}]}`,
	} {
		status, out := chat(t, srv.URL, "/v1/chat/completions", body)
		require.Equal(t, 200, status, out)
		req, _, _ := oa.last()
		assert.Equal(t, "generalv3.5", req["model"], body)
	}

	unpinned := strings.Replace(yaml, "{openAI: {model: generalv3.5}}", "{openAI: {}}", 1)
	srv2, _ := serveRuntime(t, unpinned, map[string]string{"OA": strings.TrimPrefix(oa.URL, "http://")})
	status, out := chat(t, srv2.URL, "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, 400, status)
	assert.Contains(t, out, "model")
}
