package policy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func namedUpstream(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, name) }))
	t.Cleanup(s.Close)
	return s
}

func getBody(t *testing.T, url string, hdr ...string) string {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Requests with the same key reach the same endpoint of a backend and the same one of a route's
// weighted backends; different keys spread over all of them; requests without a key are balanced as
// usual; a second gateway (another replica) maps keys the same way.
func TestSessionAffinity(t *testing.T) {
	a, b, c := namedUpstream(t, "a"), namedUpstream(t, "b"), namedUpstream(t, "c")
	newFront := func() string {
		aff, err := policy.NewSessionAffinity(policy.SessionAffinityConfig{Source: `request.headers["x-session"]`})
		require.NoError(t, err)
		be, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Endpoints: []string{a.URL, b.URL, c.URL}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = be.Close() })
		x, y := namedUpstream(t, "x"), namedUpstream(t, "y")
		gw := agentgateway.New(agentgateway.WithAccessLog(false))
		require.NoError(t, gw.Route("eps").PathPrefix("/eps").Use(aff).To(be))
		require.NoError(t, gw.Route("split").PathPrefix("/split").Use(aff).ToWeighted(
			agentgateway.WeightedBackend{Name: "x", Handler: agentgateway.HTTP(x.URL), Weight: 1},
			agentgateway.WeightedBackend{Name: "y", Handler: agentgateway.HTTP(y.URL), Weight: 1}))
		front := httptest.NewServer(gw)
		t.Cleanup(front.Close)
		return front.URL
	}
	one, two := newFront(), newFront()
	for _, path := range []string{"/eps", "/split"} {
		seen := map[string]bool{}
		for i := range 40 {
			key := fmt.Sprintf("session-%d", i)
			first := getBody(t, one+path, "X-Session", key)
			for range 3 {
				assert.Equal(t, first, getBody(t, one+path, "X-Session", key), "%s %s", path, key)
			}
			assert.Equal(t, first, getBody(t, two+path, "X-Session", key), "another replica, same choice")
			seen[first] = true
		}
		want := 3
		if path == "/split" {
			want = 2
		}
		assert.Len(t, seen, want, "keys spread over every choice of %s", path)
		noKey := map[string]bool{}
		for range 60 {
			noKey[getBody(t, one+path)] = true
		}
		assert.Len(t, noKey, want, "requests without a key are balanced")
	}
	http.DefaultClient.CloseIdleConnections()
}
