package llm_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// TestActiveHealthValidation: an invalid active check is a configuration error naming the model and
// matching ErrActiveHealth; zero fields take the defaults.
func TestActiveHealthValidation(t *testing.T) {
	for _, c := range []llm.ActiveHealthCheck{
		{Path: "health"},
		{Interval: -time.Second},
		{Timeout: -time.Second},
		{HealthyThreshold: -1},
		{UnhealthyThreshold: -1},
		{ExpectedStatuses: []int{200, 42}},
	} {
		_, err := llm.New(llm.Model("m", llm.OpenAI(llm.APIKey("k")), llm.ActiveHealth(c)))
		require.Error(t, err, c)
		assert.ErrorIs(t, err, llm.ErrActiveHealth, c)
		assert.Contains(t, err.Error(), `"m"`)
	}
	_, err := llm.New(llm.Model("m", llm.OpenAI(llm.APIKey("k")), llm.ActiveHealth(llm.ActiveHealthCheck{})))
	require.NoError(t, err)
}

// TestActiveHealthProbesOnlyWhileProvisioned: a router probes nothing until a gateway provisions it,
// probes its provider's /health (at the host, not under the base path) once it is, and stops when
// closed; Close is idempotent and works on a router never provisioned.
func TestActiveHealthProbesOnlyWhileProvisioned(t *testing.T) {
	var probes atomic.Int32
	var path atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		path.Store(r.URL.Path)
	}))
	defer up.Close()
	newRouter := func() *llm.Router {
		r, err := llm.New(llm.Model("m", llm.OpenAICompatible("vllm", up.URL+"/v1"), llm.ActiveHealth(llm.ActiveHealthCheck{Interval: 10 * time.Millisecond})))
		require.NoError(t, err)
		return r
	}
	idle := newRouter()
	require.NoError(t, idle.Close())
	require.NoError(t, idle.Close())
	assert.Zero(t, probes.Load(), "an unprovisioned router probes nothing")

	r := newRouter()
	require.NoError(t, r.Provision(agentgateway.Services{}))
	require.Eventually(t, func() bool { return probes.Load() >= 2 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, "/health", path.Load())
	require.NoError(t, r.Close())
	n := probes.Load()
	require.NoError(t, r.Provision(agentgateway.Services{}), "a closed router does not start again")
	time.Sleep(50 * time.Millisecond) // a restarted loop would probe at once (and goleak would see it)
	assert.Equal(t, n, probes.Load())
}
