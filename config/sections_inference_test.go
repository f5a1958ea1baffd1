package config_test

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/inference"
)

// headerEPP is an endpoint picker (Envoy ext_proc, the Endpoint Picker Protocol) that sends each
// request to the endpoint its x-want header names, once the request's body is in.
type headerEPP struct {
	extprocv3.UnimplementedExternalProcessorServer
	endpoints map[string]string // x-want -> ip:port
	picks     atomic.Int32
}

func (e *headerEPP) Process(s grpc.BidiStreamingServer[extprocv3.ProcessingRequest, extprocv3.ProcessingResponse]) error {
	var want string
	for {
		req, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch m := req.Request.(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			for _, h := range m.RequestHeaders.GetHeaders().GetHeaders() {
				if strings.EqualFold(h.Key, "x-want") {
					want = string(h.RawValue) + h.Value
				}
			}
			if !m.RequestHeaders.GetEndOfStream() {
				continue
			}
		case *extprocv3.ProcessingRequest_RequestBody:
			if !m.RequestBody.GetEndOfStream() {
				continue
			}
		}
		e.picks.Add(1)
		dest := e.endpoints[want]
		hdr := &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: inference.DestinationKey, RawValue: []byte(dest)}}}}
		if err := s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
			RequestHeaders: &extprocv3.HeadersResponse{Response: &extprocv3.CommonResponse{HeaderMutation: hdr}}}}); err != nil {
			return err
		}
	}
}

// TestInferenceRoutingFromYAML: agentgateway's llm-standalone-epp mode. A service backend with
// inferenceRouting asks the endpoint picker which of the service's workloads serves each request and
// honours its choice; a choice outside the service is refused; with the picker down, requests fail
// closed (503).
func TestInferenceRoutingFromYAML(t *testing.T) {
	a, b := echoUpstream(t, "a"), echoUpstream(t, "b")
	_, pa, _ := net.SplitHostPort(a)
	_, pb, _ := net.SplitHostPort(b)
	epp := &headerEPP{endpoints: map[string]string{"a": a, "b": b, "stranger": "127.0.0.1:1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(srv, epp)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	yaml := `
services:
- {name: models, namespace: default, hostname: models.default.svc.cluster.local, vips: [], ports: {8000: 8000}}
workloads:
- {name: a, namespace: default, workloadIps: [127.0.0.1], services: {"default/models.default.svc.cluster.local": {8000: $PA}}}
- {name: b, namespace: default, workloadIps: [127.0.0.1], services: {"default/models.default.svc.cluster.local": {8000: $PB}}}
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - service: {name: default/models.default.svc.cluster.local, port: 8000}
        policies:
          inferenceRouting: {endpointPicker: {host: $EPP}, destinationMode: validated}
`
	url := servePorts(t, yaml, map[string]string{"PA": pa, "PB": pb, "EPP": ln.Addr().String()})[3000]
	for _, want := range []string{"a", "b", "a", "b", "b"} {
		code, body := get(t, url+"/v1/completions", "", "X-Want", want)
		require.Equal(t, 200, code, body)
		assert.Equal(t, want+" /v1/completions", body, "the picker's choice is honoured")
	}
	assert.Equal(t, int32(5), epp.picks.Load())
	code, _ := get(t, url+"/v1/completions", "", "X-Want", "stranger")
	assert.Equal(t, 503, code, "an endpoint outside the service is refused")

	down := servePorts(t, yaml, map[string]string{"PA": pa, "PB": pb, "EPP": "127.0.0.1:1"})[3000]
	code, _ = get(t, down+"/v1/completions", "", "X-Want", "a")
	assert.Equal(t, 503, code, "picker down: fail closed")
}

func TestInferenceRoutingErrors(t *testing.T) {
	for name, c := range map[string]struct{ yaml, want string }{
		"passthrough": {`
services: [{name: s, namespace: ns, hostname: h, vips: [], ports: {80: 80}}]
binds: [{port: 3000, listeners: [{routes: [{backends: [{service: {name: ns/h, port: 80}, policies: {inferenceRouting: {endpointPicker: {host: "127.0.0.1:9002"}, destinationMode: passthrough}}}]}]}]}]
`, `inferenceRouting.destinationMode: not supported yet`},
		"service without workloads": {`
services: [{name: s, namespace: ns, hostname: h, vips: [], ports: {80: 80}}]
binds: [{port: 3000, listeners: [{routes: [{backends: [{service: {name: ns/h, port: 80}, policies: {inferenceRouting: {endpointPicker: {host: "127.0.0.1:9002"}}}}]}]}]}]
`, `inferenceRouting: service ns/h has no workloads`},
		"host backend": {`
binds: [{port: 3000, listeners: [{routes: [{backends: [{host: "127.0.0.1:80", policies: {inferenceRouting: {endpointPicker: {host: "127.0.0.1:9002"}}}}]}]}]}]
`, `inferenceRouting applies to service backends`},
		"no picker": {`
binds: [{port: 3000, listeners: [{routes: [{backends: [{host: "127.0.0.1:80", policies: {inferenceRouting: {endpointPicker: {}}}}]}]}]}]
`, `inferenceRouting.endpointPicker: set one of host, service, backend`},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := config.Load([]byte(c.yaml), nil)
			if err == nil {
				_, err = f.Build(nil)
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
