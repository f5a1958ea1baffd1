package gwapi_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// startGRPC serves a gRPC server on a loopback port; it stops after the gateway (registered first,
// so cleaned up last).
func startGRPC(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// headerProcessor is an Envoy ext_proc server that sets x-processed on every request.
type headerProcessor struct {
	extprocv3.UnimplementedExternalProcessorServer
}

func (headerProcessor) Process(s grpc.BidiStreamingServer[extprocv3.ProcessingRequest, extprocv3.ProcessingResponse]) error {
	for {
		req, err := s.Recv()
		if err != nil {
			return nil
		}
		var resp *extprocv3.ProcessingResponse
		switch req.Request.(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			resp = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
				Response: &extprocv3.CommonResponse{HeaderMutation: &extprocv3.HeaderMutation{
					SetHeaders: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-processed", RawValue: []byte("yes")}}}}}}}}
		case *extprocv3.ProcessingRequest_RequestBody:
			resp = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}}
		case *extprocv3.ProcessingRequest_ResponseHeaders:
			resp = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}}}
		default:
			continue
		}
		if err := s.Send(resp); err != nil {
			return nil
		}
	}
}

// denyBob is an Envoy rate limit service over the limit for user=bob only.
type denyBob struct {
	rlsv3.UnimplementedRateLimitServiceServer
}

func (denyBob) ShouldRateLimit(_ context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	code := rlsv3.RateLimitResponse_OK
	for _, d := range req.GetDescriptors() {
		for _, e := range d.GetEntries() {
			if req.GetDomain() == "agents" && e.GetKey() == "user" && e.GetValue() == "bob" {
				code = rlsv3.RateLimitResponse_OVER_LIMIT
			}
		}
	}
	return &rlsv3.RateLimitResponse{OverallCode: code}, nil
}

// traffic.directResponse, traffic.extProc and traffic.rateLimit.global (the schema's
// directResponse, extProc and remoteRateLimit) on HTTPRoute rules, with a real ext_proc server and
// rate limit service, and backend.auth on the Gateway (every backend it reaches gets the key). A
// directResponse package config refuses is reported at its CRD path.
func TestTrafficDirectResponseExtProcGlobalRateLimit(t *testing.T) {
	ep := startGRPC(t, func(s *grpc.Server) { extprocv3.RegisterExternalProcessorServer(s, headerProcessor{}) })
	rls := startGRPC(t, func(s *grpc.Server) { rlsv3.RegisterRateLimitServiceServer(s, denyBob{}) })
	res, url := serveManifests(t, agwGateway+`
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: echo, namespace: infra}
spec: {static: {host: echo.infra, port: 80}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - name: direct
    matches: [{path: {type: PathPrefix, value: /direct}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  - name: proc
    matches: [{path: {type: PathPrefix, value: /proc}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  - name: limited
    matches: [{path: {type: PathPrefix, value: /limited}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: direct, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: direct}]
  traffic:
    directResponse: {status: 418, body: "short and stout"}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: proc, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: proc}]
  traffic:
    extProc: {host: "`+ep+`"}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: limited, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: limited}]
  traffic:
    rateLimit:
      global:
        host: "`+rls+`"
        domain: agents
        descriptors: [{entries: [{key: user, value: 'request.headers["x-user"]'}]}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: gw-key, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  backend:
    auth: {key: gw-key}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: bad-direct, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: direct}]
  traffic:
    directResponse: {status: "teapot"}
`, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "processed="+r.Header.Get("X-Processed")+" auth="+r.Header.Get("Authorization"))
	}))
	for _, name := range []string{"direct", "proc", "limited", "gw-key"} {
		requireAccepted(t, res, name)
	}
	requireRefused(t, res, "bad-direct", "Invalid", "traffic.directResponse.status")

	get := func(path, user string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		req.Header.Set("X-User", user)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/direct", "alice")
	require.Equal(t, http.StatusTeapot, code)
	require.Equal(t, "short and stout", strings.TrimSpace(body))
	code, body = get("/proc", "alice")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "processed=yes auth=Bearer gw-key", body, "extProc's header and the Gateway's backend.auth key")
	code, body = get("/limited", "alice")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "processed= auth=Bearer gw-key", body)
	code, _ = get("/limited", "bob")
	require.Equal(t, http.StatusTooManyRequests, code, "the rate limit service says bob is over the limit")
}
