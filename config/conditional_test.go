package config_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The schema's LocalConditionalPolicies form: the first entry whose condition holds applies, the
// entry without a condition is the fallback, and with no fallback a request no entry matches skips
// the policy.
func TestConditionalPolicies(t *testing.T) {
	var authzCalls atomic.Int32
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authzCalls.Add(1)
		if r.Header.Get("X-Deny") != "" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer authz.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("tier=" + r.Header.Get("X-Tier")))
	}))
	defer up.Close()
	url := serveConfig(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - matches: [{path: {pathPrefix: /authz}}]
      policies:
        extAuthz:
          conditional:
          - condition: 'request.headers["x-internal"] == "1"'
            host: $AUTHZ
            protocol: {http: {}}
            includeRequestHeaders: [x-deny]
      backends: [{host: $UP}]
    - policies:
        transformations:
          conditional:
          - condition: 'request.path.startsWith("/gold")'
            request: {set: {x-tier: '"gold"'}}
          - request: {set: {x-tier: '"basic"'}}
      backends: [{host: $UP}]
`, map[string]string{"AUTHZ": strings.TrimPrefix(authz.URL, "http://"), "UP": strings.TrimPrefix(up.URL, "http://")})

	code, body := get(t, url+"/gold/x", "")
	require.Equal(t, 200, code)
	assert.Equal(t, "tier=gold", body, "first matching entry")
	_, body = get(t, url+"/other", "")
	assert.Equal(t, "tier=basic", body, "fallback entry")

	code, _ = get(t, url+"/authz", "", "X-Deny", "1")
	assert.Equal(t, 200, code, "no entry matches: the policy is skipped")
	assert.Zero(t, authzCalls.Load())
	code, _ = get(t, url+"/authz", "", "X-Deny", "1", "X-Internal", "1")
	assert.Equal(t, 403, code, "the matching entry's authorizer decides")
	code, _ = get(t, url+"/authz", "", "X-Internal", "1")
	assert.Equal(t, 200, code)
	assert.Equal(t, int32(2), authzCalls.Load())
}

func TestConditionalPolicyErrors(t *testing.T) {
	for name, c := range map[string]struct{ policy, want string }{
		"fallback not last": {`transformations: {conditional: [{request: {set: {a: '"1"'}}}, {condition: "true", request: {set: {a: '"2"'}}}]}`,
			"policies.transformations.conditional[0].condition"},
		"extProc fallback not last": {`extProc: {conditional: [{host: "127.0.0.1:1"}, {condition: "true", host: "127.0.0.1:1"}]}`,
			"policies.extProc.conditional[0].condition"},
		"bad condition": {`delay: {conditional: [{condition: "1 +", duration: "1ms"}]}`, "policies.delay.conditional[0].condition"},
		"other fields":  {`extAuthz: {host: "127.0.0.1:1", conditional: []}`, "policies.extAuthz"},
		"entry error":   {`transformations: {conditional: [{condition: "true", request: {set: {a: "1 +"}}}]}`, "policies.transformations.conditional[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := build(t, "binds: [{port: 3000, listeners: [{routes: [{backends: [{host: \"127.0.0.1:1\"}], policies: {"+c.policy+"}}]}]}]", nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
