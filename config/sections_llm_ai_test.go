package config_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAIRoutePolicy: a route's `ai` policy from the schema's shapes, served end to end: a regex
// guard rejecting SSNs with its configured rejection, a response guard masking card numbers (and
// leaving streams alone, agentgateway's default), defaults, overrides, prompts and model aliases as
// the provider receives them.
func TestAIRoutePolicy(t *testing.T) {
	oa := newLLMStub(t, "card 4111 1111 1111 1111", false)
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
          promptGuard:
            request:
            - regex:
                action: reject
                rules: [{builtin: ssn}]
              rejection: {status: 400, body: "no SSNs", headers: {set: {x-guard: ssn}}}
            response:
            - regex:
                rules: [{builtin: creditCard}]
          defaults: {temperature: 0.3}
          overrides: {max_tokens: 9}
          prompts:
            prepend: [{role: system, content: "Be terse."}]
            append: [{role: user, content: "Thanks."}]
          modelAliases: {fast: gpt-4o-mini}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OA": strings.TrimPrefix(oa.URL, "http://")})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	var answer struct {
		Choices []struct{ Message struct{ Content string } }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &answer))
	assert.Equal(t, "from card <CREDIT_CARD>", answer.Choices[0].Message.Content)
	req, _, _ := oa.last()
	assert.Equal(t, "gpt-4o-mini", req["model"])
	assert.Equal(t, 0.3, req["temperature"])
	assert.Equal(t, float64(9), req["max_tokens"])
	msgs, _ := json.Marshal(req["messages"])
	assert.JSONEq(t, `[{"role":"system","content":"Be terse."},{"role":"user","content":"hi"},{"role":"user","content":"Thanks."}]`, string(msgs))

	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"fast","messages":[{"role":"user","content":"ssn 123-45-6789"}]}`))
	require.NoError(t, err)
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "ssn", resp.Header.Get("X-Guard"))
	assert.Equal(t, "no SSNs", e.Error.Message)

	// streaming is Disabled by default: a streamed answer passes unguarded
	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, "4111 1111 1111 1111")
}

// TestLLMGuardrails: the llm: short form's policies.guardrails (for every model), a model's own
// webhook guardrails and an Anthropic model's prompt caching from its provider's defaults.
func TestLLMGuardrails(t *testing.T) {
	oa, an := newLLMStub(t, "openai", false), newLLMStub(t, "anthropic", false)
	var calls atomic.Int32
	wh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v2/check" && r.Header.Get("X-Model") == "guarded" {
			fmt.Fprint(w, `{"action":{"body":"webhook says no","status_code":451}}`)
			return
		}
		fmt.Fprint(w, `{"action":{}}`)
	}))
	t.Cleanup(wh.Close)
	yaml := `
llm:
  port: 4100
  policies:
    guardrails:
      request:
      - regex: {action: mask, rules: [{builtin: email}]}
  providers:
  - name: claude
    provider: anthropic
    params: {hostOverride: $AN}
    defaults:
      promptCaching: {minTokens: 0}
  models:
  - name: gpt
    provider: openai
    params: {baseUrl: $OA/v1}
  - name: guarded
    provider: openai
    params: {baseUrl: $OA/v1}
    guardrails:
      request:
      - webhook:
          target: {host: $WH}
          failureMode: failClosed
          headers: {x-model: 'llm.requestModel', ":path": '"/v2/check"'}
  - name: claude
    provider: {reference: claude}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OA": oa.URL, "AN": strings.TrimPrefix(an.URL, "http://"), "WH": strings.TrimPrefix(wh.URL, "http://")})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt","messages":[{"role":"user","content":"mail me at a@b.com"}]}`)
	require.Equal(t, 200, status, body)
	req, _, _ := oa.last()
	msgs, _ := json.Marshal(req["messages"])
	assert.JSONEq(t, `[{"role":"user","content":"mail me at <EMAIL_ADDRESS>"}]`, string(msgs))
	assert.Zero(t, calls.Load(), "the webhook guards only its model")

	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"guarded","messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, 451, status)
	assert.Contains(t, body, "webhook says no")

	status, body = chat(t, srv.URL, "/v1/messages", `{"model":"claude","max_tokens":5,"system":"sys","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	req, _, _ = an.last()
	got, _ := json.Marshal(map[string]any{"system": req["system"], "messages": req["messages"]})
	assert.JSONEq(t, `{"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}}],
		"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}]}`, string(got))
}

// TestAIPolicyConfigErrors: what the schema defines but the gateway does not implement is refused
// at its path; bad values name theirs.
func TestAIPolicyConfigErrors(t *testing.T) {
	route := "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends:\n      - ai: {name: o, provider: {openAI: {}}}\n      policies:\n        ai: %s\n"
	for _, c := range []struct{ ai, path, msg string }{
		{`{finalTransformations: {a: "1 +"}}`, "policies.ai", "finalTransformations.a"},
		{`{routes: {"/x": realtime}}`, "policies.ai.routes./x", "not supported yet"},
		{`{promptGuard: {request: [{googleModelArmor: {templateId: t, projectId: p, policies: {backendTLS: {insecure: true}}}}]}}`, "policies.ai.promptGuard.request[0].googleModelArmor.policies.backendTLS", "not supported yet"},
		{`{promptGuard: {request: [{regex: {rules: [{builtin: iban}]}}]}}`, "policies.ai.promptGuard", "unknown builtin"},
		{`{promptGuard: {request: [{regex: {rules: [{pattern: "("}]}}]}}`, "policies.ai.promptGuard", "pattern"},
		{`{promptGuard: {response: [{openAIModeration: {}}]}}`, "policies.ai.promptGuard.response[0]", "request guards only"},
		{`{promptGuard: {request: [{webhook: {target: {host: "h:1"}, headers: {x: "1 +"}}}]}}`, "policies.ai.promptGuard", "webhook.headers.x"},
		{`{promptGuard: {streaming: Sometimes}}`, "policies.ai.promptGuard.streaming", "Enabled"},
		{`{transformations: {user: "request.("}}`, "policies.ai", "transformations.user"},
		{`{promptCaching: {minTokens: -1}}`, "policies.ai.promptCaching", ""},
	} {
		_, err := build(t, fmt.Sprintf(route, c.ai), nil)
		require.Error(t, err, c.ai)
		assert.Contains(t, err.Error(), c.path, c.ai)
		assert.Contains(t, err.Error(), c.msg, c.ai)
	}
}
