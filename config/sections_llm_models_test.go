package config_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func chatWithHeaders(t *testing.T, url, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
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

// TestLLMModelMatchesTransformationHealth: llm.models[].matches picks the entry by request headers
// (the entry without matches serves the rest), transformation sets request fields from CEL over
// the request, a provider's defaults.transformation applies to the models referencing it, and
// health (unhealthyExpression over the response, eviction.consecutiveFailures and duration) evicts a
// failover target after that many unhealthy answers.
func TestLLMModelMatchesTransformationHealth(t *testing.T) {
	premium, basic, spare := newLLMStub(t, "premium", false), newLLMStub(t, "basic", false), newLLMStub(t, "spare", false)
	var degraded atomic.Int32
	flaky := newLLMStub(t, "flaky", false)
	target, _ := url.Parse(flaky.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		degraded.Add(1)
		resp.Header.Set("X-Degraded", "yes")
		return nil
	}
	flakyFront := httptest.NewServer(rp)
	t.Cleanup(flakyFront.Close)
	yaml := `
llm:
  port: 4101
  providers:
  - name: shared
    provider: openai
    params: {baseUrl: $BASIC/v1, apiKey: k}
    defaults:
      transformation: {user: 'request.headers["x-user"]'}
  models:
  - name: chat
    provider: openai
    params: {baseUrl: $PREMIUM/v1, apiKey: k, model: chat-premium}
    matches:
    - headers: [{name: x-tier, value: {exact: gold}}]
    - headers: [{name: x-team, value: {regex: "ml-.*"}}]
    transformation: {max_tokens: '16 * 2'}
  - name: chat
    provider: {reference: shared}
  - name: flaky
    provider: openai
    visibility: internal
    params: {baseUrl: $FLAKY/v1, apiKey: k}
    health:
      unhealthyExpression: 'response.headers["X-Degraded"] == "yes"'
      eviction: {consecutiveFailures: 2, duration: 1h}
  - name: spare
    provider: openai
    visibility: internal
    params: {baseUrl: $SPARE/v1, apiKey: k}
  virtualModels:
  - name: ha
    routing:
      failover:
        targets:
        - {model: flaky, priority: 0}
        - {model: spare, priority: 1}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"PREMIUM": premium.URL, "BASIC": basic.URL, "FLAKY": flakyFront.URL, "SPARE": spare.URL})
	const body = `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	status, out := chatWithHeaders(t, srv.URL, body, map[string]string{"x-tier": "gold"})
	require.Equal(t, 200, status, out)
	assert.Contains(t, out, "from premium")
	req, _, _ := premium.last()
	assert.Equal(t, "chat-premium", req["model"])
	assert.Equal(t, float64(32), req["max_tokens"])
	status, out = chatWithHeaders(t, srv.URL, body, map[string]string{"x-team": "ml-infra", "x-user": "bob"})
	require.Equal(t, 200, status, out)
	assert.Contains(t, out, "from premium")
	status, out = chatWithHeaders(t, srv.URL, body, map[string]string{"x-tier": "silver", "x-user": "bob"})
	require.Equal(t, 200, status, out)
	assert.Contains(t, out, "from basic")
	req, _, _ = basic.last()
	assert.Equal(t, "bob", req["user"])
	assert.NotContains(t, req, "max_tokens")

	const ha = `{"model":"ha","messages":[{"role":"user","content":"hi"}]}`
	for i, want := range []string{"from flaky", "from flaky", "from spare", "from spare"} {
		status, out = chatWithHeaders(t, srv.URL, ha, nil)
		require.Equal(t, 200, status, out)
		assert.Contains(t, out, want, "request %d", i)
	}
	assert.Equal(t, int32(2), degraded.Load())

	for _, c := range []struct{ model, path string }{
		{"{name: m, provider: openai, matches: [{headers: [{name: x, value: {}}]}]}", "llm.models[0].matches[0].headers[0].value"},
		{"{name: m, provider: openai, health: {eviction: {restoreHealth: 0.5}}}", "llm.models[0].health.eviction.restoreHealth"}, // 1.0 is served (TestLLMActiveHealthFromYAML)
		{"{name: m, provider: openai, health: {unhealthyExpression: 'response.code >'}}", "llm.models[0].health.unhealthyExpression"},
		{"{name: m, provider: openai, transformation: {a: '1 +'}}", "transformation.a"},
	} {
		_, err := build(t, "llm:\n  models:\n  - "+c.model+"\n", nil)
		require.Error(t, err, c.model)
		assert.Contains(t, err.Error(), c.path, c.model)
	}
}
