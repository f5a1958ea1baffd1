package config_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLLMCloudProviders: the llm: section and an ai route backend reach Gemini (model in the path,
// x-goog-api-key) and Azure OpenAI (deployment path, api-version, api-key) from the schema's shapes,
// and Vertex and Bedrock configurations build; missing required fields name their path.
func TestLLMCloudProviders(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var keys []string
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		keys = append(keys, r.Header.Get("x-goog-api-key")+r.Header.Get("api-key"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("api-key") != "" {
			io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"from azure"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`)
			return
		}
		io.WriteString(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"from gemini"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2},"modelVersion":"gemini-2.5-flash"}`)
	}))
	t.Cleanup(stub.Close)
	yaml := `
llm:
  port: 4100
  models:
  - name: gem
    provider: gemini
    params: {model: gemini-2.5-flash, baseUrl: $STUB/v1beta, apiKey: gk-cfg}
  - name: az
    provider: azure
    params: {model: my-deploy, baseUrl: $STUB, apiKey: az-cfg, azureResourceName: res, azureResourceType: openAI, azureApiVersion: 2024-10-21}
  - name: vx
    provider: vertex
    params: {vertexProject: proj, vertexRegion: us-east5, apiKey: ya29.x}
  - name: bd
    provider: bedrock
    params: {awsRegion: us-east-1}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"STUB": stub.URL})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"gem","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, 200, status, body)
	assert.Contains(t, body, "from gemini")
	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"az","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, 200, status, body)
	assert.Contains(t, body, "from azure")
	mu.Lock()
	assert.Equal(t, []string{"/v1beta/models/gemini-2.5-flash:generateContent", "/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21"}, paths)
	assert.Equal(t, []string{"gk-cfg", "az-cfg"}, keys)
	mu.Unlock()

	route := `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai:
          name: g
          provider: {gemini: {model: gemini-2.5-pro}}
          hostOverride: $HOST
          policies:
            backendAuth: {key: gk-route}
`
	srv, _ = serveRuntime(t, route, map[string]string{"HOST": stub.Listener.Addr().String()})
	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"anything","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, 200, status, body)
	mu.Lock()
	assert.Equal(t, "/v1beta/models/gemini-2.5-pro:generateContent", paths[len(paths)-1])
	assert.Equal(t, "gk-route", keys[len(keys)-1])
	mu.Unlock()

	for _, c := range []struct{ yaml, path string }{
		{"llm:\n  models:\n  - {name: b, provider: bedrock}\n", "params.awsRegion"},
		{"llm:\n  models:\n  - {name: v, provider: vertex}\n", "params.vertexProject"},
		{"binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends:\n      - ai: {name: b, provider: {bedrock: {}}}\n", "ai.provider.bedrock.region"},
		{"binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends:\n      - ai: {name: a, provider: {azure: {resourceName: r}}}\n", "ai.provider.azure.resourceType"},
		{"binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends:\n      - ai: {name: g, provider: {gemini: {region: x}}}\n", "ai.provider.gemini.region"},
	} {
		_, err := build(t, c.yaml, nil)
		require.Error(t, err, c.yaml)
		assert.Contains(t, err.Error(), c.path, c.yaml)
	}
}
