package config_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBedrockRequestMetadata: provider.bedrock.requestMetadata (the published
// llm-bedrock-attribution example) reaches Bedrock Converse as the body's requestMetadata, fixed
// values as they are and expressions evaluated on each request; a request whose expression cannot
// be resolved (no x-team header) is refused 400 and never reaches the provider; a bad expression or
// an entry with neither value nor expression is refused at load with its path.
func TestBedrockRequestMetadata(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		got = append(got, in)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"output":{"message":{"role":"assistant","content":[{"text":"from bedrock"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}}`))
	}))
	t.Cleanup(stub.Close)
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai:
          name: bedrock
          hostOverride: $HOST
          provider:
            bedrock:
              region: us-east-1
              model: amazon.nova-micro-v1:0
              requestMetadata:
              - {key: team, expression: 'request.headers["x-team"]'}
              - {key: environment, value: prod}
          policies:
            backendAuth:
              aws: {accessKeyId: AKIDEXAMPLE, secretAccessKey: secret, region: us-east-1}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"HOST": stub.Listener.Addr().String()})
	status, body := chatWith(t, srv.URL, map[string]string{"x-team": "blue"}, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, "from bedrock")
	mu.Lock()
	require.Len(t, got, 1)
	assert.Equal(t, map[string]any{"team": "blue", "environment": "prod"}, got[0]["requestMetadata"])
	mu.Unlock()

	status, body = chatWith(t, srv.URL, nil, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, 400, status, body)
	assert.Contains(t, body, `requestMetadata \"team\"`)
	mu.Lock()
	assert.Len(t, got, 1, "the refused request never reached Bedrock")
	mu.Unlock()

	for bad, want := range map[string]string{
		`{key: environment}`:                       "set exactly one of value, expression",
		`{key: environment, expression: 'nope(('}`: "requestMetadata[1].expression",
	} {
		_, err := build(t, strings.Replace(yaml, `{key: environment, value: prod}`, bad, 1), map[string]string{"HOST": "127.0.0.1:1"})
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), want)
		assert.Contains(t, err.Error(), "binds[0].listeners[0].routes[0].backends[0].ai")
	}
}

// chatWith posts body to url's chat completions with extra headers.
func chatWith(t *testing.T, url string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
