package config_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// health.eviction.healthThreshold ejects an endpoint once its health score (a moving average of its
// outcomes, weight 0.3 on the newest, starting at 1) is below the threshold when it fails: with 0.5 a
// healthy endpoint that starts failing scores 1, 0.7, 0.49, so its third failure ejects it (not the
// fifth, the consecutive-failure default). restoreHealth is the score it gets back when its ejection
// ends: without it the score stays at 0.34 and the first failure ejects it again; with 0.9 it takes
// three failures once more.
func TestBackendHealthScoreEvictsAndRestores(t *testing.T) {
	run := func(eviction string) (first, again int32) {
		var g, b atomic.Int32
		url := servePorts(t, strings.Replace(healthYAML, "$HEALTH", "{eviction: "+eviction+"}", 1), map[string]string{
			"GOOD": statusUpstream(t, 200, &g), "BAD": statusUpstream(t, 500, &b),
		})[3000]
		burst := func() {
			for range 40 {
				code, _ := get(t, url+"/", "")
				require.Contains(t, []int{200, 500}, code)
			}
		}
		burst()
		first = b.Load()
		// Wait out the ejection (3s, long enough that a burst on a loaded machine ends inside it): the
		// next pick lets the endpoint back in. The second ejection lasts 6s, far longer than the burst.
		time.Sleep(3100 * time.Millisecond)
		burst()
		return first, b.Load() - first
	}
	first, again := run(`{healthThreshold: 0.5, duration: 3s}`)
	assert.Equal(t, int32(3), first, "ejected on the failure that finds the score under 0.5")
	assert.Equal(t, int32(1), again, "back with its score unchanged (0.34): one failure ejects it")
	first, again = run(`{healthThreshold: 0.5, restoreHealth: 0.9, duration: 3s}`)
	assert.Equal(t, int32(3), first)
	assert.Equal(t, int32(3), again, "back with score 0.9: 0.9, 0.63, 0.44 — the third failure ejects it")
	// consecutiveFailures and healthThreshold: whichever comes first.
	first, _ = run(`{healthThreshold: 0.5, consecutiveFailures: 2, duration: 1h}`)
	assert.Equal(t, int32(2), first)
}

func TestBackendHealthScoreErrors(t *testing.T) {
	for field, yaml := range map[string]string{
		"healthThreshold": `{healthThreshold: 1.5}`,
		"restoreHealth":   `{restoreHealth: -0.1}`,
	} {
		_, err := build(t, `
binds: [{port: 3000, listeners: [{routes: [{backends: [{host: "127.0.0.1:1", policies: {health: {eviction: `+yaml+`}}}]}]}]}]
`, nil)
		require.Error(t, err, field)
		assert.Contains(t, err.Error(), "policies.health.eviction."+field+": must be between 0.0 and 1.0")
	}
}
