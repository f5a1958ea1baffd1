package gwapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// headerEPP picks the endpoint a request names in its x-pick header (an index into the subset).
type headerEPP struct {
	extprocv3.UnimplementedExternalProcessorServer
}

func (headerEPP) Process(s grpc.BidiStreamingServer[extprocv3.ProcessingRequest, extprocv3.ProcessingResponse]) error {
	var pick string
	for {
		req, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		h := req.GetRequestHeaders()
		if h == nil {
			continue
		}
		for _, hv := range h.GetHeaders().GetHeaders() {
			if hv.GetKey() == "x-pick" {
				pick = string(hv.GetRawValue())
			}
		}
		subset := req.GetMetadataContext().GetFilterMetadata()["envoy.lb.subset_hint"].GetFields()["x-gateway-destination-endpoint-subset"].GetListValue().GetValues()
		var i int
		_, _ = fmt.Sscan(pick, &i)
		dest := subset[i%len(subset)].GetStringValue()
		if err := s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
			Response: &extprocv3.CommonResponse{HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
				{Header: &corev3.HeaderValue{Key: "x-gateway-destination-endpoint", RawValue: []byte(dest)}}}}}}}}); err != nil {
			return err
		}
	}
}

const poolManifests = agwGateway + `
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llm, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{group: inference.networking.k8s.io, kind: InferencePool, name: vllm}]
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: vllm, namespace: infra}
spec:
  selector: {matchLabels: {app: vllm}}
  targetPorts: [{number: 8000}]
  endpointPickerRef: {name: vllm-epp, port: {number: 9002}, failureMode: %s}
---
apiVersion: v1
kind: Service
metadata: {name: vllm-epp, namespace: infra}
spec: {ports: [{name: grpc, port: 9002}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: vllm-epp, namespace: infra, labels: {kubernetes.io/service-name: vllm-epp}}
addressType: IPv4
ports: [{name: grpc, port: 9002}]
endpoints: [{addresses: [10.9.9.9]}]
---
apiVersion: v1
kind: Pod
metadata: {name: vllm-0, namespace: infra, labels: {app: vllm}}
spec: {containers: [{name: m, image: m}]}
status: {podIP: 10.0.0.1, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: vllm-1, namespace: infra, labels: {app: vllm}}
spec: {containers: [{name: m, image: m}]}
status: {podIP: 10.0.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: vllm-2, namespace: infra, labels: {app: vllm}}
spec: {containers: [{name: m, image: m}]}
status: {podIP: 10.0.0.3, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: not-ready, namespace: infra, labels: {app: vllm}}
spec: {containers: [{name: m, image: m}]}
status: {podIP: 10.0.0.4, conditions: [{type: Ready, status: "False"}]}
`

// An HTTPRoute whose backendRef is an InferencePool sends each request to the Pod the pool's endpoint
// picker (reached through its Service's endpoints) chooses; with the picker down, FailOpen still
// serves from a ready Pod and FailClose answers 503.
func TestInferencePoolBackend(t *testing.T) {
	servers := map[string]string{} // pod address -> stub address
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("vllm-%d", i-1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) }))
		t.Cleanup(srv.Close)
		servers[fmt.Sprintf("10.0.0.%d:8000", i)] = srv.Listener.Addr().String()
	}
	eppLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(g, headerEPP{})
	go func() { _ = g.Serve(eppLn) }()
	defer g.Stop()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		real := servers[addr]
		if addr == "10.9.9.9:9002" {
			real = eppLn.Addr().String()
		}
		if real == "" {
			return nil, fmt.Errorf("dial %s: connection refused", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, real)
	}
	serve := func(mode string) func(pick string) (int, string) {
		snap, err := gwapi.DecodeManifests(strings.NewReader(fmt.Sprintf(poolManifests, mode)))
		require.NoError(t, err)
		res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", DialContext: dial, Logger: slog.New(slog.DiscardHandler)})
		require.Equal(t, "True", string(routeCond(t, res, "infra", "llm", "ResolvedRefs").Status))
		gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
		t.Cleanup(func() { _ = gw.Close() })
		require.NoError(t, gw.Apply(res.Configs[types.NamespacedName{Namespace: "infra", Name: "gw"}]))
		return func(pick string) (int, string) {
			req := httptest.NewRequest(http.MethodPost, "http://gw/v1/completions", strings.NewReader(`{"model":"m"}`))
			req.Header.Set("x-pick", pick)
			rec := httptest.NewRecorder()
			gw.PortHandler(8080).ServeHTTP(rec, req)
			return rec.Code, rec.Body.String()
		}
	}
	closed, open := serve("FailClose"), serve("FailOpen")
	for pick, want := range map[string]string{"0": "vllm-0", "1": "vllm-1", "2": "vllm-2"} {
		code, body := closed(pick)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, want, body, "the picker's choice is honoured")
	}
	g.Stop() // the picker goes down: its connections close and new ones are refused
	code, _ := closed("0")
	require.Equal(t, http.StatusServiceUnavailable, code, "FailClose with the picker down")
	code, body := open("0")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, []string{"vllm-0", "vllm-1", "vllm-2"}, body, "FailOpen serves from a ready Pod, never the unready one")
}
