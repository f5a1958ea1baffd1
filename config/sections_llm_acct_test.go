package config_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/llm"
)

// lastState records the State of each finished request.
type lastState struct {
	mu sync.Mutex
	st agentgateway.State
}

func (l *lastState) Start(ctx context.Context, _ *http.Request, _ *agentgateway.State) context.Context {
	return ctx
}

func (l *lastState) End(_ context.Context, _ *http.Request, st *agentgateway.State) {
	l.mu.Lock()
	l.st = *st
	l.mu.Unlock()
}

func (l *lastState) get() agentgateway.State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// serveLLMConfig builds a config whose files resolve against dir and serves its first listener,
// recording States.
func serveLLMConfig(t *testing.T, dir, yaml string, env map[string]string) (*httptest.Server, *lastState) {
	t.Helper()
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	f.SetDir(dir)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	obs := &lastState{}
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false), agentgateway.WithObserver(obs))
	require.NoError(t, gw.Apply(rt.Config))
	t.Cleanup(func() { _ = gw.Close() })
	srv := httptest.NewServer(gw.PortHandler(rt.Config.Listeners[0].Port))
	t.Cleanup(srv.Close)
	return srv, obs
}

// TestModelCatalogYAML: config.modelCatalog from a file and inline (string and object), merged in
// order, prices calls through the llm short form and the route backend ai; a rebuild re-reads the
// file.
func TestModelCatalogYAML(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prices.json"),
		[]byte(`{"providers":{"openai":{"models":{"gpt-4o-mini":{"rates":{"input":"1","output":"2"}},"gpt-x":{"rates":{"input":"100"}}}}}}`), 0o600))
	yaml := `
config:
  modelCatalog:
  - file: prices.json
  - inline: |
      providers: {openai: {models: {gpt-x: {rates: {input: "5", output: "7"}}}}}
  - inline:
      providers:
        anthropic:
          models:
            claude: {rates: {input: "3", output: "15"}}
llm:
  models:
  - name: fast
    provider: openai
    params: {model: gpt-4o-mini, baseUrl: $OPENAI_URL/v1, apiKey: k}
  - name: x
    provider: openai
    params: {model: gpt-x, baseUrl: $OPENAI_URL/v1, apiKey: k}
`
	srv, obs := serveLLMConfig(t, dir, yaml, map[string]string{"OPENAI_URL": oa.URL})
	for model, want := range map[string]float64{"fast": (3*1 + 2*2) / 1e6, "x": (3*5 + 2*7) / 1e6} {
		status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
		require.Equal(t, 200, status, body)
		assert.InDelta(t, want, obs.get().LLM.Cost, 1e-12, model)
	}

	// The route backend ai is priced too; a rebuild reads the file's new prices.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prices.json"),
		[]byte(`providers: {openai: {models: {gpt-4o-mini: {rates: {input: "10", output: "20"}}}}}`), 0o600))
	srv, obs = serveLLMConfig(t, dir, `
config:
  modelCatalog: [{file: prices.json}]
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai: {name: oa, provider: {openAI: {model: gpt-4o-mini}}, hostOverride: $OPENAI_HOST}
`, map[string]string{"OPENAI_HOST": strings.TrimPrefix(oa.URL, "http://")})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"whatever","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.InDelta(t, (3*10+2*20)/1e6, obs.get().LLM.Cost, 1e-12)
}

// TestModelCatalogYAMLErrors: bad catalogs fail the load or build at their path.
func TestModelCatalogYAMLErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		`{config: {modelCatalog: [{inline: {providers: {a: {models: {m: {rates: {input: "-2"}}}}}}}]}}`: "config.modelCatalog[0].inline",
		`{config: {modelCatalog: [{inline: "providers: [1"}]}}`:                                         "config.modelCatalog[0].inline",
		`{config: {modelCatalog: [{url: "x"}]}}`:                                                        "config.modelCatalog[0]",
		`{config: {modelCatalog: [{inline: 5}]}}`:                                                       "config.modelCatalog[0].inline",
	} {
		_, err := config.Load([]byte(yaml), nil)
		var ce *agentgateway.ConfigError
		if assert.True(t, errors.As(err, &ce), yaml) {
			assert.Equal(t, want, ce.Path, yaml)
		}
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(`providers: {a: {models: {m: {rates: {nope: "1"}}}}}`), 0o600))
	for file, want := range map[string]error{"bad.yaml": llm.ErrCatalog, "missing.yaml": os.ErrNotExist} {
		f, err := config.Load([]byte(`{config: {modelCatalog: [{file: `+file+`}]}}`), nil)
		require.NoError(t, err)
		f.SetDir(dir)
		_, err = f.Build(slog.New(slog.DiscardHandler))
		var ce *agentgateway.ConfigError
		require.True(t, errors.As(err, &ce), "%v", err)
		assert.Equal(t, "config.modelCatalog[0].file", ce.Path)
		assert.ErrorIs(t, err, want)
	}
}

