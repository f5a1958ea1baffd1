package config_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// testProcessor is an Envoy ext_proc server driven by the request's x-case header:
//   - deny: an immediate 403 with a body;
//   - hang: never answers (until the gateway ends the stream);
//   - otherwise it sets x-processed and removes x-secret on the request, replaces a request body
//     containing "secret" with "redacted", and sets x-resp-processed on the response.
type testProcessor struct {
	extprocv3.UnimplementedExternalProcessorServer
	mu       sync.Mutex
	metadata map[string]any
	open     int
	seen     int           // request header messages
	ended    chan struct{} // a hung stream's context was cancelled
}

func (p *testProcessor) streams() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *testProcessor) Process(s grpc.BidiStreamingServer[extprocv3.ProcessingRequest, extprocv3.ProcessingResponse]) error {
	for {
		req, err := s.Recv()
		if err != nil {
			return nil
		}
		var resp *extprocv3.ProcessingResponse
		switch m := req.Request.(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			p.mu.Lock()
			p.seen++
			p.mu.Unlock()
			if md := req.GetMetadataContext().GetFilterMetadata()["test"]; md != nil {
				p.mu.Lock()
				p.metadata = md.AsMap()
				p.mu.Unlock()
			}
			var testCase string
			for _, h := range m.RequestHeaders.GetHeaders().GetHeaders() {
				if h.GetKey() == "x-case" {
					testCase = string(h.GetRawValue())
				}
			}
			switch testCase {
			case "deny":
				resp = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
					Status:  &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
					Headers: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-reason", RawValue: []byte("policy")}}}},
					Body:    []byte("denied by processor")}}}
			case "hang":
				p.mu.Lock()
				p.open++
				p.mu.Unlock()
				<-s.Context().Done()
				p.ended <- struct{}{}
				return nil
			default:
				resp = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
					Response: &extprocv3.CommonResponse{HeaderMutation: &extprocv3.HeaderMutation{
						SetHeaders:    []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-processed", RawValue: []byte("yes")}}},
						RemoveHeaders: []string{"x-secret"}}}}}}
			}
		case *extprocv3.ProcessingRequest_RequestBody:
			common := &extprocv3.CommonResponse{}
			if strings.Contains(string(m.RequestBody.GetBody()), "secret") {
				common.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: []byte("redacted")}}
			}
			resp = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{Response: common}}}
		case *extprocv3.ProcessingRequest_ResponseHeaders:
			resp = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{
				Response: &extprocv3.CommonResponse{HeaderMutation: &extprocv3.HeaderMutation{
					SetHeaders: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-resp-processed", RawValue: []byte("yes")}}}}}}}}
		default:
			continue
		}
		if err := s.Send(resp); err != nil {
			return nil
		}
	}
}

func startProcessor(t *testing.T) (*testProcessor, string) {
	t.Helper()
	p := &testProcessor{ended: make(chan struct{}, 4)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(srv, p)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return p, ln.Addr().String()
}

// extProcEcho answers with what the upstream received: x-processed, x-secret and the body.
func extProcEcho(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "processed="+r.Header.Get("X-Processed")+" secret="+r.Header.Get("X-Secret")+" body="+string(b))
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func call(t *testing.T, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const extProcRouteYAML = `
binds:
- port: 3000
  listeners:
  - routes:
    - backends: [{host: $UP}]
      policies:
        extProc:
          host: $EP
          failureMode: $MODE
          metadataContext: {test: {path: request.path}}
`

// TestExtProcServed: a route's extProc processor changes the request's headers and body before they
// reach the upstream, changes the response's headers before they reach the client, answers in the
// upstream's place, receives metadataContext; a processor that is down fails closed (500) or open.
func TestExtProcServed(t *testing.T) {
	p, ep := startProcessor(t)
	up := extProcEcho(t)
	url := servePorts(t, extProcRouteYAML, map[string]string{"UP": up, "EP": ep, "MODE": "failClosed"})[3000]

	resp, body := call(t, "POST", url+"/v1/x", "my secret data", "X-Secret", "s3")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "processed=yes secret= body=redacted", body, "header mutation and body replacement reach the upstream")
	assert.Equal(t, "yes", resp.Header.Get("X-Resp-Processed"), "response header mutation reaches the client")
	p.mu.Lock()
	assert.Equal(t, map[string]any{"path": "/v1/x"}, p.metadata, "metadataContext is evaluated per request")
	p.mu.Unlock()

	resp, body = call(t, "GET", url+"/", "")
	assert.Equal(t, "processed=yes secret= body=", body, "a request without a body")

	resp, body = call(t, "GET", url+"/", "", "X-Case", "deny")
	assert.Equal(t, 403, resp.StatusCode)
	assert.Equal(t, "denied by processor", body)
	assert.Equal(t, "policy", resp.Header.Get("X-Reason"))

	closed := servePorts(t, extProcRouteYAML, map[string]string{"UP": up, "EP": "127.0.0.1:1", "MODE": "failClosed"})[3000]
	resp, body = call(t, "POST", closed+"/", "my secret data")
	assert.Equal(t, 500, resp.StatusCode, "processor down, failClosed: %s", body)
	assert.NotContains(t, body, "secret")

	open := servePorts(t, extProcRouteYAML, map[string]string{"UP": up, "EP": "127.0.0.1:1", "MODE": "failOpen"})[3000]
	resp, body = call(t, "POST", open+"/", "my secret data")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "processed= secret= body=my secret data", body, "processor down, failOpen: the request passes unprocessed")
}

