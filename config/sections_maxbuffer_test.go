package config_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frontendPolicies.http.maxBufferSize bounds the body CEL's request.body buffers (its own default is
// 2 MiB): an authorization rule reading the body answers 413 for a body over it.
func TestFrontendMaxBufferSizeBoundsCELBody(t *testing.T) {
	up := echoUpstream(t, "up")
	run := func(frontend, body string) int {
		url := servePorts(t, frontend+`
binds:
- port: 3000
  listeners:
  - routes:
    - policies: {authorization: {rules: ['request.body.contains("ok")']}}
      backends: [{host: $UP}]
`, map[string]string{"UP": up})[3000]
		req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
		require.NoError(t, err)
		code, _ := send(t, req)
		return code
	}
	big := "ok" + strings.Repeat("x", 1000)
	bounded := "frontendPolicies: {http: {maxBufferSize: 64}}"
	assert.Equal(t, 200, run("", big), "within the 2 MiB default")
	assert.Equal(t, 413, run(bounded, big), "over maxBufferSize")
	assert.Equal(t, 200, run(bounded, "ok small"), "within maxBufferSize")
}
