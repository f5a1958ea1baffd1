package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A route delegating to a route group serves the group's routes under its own matches: a child
// outside the parent's path is unreachable, the parent's policies apply unless a child overrides
// them, and groups nest.
func TestRouteGroupsServed(t *testing.T) {
	a, b, c := echoUpstream(t, "a"), echoUpstream(t, "b"), echoUpstream(t, "c")
	url := servePorts(t, `
routeGroups:
- name: team
  routes:
  - name: one
    matches: [{path: {pathPrefix: /api/one}}]
    backends: [{host: $A}]
  - name: outside
    matches: [{path: {pathPrefix: /elsewhere}}]
    backends: [{host: $A}]
  - name: open
    matches: [{path: {exact: /api/open}}]
    policies: {apiKey: {keys: [{key: other}], mode: optional}}
    backends: [{host: $B}]
  - name: nested
    matches: [{path: {pathPrefix: /api/deep}}]
    backends: [{routeGroup: deep}]
- name: deep
  routes:
  - backends: [{host: $C}]
binds:
- port: 3000
  listeners:
  - routes:
    - name: parent
      matches: [{path: {pathPrefix: /api}}]
      policies: {apiKey: {keys: [{key: k1}], mode: strict}}
      backends: [{routeGroup: team}]
`, map[string]string{"A": a, "B": b, "C": c})[3000]
	code, _ := get(t, url+"/api/one/x", "")
	assert.Equal(t, 401, code, "the parent's apiKey applies")
	code, body := get(t, url+"/api/one/x", "", "Authorization", "Bearer k1")
	require.Equal(t, 200, code)
	assert.Equal(t, "a /api/one/x", body)
	code, _ = get(t, url+"/elsewhere", "", "Authorization", "Bearer k1")
	assert.Equal(t, 404, code, "a child outside the parent's path is unreachable")
	code, body = get(t, url+"/api/open", "")
	assert.Equal(t, 200, code, "the child's apiKey overrides the parent's")
	assert.Equal(t, "b /api/open", body)
	code, body = get(t, url+"/api/deep/1", "", "Authorization", "Bearer k1")
	assert.Equal(t, 200, code)
	assert.Equal(t, "c /api/deep/1", body)
	code, _ = get(t, url+"/api/none", "", "Authorization", "Bearer k1")
	assert.Equal(t, 404, code)
}

func TestRouteGroupErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown group": {`
binds: [{port: 3000, listeners: [{routes: [{backends: [{routeGroup: nosuch}]}]}]}]
`, `routes[0].backends[0].routeGroup: no route group "nosuch"`},
		"cycle": {`
routeGroups: [{name: g, routes: [{backends: [{routeGroup: g}]}]}]
binds: [{port: 3000, listeners: [{routes: [{backends: [{routeGroup: g}]}]}]}]
`, `route groups nest deeper than 8`},
		"not alone": {`
routeGroups: [{name: g, routes: [{backends: [{host: "127.0.0.1:1"}]}]}]
binds: [{port: 3000, listeners: [{routes: [{backends: [{routeGroup: g}, {host: "127.0.0.1:1"}]}]}]}]
`, `a routeGroup backend is the route's only backend`},
		"regex": {`
routeGroups: [{name: g, routes: [{matches: [{path: {regex: /a.*}}], backends: [{host: "127.0.0.1:1"}]}]}]
binds: [{port: 3000, listeners: [{routes: [{backends: [{routeGroup: g}]}]}]}]
`, `routeGroups[0].routes[0].matches[0].path: regex path matches cannot be combined`},
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
