package config_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/config"
)

// inferenceRouting's failureMode (an extension, the Inference Extension's endpointPickerRef
// failureMode): with the picker down, failOpen serves from one of the service's workloads where the
// default, failClosed, answers 503; an unknown mode is refused at its path.
func TestInferenceRoutingFailureMode(t *testing.T) {
	a := echoUpstream(t, "a")
	_, pa, _ := net.SplitHostPort(a)
	yaml := func(mode string) string {
		return `
services:
- {name: models, namespace: default, hostname: models.default.svc.cluster.local, vips: [], ports: {8000: 8000}}
workloads:
- {name: a, namespace: default, workloadIps: [127.0.0.1], services: {"default/models.default.svc.cluster.local": {8000: $PA}}}
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - service: {name: default/models.default.svc.cluster.local, port: 8000}
        policies:
          inferenceRouting: {endpointPicker: {host: "127.0.0.1:1"}` + mode + `}
`
	}
	open := servePorts(t, yaml(", failureMode: failOpen"), map[string]string{"PA": pa})[3000]
	code, body := get(t, open+"/v1/completions", "")
	require.Equal(t, 200, code, body)
	assert.Equal(t, "a /v1/completions", body, "failOpen: a workload of the service serves")
	closed := servePorts(t, yaml(", failureMode: failClosed"), map[string]string{"PA": pa})[3000]
	code, _ = get(t, closed+"/v1/completions", "")
	assert.Equal(t, 503, code, "failClosed")

	f, err := config.Load([]byte(yaml(", failureMode: sometimes")), func(k string) (string, bool) { return pa, k == "PA" })
	if err == nil {
		_, err = f.Build(nil)
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), `inferenceRouting.failureMode: unknown mode "sometimes"`)
}

// A build that fails after it built an endpoint-picked backend closes that backend's picker
// connection (TestMain's goleak finds its goroutines otherwise).
func TestInferenceRoutingFailedBuildClosesPicker(t *testing.T) {
	f, err := config.Load([]byte(`
services: [{name: s, namespace: ns, hostname: h, vips: [], ports: {80: 80}}]
binds: [{port: 1, listeners: [{routes: [{backends: [
  {service: {name: ns/h, port: 80}, policies: {inferenceRouting: {endpointPicker: {host: "h:1"}, destinationMode: passthrough}}},
  {host: x, weight: -1}]}]}]}]
`), nil)
	require.NoError(t, err)
	_, err = f.Build(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "weight -1 must not be negative")
}
