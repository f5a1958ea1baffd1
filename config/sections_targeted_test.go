package config_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Top-level policies attach by target: a gateway-phase policy on a gateway runs before every route
// attached to it; a route-target policy merges under the route's own policies (the route's key wins).
func TestTargetedPoliciesServed(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("X-Q"))
	}))
	t.Cleanup(up.Close)
	url := servePorts(t, `
gateways: {default: {port: 3000}}
policies:
- name: gw-key
  target: {gateway: {gatewayName: default, gatewayNamespace: default}}
  phase: gateway
  policy: {apiKey: {keys: [{key: k1}], mode: strict}}
- name: route-headers
  target: {route: {name: r, namespace: ""}}
  policy:
    responseHeaderModifier: {set: {x-p: targeted}}
    requestHeaderModifier: {set: {x-q: targeted}}
routes:
- name: r
  policies: {requestHeaderModifier: {set: {x-q: inline}}}
  backends: [{host: $UP}]
`, map[string]string{"UP": strings.TrimPrefix(up.URL, "http://")})[3000]
	code, _ := get(t, url+"/", "")
	assert.Equal(t, 401, code, "the gateway-phase apiKey")
	req, _ := http.NewRequest("GET", url+"/", nil)
	req.Header.Set("Authorization", "Bearer k1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "targeted", resp.Header.Get("X-P"), "the targeted responseHeaderModifier")
	assert.Equal(t, "inline", string(b), "the route's own requestHeaderModifier wins")
}

func TestTargetedPolicyErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"no route": {`
policies: [{name: p, target: {route: {name: nosuch, namespace: ns}}, policy: {cors: {}}}]
`, `policies[0].target.route: no route named "nosuch"`},
		"no gateway": {`
policies: [{name: p, target: {gateway: {gatewayName: g, gatewayNamespace: ns}}, phase: gateway, policy: {cors: {}}}]
`, `policies[0].target.gateway: no gateway named "g"`},
		"backend target": {`
policies: [{name: p, target: {backend: {backend: {name: b, namespace: ns}}}, policy: {cors: {}}}]
`, `policies[0].target: not supported yet (policies: `},
		"route phase on gateway": {`
gateways: {default: {port: 3000}}
policies: [{name: p, target: {gateway: {gatewayName: default, gatewayNamespace: ns}}, policy: {cors: {}}}]
`, `policies[0].phase: not supported yet`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rt, err := build(t, c.yaml, nil)
			if rt != nil {
				_ = rt.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
