package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A route's backendTunnel applies to the route's backends (agentgateway's meaning of a backend policy
// on a route): each reaches its upstream through the CONNECT proxy, unless it sets its own.
func TestRouteBackendTunnelFromYAML(t *testing.T) {
	proxy, targets := connectProxy(t)
	other, otherTargets := connectProxy(t)
	up, up2 := echoUpstream(t, "up"), echoUpstream(t, "up2")
	url := servePorts(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - matches: [{path: {pathPrefix: /a}}]
      policies:
        backendTunnel: {proxy: {host: $PROXY}}
      backends:
      - host: $UP
    - matches: [{path: {pathPrefix: /b}}]
      policies:
        backendTunnel: {proxy: {host: $PROXY}}
      backends:
      - host: $UP2
        policies: {backendTunnel: {proxy: {host: $OTHER}}}
`, map[string]string{"UP": up, "UP2": up2, "PROXY": proxy, "OTHER": other})[3000]
	code, body := get(t, url+"/a", "")
	require.Equal(t, 200, code, body)
	assert.Equal(t, "up /a", body)
	assert.Equal(t, []string{up}, targets(), "the route's backend went through the route's tunnel")
	code, body = get(t, url+"/b", "")
	require.Equal(t, 200, code, body)
	assert.Equal(t, []string{up2}, otherTargets(), "a backend's own backendTunnel wins")
	assert.Len(t, targets(), 1)
}

func TestRouteBackendTunnelErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"a reference": {`
backends: [{name: b, host: "127.0.0.1:1"}]
binds: [{port: 3000, listeners: [{routes: [{policies: {backendTunnel: {proxy: {host: "127.0.0.1:2"}}}, backends: [{backend: b}]}]}]}]
`, `policies.backendTunnel: the route's backendTunnel cannot change how backend "b" connects`},
		"a backend that does not dial": {`
binds: [{port: 3000, listeners: [{routes: [{policies: {backendTunnel: {proxy: {host: "127.0.0.1:2"}}}, backends: [{dynamic: {}}]}]}]}]
`, `policies.backendTunnel: backendTunnel applies to host and service backends (how they connect), not to dynamic`},
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
