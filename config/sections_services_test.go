package config_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A service backend naming a service of the file is served by the healthy workloads that select it,
// each at its own target port; unhealthy workloads take no traffic.
func TestServicesAndWorkloadsServed(t *testing.T) {
	_, pa, _ := net.SplitHostPort(echoUpstream(t, "a"))
	_, pb, _ := net.SplitHostPort(echoUpstream(t, "b"))
	_, pc, _ := net.SplitHostPort(echoUpstream(t, "c"))
	url := servePorts(t, `
services:
- name: svc
  namespace: default
  hostname: svc.default.svc.cluster.local
  vips: ["/10.0.0.1"]
  ports: {80: 8080}
workloads:
- name: a
  namespace: default
  workloadIps: [127.0.0.1]
  services: {"default/svc.default.svc.cluster.local": {80: $PA}}
- name: b
  namespace: default
  workloadIps: [127.0.0.1]
  services: {"default/svc.default.svc.cluster.local": {80: $PB}}
- name: c
  namespace: default
  status: Unhealthy
  workloadIps: [127.0.0.1]
  services: {"default/svc.default.svc.cluster.local": {80: $PC}}
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - service: {name: default/svc.default.svc.cluster.local, port: 80}
`, map[string]string{"PA": pa, "PB": pb, "PC": pc})[3000]
	seen := map[string]int{}
	for range 40 {
		code, body := get(t, url+"/x", "")
		require.Equal(t, 200, code)
		seen[body]++
	}
	assert.Positive(t, seen["a /x"])
	assert.Positive(t, seen["b /x"])
	assert.Zero(t, seen["c /x"], "an unhealthy workload takes no traffic")
}

func TestServicesErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown service port": {`
services: [{name: s, namespace: ns, hostname: h, vips: [], ports: {80: 8080}}]
binds: [{port: 3000, listeners: [{routes: [{backends: [{service: {name: ns/h, port: 81}}]}]}]}]
`, `service ns/h has no port 81`},
		"workload names unknown service": {`
services: [{name: s, namespace: ns, hostname: h, vips: [], ports: {80: 8080}}]
workloads: [{name: w, namespace: ns, workloadIps: [10.0.0.1], services: {"ns/other": {80: 8080}}}]
`, `workloads[0].services.ns/other: no service "ns/other"`},
		"bad ip": {`
workloads: [{name: w, namespace: ns, workloadIps: [nope], services: {}}]
`, `workloads[0].workloadIps[0]: "nope" is not an IP address`},
		"mesh field": {`
workloads: [{name: w, namespace: ns, workloadIps: [10.0.0.1], services: {}, waypoint: {}}]
`, `workloads[0].waypoint: not supported yet`},
		"unknown field": {`
services: [{name: s, namespace: ns, hostname: h, bogus: 1}]
`, `services[0].bogus: unknown field`},
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
