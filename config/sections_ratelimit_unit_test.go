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

// localRateLimit's short form (agentgateway's examples/ratelimiting/local: type requests, limit 50,
// unit seconds) is `limit` requests per unit, in the list and the conditional form.
func TestLocalRateLimitLimitUnit(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	host := strings.TrimPrefix(up.URL, "http://")
	for name, pol := range map[string]string{
		"list":        `[{type: requests, limit: 2, unit: minutes}]`,
		"conditional": `{conditional: [{condition: "true", limit: 2, unit: Minute}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			url := serveConfig(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        localRateLimit: `+pol+`
      backends: [{host: `+host+`}]
`, nil)
			var codes []int
			for range 3 {
				resp, err := http.Get(url + "/")
				require.NoError(t, err)
				resp.Body.Close()
				codes = append(codes, resp.StatusCode)
			}
			assert.Equal(t, []int{200, 200, 429}, codes, "two per minute")
		})
	}
	for pol, want := range map[string]string{
		`[{limit: 5, unit: fortnights}]`:                    "localRateLimit[0].unit",
		`[{limit: 5}]`:                                      "localRateLimit[0].unit",
		`[{unit: seconds}]`:                                 "localRateLimit[0].limit",
		`[{limit: 5, unit: seconds, fillInterval: 1s}]`:     "localRateLimit[0]",
		`{conditional: [{condition: "true", unit: hours}]}`: "localRateLimit.conditional[0].limit",
	} {
		f, err := config.Load([]byte(`
binds: [{port: 3000, listeners: [{routes: [{policies: {localRateLimit: `+pol+`}, backends: [{host: "127.0.0.1:1"}]}]}]}]
`), nil)
		if err == nil {
			_, err = f.Build(nil)
		}
		require.Error(t, err, pol)
		assert.Contains(t, err.Error(), want, pol)
	}
}
