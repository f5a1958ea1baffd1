package policy_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/policy"
)

// A gateway closes a retired configuration's mirror when its requests have drained or the drain
// deadline passed; a straggling request must not start a mirror then (it would race Close's wait, and
// outlive the Close that promised to wait for it).
func TestMirrorAfterCloseIsDropped(t *testing.T) {
	var calls atomic.Int32
	target := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) })
	m, err := policy.NewMirror(policy.MirrorConfig{Percentage: 1}, target)
	require.NoError(t, err)
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))

	// Requests racing Close (the race detector flags a start that is not ordered against Close's wait).
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)) })
	}
	require.NoError(t, m.Close())
	wg.Wait()
	require.NoError(t, m.Close()) // waits for any mirror those started before the first Close
	before, dropped := calls.Load(), m.Dropped()

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/late", nil))
	assert.Equal(t, http.StatusNoContent, w.Code, "the request itself is served")
	require.NoError(t, m.Close())
	assert.Equal(t, before, calls.Load(), "no mirror after Close")
	assert.Equal(t, dropped+1, m.Dropped(), "the late mirror counts as dropped")
	assert.Equal(t, int32(8), calls.Load()+int32(m.Dropped())-1, "every request was mirrored or dropped")
}
