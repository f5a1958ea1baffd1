package config_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// compressor is a stub context-compression engine (Headroom's POST /v1/compress form): it records
// what it gets and answers with answer(messages).
type compressor struct {
	mu     sync.Mutex
	got    []map[string]any
	paths  []string
	answer func(msgs []any) any
	srv    *httptest.Server
}

func newCompressor(t *testing.T, answer func(msgs []any) any) *compressor {
	c := &compressor{answer: answer}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		c.mu.Lock()
		c.got, c.paths = append(c.got, in), append(c.paths, r.URL.Path)
		c.mu.Unlock()
		msgs, _ := in["messages"].([]any)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.answer(msgs))
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *compressor) calls() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.got) }

const rawHookYAML = `
llm:
  models:
  - name: "*"
    provider: openAI
    params:
      apiKey: sk-test
      baseUrl: $OA/v1
    guardrails:
      request:
      - webhook:
          target:
            host: $CMP
          messageFormat: raw
          path: /v1/compress
          minSizeBytes: 200
`

// TestRawWebhookCompression: a model's request guardrail webhook with messageFormat raw, path and
// minSizeBytes (the published llm-context-compression example) is served as a context-compression
// callout: a request over minSizeBytes has its raw messages (tool calls included) and model POSTed
// to the path, and the provider gets the messages the engine returns; a smaller request is
// forwarded without a call. By default a failing engine is ignored (fail open), as is an answer that
// separates a tool call from its result; failClosed answers 503; a guardrail-envelope reject is the
// client's answer.
func TestRawWebhookCompression(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	big := strings.Repeat("lorem ipsum ", 30)
	bigReq := `{"model":"gpt-4o","messages":[` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},` +
		`{"role":"tool","tool_call_id":"t1","content":"` + big + `"},` +
		`{"role":"user","content":"summarise"}]}`

	cmp := newCompressor(t, func(msgs []any) any {
		out := append([]any(nil), msgs...)
		tool := map[string]any{}
		for k, v := range msgs[1].(map[string]any) {
			tool[k] = v
		}
		tool["content"] = "[compressed]"
		out[1] = tool
		return map[string]any{"messages": out, "tokens_saved": 80}
	})
	env := map[string]string{"OA": oa.URL, "CMP": strings.TrimPrefix(cmp.srv.URL, "http://")}
	srv, port := serveRuntime(t, rawHookYAML, env)
	assert.Equal(t, 4000, port, "the llm form's default port")

	status, body := chat(t, srv.URL, "/v1/chat/completions", bigReq)
	require.Equal(t, 200, status, body)
	require.Equal(t, 1, cmp.calls())
	assert.Equal(t, "/v1/compress", cmp.paths[0])
	assert.Equal(t, "gpt-4o", cmp.got[0]["model"])
	sent, _ := json.Marshal(cmp.got[0]["messages"])
	assert.Contains(t, string(sent), `"tool_calls":[{"function":{"arguments":"{}","name":"f"},"id":"t1","type":"function"}]`, "raw messages keep their tool calls")
	req, _, _ := oa.last()
	msgs, _ := json.Marshal(req["messages"])
	assert.Contains(t, string(msgs), `"content":"[compressed]"`)
	assert.NotContains(t, string(msgs), "lorem")

	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Equal(t, 1, cmp.calls(), "a request under minSizeBytes is not sent")

	// an engine that drops the tool result breaks the request: ignored, the original goes out
	breaking := newCompressor(t, func(msgs []any) any { return map[string]any{"messages": []any{msgs[0], msgs[2]}} })
	srv2, _ := serveRuntime(t, rawHookYAML, map[string]string{"OA": oa.URL, "CMP": strings.TrimPrefix(breaking.srv.URL, "http://")})
	status, body = chat(t, srv2.URL, "/v1/chat/completions", bigReq)
	require.Equal(t, 200, status, body)
	require.Equal(t, 1, breaking.calls())
	req, _, _ = oa.last()
	msgs, _ = json.Marshal(req["messages"])
	assert.Contains(t, string(msgs), "lorem", "fail open: the original messages")

	// engine down: fail open by default, 503 with failClosed
	down := map[string]string{"OA": oa.URL, "CMP": "127.0.0.1:1"}
	srv3, _ := serveRuntime(t, rawHookYAML, down)
	status, body = chat(t, srv3.URL, "/v1/chat/completions", bigReq)
	assert.Equal(t, 200, status, body)
	closed := strings.Replace(rawHookYAML, "minSizeBytes: 200", "minSizeBytes: 200\n          failureMode: failClosed", 1)
	srv4, _ := serveRuntime(t, closed, down)
	status, body = chat(t, srv4.URL, "/v1/chat/completions", bigReq)
	assert.Equal(t, 503, status, body)

	// a guardrail-envelope answer rejects
	rejecting := newCompressor(t, func([]any) any {
		return map[string]any{"action": map[string]any{"body": "too long", "status_code": 413}}
	})
	srv5, _ := serveRuntime(t, rawHookYAML, map[string]string{"OA": oa.URL, "CMP": strings.TrimPrefix(rejecting.srv.URL, "http://")})
	status, body = chat(t, srv5.URL, "/v1/chat/completions", bigReq)
	assert.Equal(t, 413, status)
	assert.Contains(t, body, "too long")

	_, err := build(t, strings.Replace(rawHookYAML, "messageFormat: raw", "messageFormat: text", 1), env)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "llm.models[0].guardrails.request[0].webhook.messageFormat: want raw")
	_, err = build(t, strings.Replace(rawHookYAML, "          messageFormat: raw\n", "", 1), env)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "webhook.path: applies with messageFormat: raw")
}
