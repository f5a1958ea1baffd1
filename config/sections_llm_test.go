package config_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// llmStub answers OpenAI chat completions or Anthropic messages (non-streamed) naming itself, and
// records what it received; with fail set it answers 503.
type llmStub struct {
	URL  string
	mu   sync.Mutex
	got  []map[string]any
	hdr  []http.Header
	path []string
}

func newLLMStub(t *testing.T, name string, fail bool) *llmStub {
	s := &llmStub{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		s.mu.Lock()
		s.got, s.hdr, s.path = append(s.got, req), append(s.hdr, r.Header.Clone()), append(s.path, r.URL.Path)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if fail {
			w.WriteHeader(503)
			_, _ = io.WriteString(w, `{"error":{"message":"down","type":"server_error"}}`)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/messages") {
			fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"from %s"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":2}}`, req["model"], name)
			return
		}
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"from %s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`, req["model"], name)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *llmStub) last() (map[string]any, http.Header, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return nil, nil, ""
	}
	return s.got[len(s.got)-1], s.hdr[len(s.hdr)-1], s.path[len(s.path)-1]
}

func serveRuntime(t *testing.T, yaml string, env map[string]string) (*httptest.Server, int) {
	t.Helper()
	rt, err := build(t, yaml, env)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Apply(rt.Config))
	t.Cleanup(func() { _ = gw.Close() })
	srv := httptest.NewServer(gw.PortHandler(rt.Config.Listeners[0].Port))
	t.Cleanup(srv.Close)
	return srv, rt.Config.Listeners[0].Port
}

func chat(t *testing.T, url, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const llmYAML = `
llm:
  port: 4100
  providers:
  - name: claude
    provider: anthropic
    params:
      hostOverride: $ANTHROPIC_HOST
      apiKey: sk-ant-cfg
    defaults:
      defaults: {max_tokens: 77}
  models:
  - name: fast
    provider: openai
    params:
      model: gpt-4o-mini
      baseUrl: $OPENAI_URL/v1
      apiKey: sk-cfg
    overrides: {temperature: 0}
    requestHeaders:
      set: {X-Team: blue}
  - name: claude-*
    provider: {reference: claude}
    requestHeaders:
      remove: [anthropic-beta]
  - name: down
    provider: openai
    visibility: internal
    params: {baseUrl: $DOWN_URL/v1}
  virtualModels:
  - name: smart
    routing:
      failover:
        targets:
        - {model: down, priority: 0}
        - {model: claude-sonnet, priority: 1}
`

// TestLLMShortForm: the llm: section serves models from the schema's shapes: params (model, baseUrl,
// hostOverride, apiKey), overrides, requestHeaders, provider references with their defaults,
// wildcards, internal visibility and a failover virtual model.
func TestLLMShortForm(t *testing.T) {
	oa, an, down := newLLMStub(t, "openai", false), newLLMStub(t, "anthropic", false), newLLMStub(t, "down", true)
	srv, port := serveRuntime(t, llmYAML, map[string]string{"OPENAI_URL": oa.URL, "ANTHROPIC_HOST": strings.TrimPrefix(an.URL, "http://"), "DOWN_URL": down.URL})
	assert.Equal(t, 4100, port)

	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, "from openai")
	req, hdr, path := oa.last()
	assert.Equal(t, "gpt-4o-mini", req["model"])
	assert.Equal(t, float64(0), req["temperature"])
	assert.Equal(t, "Bearer sk-cfg", hdr.Get("Authorization"))
	assert.Equal(t, "blue", hdr.Get("X-Team"))
	assert.Equal(t, "/v1/chat/completions", path)

	mreq, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(`{"model":"claude-haiku","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`))
	mreq.Header.Set("anthropic-beta", "tools-2024")
	mresp, err := http.DefaultClient.Do(mreq)
	require.NoError(t, err)
	mresp.Body.Close()
	require.Equal(t, 200, mresp.StatusCode)
	_, hdr, _ = an.last()
	assert.Empty(t, hdr.Get("anthropic-beta"), "requestHeaders.remove takes a header off the provider request")

	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"claude-haiku","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, "from anthropic")
	req, hdr, path = an.last()
	assert.Equal(t, "claude-haiku", req["model"])
	assert.Equal(t, float64(77), req["max_tokens"], "the provider's defaults apply")
	assert.Equal(t, "sk-ant-cfg", hdr.Get("x-api-key"))
	assert.Equal(t, "/v1/messages", path)

	status, body = chat(t, srv.URL, "/v1/messages", `{"model":"smart","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, "from anthropic", "failed over from the internal model")

	status, body = chat(t, srv.URL, "/v1/chat/completions", `{"model":"down","messages":[]}`)
	assert.Equal(t, 404, status, body)
}

// TestAIBackend: the route backend ai with one provider (hostOverride, pathPrefix, backendAuth key,
// model override) and with priority groups.
func TestAIBackend(t *testing.T) {
	an, down := newLLMStub(t, "anthropic", false), newLLMStub(t, "down", true)
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - name: one
      matches: [{path: {pathPrefix: /one}}]
      backends:
      - ai:
          name: claude
          provider: {anthropic: {model: claude-opus}}
          hostOverride: $AN
          pathPrefix: /api
          policies:
            backendAuth: {key: sk-route}
    - name: groups
      matches: [{path: {pathPrefix: /groups}}]
      backends:
      - ai:
          groups:
          - providers:
            - {name: down, provider: {openAI: {}}, hostOverride: $DOWN}
          - providers:
            - {name: claude, provider: {anthropic: {}}, hostOverride: $AN}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"AN": strings.TrimPrefix(an.URL, "http://"), "DOWN": strings.TrimPrefix(down.URL, "http://")})
	status, body := chat(t, srv.URL, "/one/v1/chat/completions", `{"model":"anything","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	req, hdr, path := an.last()
	assert.Equal(t, "claude-opus", req["model"])
	assert.Equal(t, "sk-route", hdr.Get("x-api-key"))
	assert.Equal(t, "/api/messages", path)

	status, body = chat(t, srv.URL, "/groups/v1/messages", `{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	req, _, _ = an.last()
	assert.Equal(t, "claude-x", req["model"])
	_, _, downPath := down.last()
	assert.Equal(t, "/v1/chat/completions", downPath, "the first group was tried")
}

// TestLLMConfigErrors: provider kinds without a wire yet and unsupported fields are rejected at
// their path with "not supported yet".
func TestLLMConfigErrors(t *testing.T) {
	for _, c := range []struct{ yaml, path string }{
		{"llm:\n  models:\n  - {name: g, provider: copilot}\n", "llm.models[0].provider"},
		{"llm:\n  models:\n  - {name: g, provider: openai, params: {awsRegion: us-east-1}}\n", "llm.models[0].params.awsRegion"},
		{"llm:\n  models:\n  - {name: g, provider: {reference: nope}}\n", "llm.models[0].provider.reference"},
		{"binds:\n- port: 3000\n  listeners:\n  - routes:\n    - backends:\n      - ai: {name: b, provider: {copilot: {}}}\n", "binds[0].listeners[0].routes[0].backends[0].ai.provider.copilot"},
	} {
		_, err := build(t, c.yaml, nil)
		require.Error(t, err, c.yaml)
		assert.Contains(t, err.Error(), c.path, c.yaml)
		if !strings.Contains(c.path, "reference") {
			assert.Contains(t, err.Error(), "not supported yet", c.yaml)
		}
	}
}
