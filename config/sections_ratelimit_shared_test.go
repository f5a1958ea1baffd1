package config_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/config"
)

// A limit naming a shared bucket counts against one bucket on every route that names it, beside
// the route's own limits; the same name with other settings is refused at its path.
func TestLocalRateLimitSharedBucket(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	host := strings.TrimPrefix(up.URL, "http://")
	url := serveConfig(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - matches: [{path: {pathPrefix: /a}}]
      policies:
        localRateLimit: [{maxTokens: 3, tokensPerFill: 3, fillInterval: 1h, shared: gw}]
      backends: [{host: `+host+`}]
    - matches: [{path: {pathPrefix: /b}}]
      policies:
        localRateLimit: [{maxTokens: 1, tokensPerFill: 1, fillInterval: 1h}, {maxTokens: 3, tokensPerFill: 3, fillInterval: 1h, shared: gw}]
      backends: [{host: `+host+`}]
`, nil)
	var codes []int
	for _, p := range []string{"/a", "/b", "/b", "/a", "/a"} {
		resp, err := http.Get(url + p)
		require.NoError(t, err)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	// /b's own limit refuses its second request before the shared bucket is charged.
	assert.Equal(t, []int{200, 200, 429, 200, 429}, codes)

	f, err := config.Load([]byte(`
binds: [{port: 3000, listeners: [{routes: [
  {policies: {localRateLimit: [{maxTokens: 3, tokensPerFill: 3, fillInterval: 1h, shared: gw}]}, backends: [{host: "127.0.0.1:1"}]},
  {policies: {localRateLimit: [{maxTokens: 1, tokensPerFill: 1, fillInterval: 1h}, {maxTokens: 4, tokensPerFill: 4, fillInterval: 1h, shared: gw}]}, backends: [{host: "127.0.0.1:1"}]}]}]}]
`), nil)
	require.NoError(t, err)
	_, err = f.Build(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "localRateLimit[1].shared")
	assert.Contains(t, err.Error(), `bucket "gw" is named by another limit with different settings`)
}
