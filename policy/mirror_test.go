package policy_test

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func TestMirror(t *testing.T) {
	var mu sync.Mutex
	var got []string
	release := make(chan struct{})
	target := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // a slow mirror backend
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		w.WriteHeader(500) // failures never surface
	})
	m, err := policy.NewMirror(policy.MirrorConfig{Percentage: 1, MaxConcurrent: 1}, target)
	require.NoError(t, err)
	var s seen
	w := do(m, s.Handler(200, "main"), reqBody("POST", "/a", "payload"))
	assert.Equal(t, 200, w.Code, "the main request finished while the mirror is blocked")
	assert.Equal(t, "payload", s.Body, "the main request still gets its body")
	w = do(m, s.Handler(200, "main"), reqBody("POST", "/b", "second"))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, int64(1), m.Dropped(), "bounded: the second mirror was dropped")
	close(release)
	require.NoError(t, m.Close())
	assert.Equal(t, []string{"POST /a payload"}, got)

	none, err := policy.NewMirror(policy.MirrorConfig{Percentage: 0}, target)
	require.NoError(t, err)
	do(none, s.Handler(200, ""), req("GET", "/"))
	require.NoError(t, none.Close())
	assert.Len(t, got, 1)

	_, err = policy.NewMirror(policy.MirrorConfig{Percentage: 1.5}, target)
	var ce *agentgateway.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "percentage", ce.Path)
}