// TestLLMGovernanceYAML: through config.Load, the llm short form's policies enforce API keys'
// allowedModels (403 in the client's format, filtered /v1/models; an empty list allows nothing), a
// token budget keyed by API key (429 in the client's format with Retry-After), and a conditional
// virtual model routes by header and by the caller's key metadata.
func TestLLMGovernanceYAML(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	srv, _ := serveLLMConfig(t, t.TempDir(), `
llm:
  models:
  - {name: fast, provider: openai, params: {model: small, baseUrl: $OPENAI_URL/v1, apiKey: k}}
  - {name: big, provider: openai, params: {model: large, baseUrl: $OPENAI_URL/v1, apiKey: k}}
  virtualModels:
  - name: auto
    routing:
      conditional:
        targets:
        - {when: 'request.headers["x-tier"] == "premium"', model: big}
        - {when: 'apiKey.team == "research"', model: big}
        - {model: fast}
  policies:
    apiKey:
      mode: strict
      keys:
      - {key: k-limited, metadata: {name: limited}, allowedModels: [fast, "au*"]}
      - {key: k-none, metadata: {name: none}, allowedModels: []}
      - {key: k-research, metadata: {name: research, team: research}}
    localRateLimit:
    - {maxTokens: 40, tokensPerFill: 40, fillInterval: 1h, type: tokens, key: 'apiKey.name'}
`, map[string]string{"OPENAI_URL": oa.URL})

	do := func(method, path, key, body string, hdr ...string) (int, http.Header, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, resp.Header, b.String()
	}
	chatBody := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}
	upstream := func() any { req, _, _ := oa.last(); return req["model"] }

	// allowedModels.
	status, _, body := do("POST", "/v1/chat/completions", "k-limited", chatBody("big"))
	assert.Equal(t, 403, status, body)
	assert.Contains(t, body, `"permission_error"`)
	status, _, body = do("POST", "/v1/messages", "k-none", `{"model":"fast","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	assert.Equal(t, 403, status, body)
	assert.Contains(t, body, `"type":"error"`, "an Anthropic client gets an Anthropic error")
	_, _, body = do("GET", "/v1/models", "k-limited", "")
	assert.Contains(t, body, `"fast"`)
	assert.Contains(t, body, `"auto"`)
	assert.NotContains(t, body, `"big"`)

	// Conditional routing: by header, by key metadata, else the default.
	status, _, body = do("POST", "/v1/chat/completions", "k-limited", chatBody("auto"), "X-Tier", "premium")
	require.Equal(t, 200, status, body)
	assert.Equal(t, "large", upstream())
	status, _, body = do("POST", "/v1/chat/completions", "k-limited", chatBody("auto"))
	require.Equal(t, 200, status, body)
	assert.Equal(t, "small", upstream())
	status, _, body = do("POST", "/v1/chat/completions", "k-research", chatBody("auto"))
	require.Equal(t, 200, status, body)
	assert.Equal(t, "large", upstream())

	// The token budget of k-limited (40; each call uses 5 tokens here) runs out; k-research has its own.
	var hdr http.Header
	for i := 0; i < 20 && status != 429; i++ {
		status, hdr, body = do("POST", "/v1/chat/completions", "k-limited", chatBody("fast"))
	}
	require.Equal(t, 429, status, body)
	assert.Contains(t, body, `"rate_limit_error"`)
	assert.NotEmpty(t, hdr.Get("Retry-After"))
	status, _, body = do("POST", "/v1/chat/completions", "k-research", chatBody("fast"))
	assert.Equal(t, 200, status, body)
}

// TestConditionalYAMLErrors: a condition that does not compile is reported at its path.
func TestConditionalYAMLErrors(t *testing.T) {
	for yaml, path := range map[string]string{
		"llm:\n  models:\n  - {name: g, provider: openai}\n  virtualModels:\n  - {name: v, routing: {conditional: {targets: [{when: 'true', model: g}, {when: 'nope(', model: g}]}}}\n": "llm.virtualModels[0].routing.conditional.targets[1].when",
		"llm:\n  models:\n  - {name: g, provider: openai}\n  virtualModels:\n  - {name: v, routing: {conditional: {targets: [{model: g}, {when: 'true', model: g}]}}}\n":                "llm.virtualModels[0].routing.conditional.targets[0].when",
		"llm:\n  models:\n  - {name: g, provider: openai}\n  virtualModels:\n  - {name: v, routing: {conditional: {targets: []}}}\n":                                                    "llm.virtualModels[0].routing.conditional.targets",
		"llm:\n  models:\n  - {name: g, provider: openai}\n  virtualModels:\n  - {name: v, routing: {conditional: {targets: [{model: g}]}, failover: {targets: [{model: g}]}}}\n":       "llm.virtualModels[0].routing",
	} {
		_, err := build(t, yaml, nil)
		var ce *agentgateway.ConfigError
		if assert.True(t, errors.As(err, &ce), "%s: %v", yaml, err) {
			assert.Equal(t, path, ce.Path, yaml)
		}
	}
}
