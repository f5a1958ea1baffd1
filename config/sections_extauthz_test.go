package config_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// TestExtAuthzExtrasFromYAML: an HTTP authorizer sees the (partial) body, its answer becomes
// extauthz.* through protocol.http.metadata, a later transformation reads extauthz.*, a rule reads
// form(request.body), and decisions are cached by the key for the TTL.
func TestExtAuthzExtrasFromYAML(t *testing.T) {
	var checks atomic.Int32
	var mu sync.Mutex
	var authzBody string
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks.Add(1)
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		authzBody = string(b)
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(403)
			_, _ = io.WriteString(w, "denied")
			return
		}
		w.Header().Set("X-Team", "search")
		_, _ = io.WriteString(w, `{"user":"alice"}`)
	}))
	defer authz.Close()
	var upstreamUser, upstreamBody atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		upstreamUser.Store(r.Header.Get("X-User"))
		upstreamBody.Store(string(b))
	}))
	defer up.Close()
	rt, err := build(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        extAuthz:
          host: $AUTHZ
          protocol:
            http:
              metadata:
                user: 'json(response.body).user'
                team: 'response.headers["x-team"]'
          includeRequestBody: {maxRequestBytes: 8, allowPartialMessage: true}
          cache:
            key: ['request.headers["authorization"]']
            ttl: 'duration("60s")'
        transformations:
          request:
            set:
              x-user: 'extauthz.user + "@" + extauthz.team'
        authorization:
          rules: ['form(request.body).action == "read"']
      backends: [{host: $UP}]
`, map[string]string{"AUTHZ": authz.URL, "UP": strings.TrimPrefix(up.URL, "http://")})
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, gw.Apply(rt.Config))
	srv := httptest.NewServer(gw.PortHandler(3000))
	defer srv.Close()
	call := func(token, body string) int {
		r, _ := http.NewRequest("POST", srv.URL+"/x", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, 200, call("good", "action=read&item=42"))
	assert.Equal(t, "alice@search", upstreamUser.Load())
	assert.Equal(t, "action=read&item=42", upstreamBody.Load(), "the body reaches the upstream unchanged")
	mu.Lock()
	assert.Equal(t, "action=r", authzBody, "the first maxRequestBytes bytes")
	mu.Unlock()
	require.Equal(t, 200, call("good", "action=read"))
	assert.Equal(t, "alice@search", upstreamUser.Load(), "a cached decision sets extauthz too")
	assert.EqualValues(t, 1, checks.Load(), "second request answered from the cache")
	assert.Equal(t, 403, call("good", "action=write"), "the rule on form(request.body)")
	assert.Equal(t, 403, call("bad", "action=read"))
	assert.EqualValues(t, 2, checks.Load())
}
