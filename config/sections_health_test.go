package config_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// statusUpstream answers every request with status and counts them.
func statusUpstream(t *testing.T, status int, n *atomic.Int32) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, http.StatusText(status))
	}))
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	return port
}

const healthYAML = `
services:
- {name: s, namespace: ns, hostname: s.local, vips: [], ports: {80: 0}}
workloads:
- {name: good, namespace: ns, workloadIps: [127.0.0.1], services: {"ns/s.local": {80: $GOOD}}}
- {name: bad, namespace: ns, workloadIps: [127.0.0.1], services: {"ns/s.local": {80: $BAD}}}
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - service: {name: ns/s.local, port: 80}
        policies:
          health: $HEALTH
`

// health: an unhealthyExpression decides which responses count as failures, and
// eviction.consecutiveFailures of them take the endpoint out for eviction.duration.
func TestBackendHealthEvictsByExpression(t *testing.T) {
	run := func(health string) (good, bad int32) {
		var g, b atomic.Int32
		url := servePorts(t, strings.Replace(healthYAML, "$HEALTH", health, 1), map[string]string{
			"GOOD": statusUpstream(t, 200, &g), "BAD": statusUpstream(t, 418, &b),
		})[3000]
		for range 40 {
			code, _ := get(t, url+"/", "")
			require.Contains(t, []int{200, 418}, code)
		}
		return g.Load(), b.Load()
	}
	_, bad := run(`{unhealthyExpression: "response.code == 418", eviction: {consecutiveFailures: 2, duration: 1h}}`)
	assert.LessOrEqual(t, bad, int32(2), "evicted after two 418s")
	_, bad = run(`{eviction: {consecutiveFailures: 2, duration: 1h}}`)
	assert.Greater(t, bad, int32(2), "a 418 is not a failure by default (5xx is)")
}

func TestBackendHealthErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"bad expression": {`
binds: [{port: 3000, listeners: [{routes: [{backends: [{host: "127.0.0.1:1", policies: {health: {unhealthyExpression: "response.code +"}}}]}]}]}]
`, `policies.health.unhealthyExpression`},
		"not a host backend": {`
binds: [{port: 3000, listeners: [{routes: [{backends: [{dynamic: {}, policies: {health: {}}}]}]}]}]
`, `policies.health: health applies to host and service backends`},
		"on a reference": {`
backends: [{name: b, host: "127.0.0.1:1"}]
binds: [{port: 3000, listeners: [{routes: [{backends: [{backend: b, policies: {health: {}}}]}]}]}]
`, `put it on the definition of backend "b"`},
		"bad duration": {`
binds: [{port: 3000, listeners: [{routes: [{backends: [{host: "127.0.0.1:1", policies: {health: {eviction: {duration: soon}}}}]}]}]}]
`, `policies.health.eviction.duration`},
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
