package config_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probedLLM is an OpenAI-compatible stub whose chat always answers (so real traffic never evicts
// it) and whose /health answers 200 or 503 as set; it records the probes it gets.
type probedLLM struct {
	*httptest.Server
	healthy atomic.Bool
	probes  atomic.Int32
	mu      sync.Mutex
	probeUA string
}

func newProbedLLM(t *testing.T, name string) *probedLLM {
	p := &probedLLM{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			p.probes.Add(1)
			p.mu.Lock()
			p.probeUA = r.Header.Get("User-Agent")
			p.mu.Unlock()
			if !p.healthy.Load() {
				w.WriteHeader(503)
			}
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"from %s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, name)
	}))
	t.Cleanup(p.Close)
	return p
}

// TestLLMActiveHealthFromYAML: llm.models[].health.active probes each provider's /health (at its
// host, not under the baseUrl path) while the gateway serves; a provider failing unhealthyThreshold
// probes is evicted, so the virtual model fails over to the healthy one although the evicted one
// still answers chat; once its probes pass again it takes the traffic back.
func TestLLMActiveHealthFromYAML(t *testing.T) {
	a, b := newProbedLLM(t, "a"), newProbedLLM(t, "b")
	b.healthy.Store(true)
	yaml := `
llm:
  port: 4101
  models:
  - name: qwen-a
    visibility: internal
    provider: {custom: {formats: [{type: completions}]}}
    params: {baseUrl: $A/v1, model: Qwen}
    health:
      eviction: {duration: 30s, restoreHealth: 1.0}
      active: {path: /health, interval: 20ms, timeout: 1s, unhealthyThreshold: 2, healthyThreshold: 1}
  - name: qwen-b
    visibility: internal
    provider: {custom: {formats: [{type: completions}]}}
    params: {baseUrl: $B/v1, model: Qwen}
    health:
      active: {interval: 20ms}
  virtualModels:
  - name: qwen
    routing:
      failover:
        targets:
        - {model: qwen-a, priority: 0}
        - {model: qwen-b, priority: 1}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"A": a.URL, "B": b.URL})
	ask := func() string {
		status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"qwen","messages":[{"role":"user","content":"hi"}]}`)
		require.Equal(t, 200, status, body)
		return body
	}
	// a fails its probes: after two of them it is evicted and b answers.
	require.Eventually(t, func() bool { return a.probes.Load() >= 3 && strings.Contains(ask(), "from b") }, 20*time.Second, 10*time.Millisecond)
	a.mu.Lock()
	assert.Equal(t, "agentgateway-health-check", a.probeUA)
	a.mu.Unlock()
	assert.NotZero(t, b.probes.Load(), "b is probed with the defaults but its interval")

	// a recovers: one passing probe lets it back in, although eviction.duration is 30s.
	a.healthy.Store(true)
	require.Eventually(t, func() bool { return strings.Contains(ask(), "from a") }, 20*time.Second, 10*time.Millisecond)
}

// TestLLMActiveHealthErrors: bad active checks are refused at their field, and active on a backend
// that is not a model entry is refused with the reason.
func TestLLMActiveHealthErrors(t *testing.T) {
	model := func(active string) string {
		return "llm:\n  models:\n  - {name: g, provider: openai, health: {active: " + active + "}}\n"
	}
	for yaml, path := range map[string]string{
		model("{path: health}"):                "llm.models[0].health.active.path",
		model("{interval: 0s}"):                "llm.models[0].health.active.interval",
		model("{timeout: -1s}"):                "llm.models[0].health.active.timeout",
		model("{unhealthyThreshold: 0}"):       "llm.models[0].health.active.unhealthyThreshold",
		model("{healthyThreshold: 0}"):         "llm.models[0].health.active.healthyThreshold",
		model("{expectedStatuses: [200, 42]}"): "llm.models[0].health.active.expectedStatuses",
		model("{pth: /h}"):                     "llm.models[0].health.active.pth",
		"llm:\n  models:\n  - {name: g, provider: openai, health: {eviction: {restoreHealth: 0.5}}}\n":               "llm.models[0].health.eviction.restoreHealth",
		"binds: [{port: 1, listeners: [{routes: [{backends: [{host: 'h:1', policies: {health: {active: {}}}}]}]}]}]": "backends[0].policies.health.active",
	} {
		_, err := build(t, yaml, nil)
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), path, yaml)
	}
	_, err := build(t, model("{}"), nil)
	require.NoError(t, err, "every field has a default")
}