// TestExtProcClientDisconnectEndsStream: a client that goes away while the processor deliberates
// ends the processor's stream (goleak in TestMain checks nothing is left behind).
func TestExtProcClientDisconnectEndsStream(t *testing.T) {
	p, ep := startProcessor(t)
	url := servePorts(t, extProcRouteYAML, map[string]string{"UP": extProcEcho(t), "EP": ep, "MODE": "failClosed"})[3000]
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/", nil)
	require.NoError(t, err)
	req.Header.Set("X-Case", "hang")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	// Wait until the processor holds the stream, then hang up.
	require.Eventually(t, func() bool { return p.streams() > 0 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	select {
	case <-p.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the processor's stream outlived the client")
	}
}

// TestExtProcOnGatewayAndConditional: extProc on a gateway (for every attached route) and a
// listener, and the conditional form picking its entry by CEL.
func TestExtProcOnGatewayAndConditional(t *testing.T) {
	_, ep := startProcessor(t)
	up := extProcEcho(t)
	urls := servePorts(t, `
gateways:
  default:
    port: 3000
    extProc: {host: $EP}
  api:
    port: 3001
    listeners:
    - name: l
      extProc:
        conditional:
        - condition: request.path.startsWith("/proc")
          host: $EP
          processingOptions: {requestBodyMode: buffered}
routes:
- name: r
  gateways: [default, api]
  backends: [{host: $UP}]
`, map[string]string{"UP": up, "EP": ep})
	resp, body := call(t, "POST", urls[3000]+"/x", "secret", "X-Secret", "1")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "processed=yes secret= body=redacted", body, "gateway extProc")
	_, body = call(t, "POST", urls[3001]+"/proc", "secret")
	assert.Equal(t, "processed=yes secret= body=redacted", body, "listener extProc, condition holds")
	_, body = call(t, "POST", urls[3001]+"/other", "secret")
	assert.Equal(t, "processed= secret= body=secret", body, "no entry matches: not processed")
}

// TestExtProcInLLMPolicies: agentgateway's semantic-routing example shape, llm.policies.extProc: the
// processor sees each call and may answer in the provider's place.
func TestExtProcInLLMPolicies(t *testing.T) {
	_, ep := startProcessor(t)
	oa := newLLMStub(t, "openai", false)
	srv, _ := serveRuntime(t, `
llm:
  port: 4100
  models:
  - {name: m, provider: openai, params: {baseUrl: $OA/v1, apiKey: k}}
  policies:
    extProc: {host: $EP, processingOptions: {requestBodyMode: none}}
`, map[string]string{"OA": oa.URL, "EP": ep})
	resp, body := call(t, "POST", srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "Content-Type", "application/json")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "yes", resp.Header.Get("X-Resp-Processed"), "the processor saw the exchange")
	resp, body = call(t, "POST", srv.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "Content-Type", "application/json", "X-Case", "deny")
	assert.Equal(t, 403, resp.StatusCode)
	assert.Equal(t, "denied by processor", body, "the processor answers in the provider's place")
}

// TestExtProcInMCPPolicies: mcp.policies.extProc sees every MCP request and the session still works
// through it (the processor's response header mutation does not disturb the stream).
func TestExtProcInMCPPolicies(t *testing.T) {
	p, ep := startProcessor(t)
	url := serveConfig(t, `
mcp:
  port: 0
  targets:
  - name: one
    mcp: {host: $ONE}
  policies:
    extProc: {host: $EP, processingOptions: {requestBodyMode: none}}
`, map[string]string{"ONE": mcpUpstream(t, "one"), "EP": ep})
	names, _ := mcpToolNames(t, url+"/mcp")
	assert.Equal(t, []string{"admin", "echo"}, names)
	p.mu.Lock()
	assert.Positive(t, p.seen, "the processor saw the MCP requests")
	p.mu.Unlock()
}

// TestExtProcBackendTLS: policies.backendTLS secures the connection to the processor; without the
// processor's root the handshake fails and failClosed answers 500.
func TestExtProcBackendTLS(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "proc.example.com")
	creds, err := credentials.NewServerTLSFromFile(filepath.Join(dir, "proc.example.com.crt"), filepath.Join(dir, "proc.example.com.key"))
	require.NoError(t, err)
	p := &testProcessor{ended: make(chan struct{}, 4)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.Creds(creds))
	extprocv3.RegisterExternalProcessorServer(srv, p)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - backends: [{host: $UP}]
      policies:
        extProc:
          host: $EP
          policies: {backendTLS: {root: $ROOT, hostname: proc.example.com}}
`
	env := map[string]string{"UP": extProcEcho(t), "EP": ln.Addr().String(), "ROOT": "proc.example.com.crt"}
	url := servePortsIn(t, dir, yaml, env)[3000]
	resp, body := call(t, "GET", url+"/", "", "X-Secret", "1")
	assert.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "processed=yes secret= body=", body)

	writeCert(t, dir, "other.example.com")
	env["ROOT"] = "other.example.com.crt"
	url = servePortsIn(t, dir, yaml, env)[3000]
	resp, _ = call(t, "GET", url+"/", "")
	assert.Equal(t, 500, resp.StatusCode, "an untrusted processor is a failure")
}
