package gwapi_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// releaseTranslation closes the translation's own runtime objects (MCP federations, pools) when
// the test ends: only its document is served.
func releaseTranslation(t *testing.T, res *gwapi.Result) {
	rp := &gwapi.ReleasePlane{}
	for k, cfg := range res.Configs {
		require.NoError(t, rp.Apply(k, &cfg))
	}
	t.Cleanup(func() { _ = rp.Close() })
}

// serveDocument compiles res's schema document as a replica does, with dial reaching the pods, and
// runs it on loopback listeners; it returns each port's real address.
func serveDocument(t *testing.T, res *gwapi.Result, dial func(ctx context.Context, network, addr string) (net.Conn, error)) map[int]string {
	t.Helper()
	releaseTranslation(t, res)
	rt, doc, err := compileDocument(res, dial)
	require.NoError(t, err, "%s", doc)
	t.Cleanup(func() { _ = rt.Close() })
	var mu sync.Mutex
	socks := map[int]string{}
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false),
		agentgateway.WithDrainTimeout(time.Second), agentgateway.WithListenFunc(func(port int) (net.Listener, error) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err == nil {
				mu.Lock()
				socks[port] = ln.Addr().String()
				mu.Unlock()
			}
			return ln, err
		}))
	require.NoError(t, gw.Apply(rt.Config))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	t.Cleanup(func() {
		cancel()
		_ = gw.Wait()
		_ = gw.Close()
	})
	mu.Lock()
	defer mu.Unlock()
	return socks
}

// The document carries TLS and TCP listeners and their routes (tcpRoutes, through xDS too): TLS
// passthrough by SNI to the TLSRoute's Service (the client sees the backend's own certificate), an
// SNI no route names gets nothing, and a TCP listener proxies bytes to the TCPRoute's Service — the
// Services' endpoints from the document's workloads.
func TestSchemaDocumentServesTLSAndTCPRoutes(t *testing.T) {
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "tls-backend") }))
	defer tlsBackend.Close()
	tcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() { _ = tcpLn.Close() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := tcpLn.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(c, c)
			_ = c.Close()
		}
	}()
	pods := map[string]string{"10.0.0.1:8443": tlsBackend.Listener.Addr().String(), "10.0.0.2:9000": tcpLn.Addr().String()}
	snap, err := gwapi.DecodeManifests(strings.NewReader(l4Manifests))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
	socks := serveDocument(t, res, func(ctx context.Context, network, addr string) (net.Conn, error) {
		real, ok := pods[addr]
		if !ok {
			return nil, fmt.Errorf("dial %s: no such pod", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, real)
	})

	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tc, err := tls.DialWithDialer(dialer, "tcp", socks[443], &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true})
	require.NoError(t, err)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	require.True(t, tc.ConnectionState().PeerCertificates[0].Equal(tlsBackend.Certificate()), "the backend's own certificate: not terminated")
	_, err = fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	body, _ := io.ReadAll(tc)
	_ = tc.Close()
	require.Contains(t, string(body), "tls-backend")
	if tc, err := tls.DialWithDialer(dialer, "tcp", socks[443], &tls.Config{ServerName: "b.example.com", InsecureSkipVerify: true}); err == nil {
		_ = tc.Close()
		t.Fatal("a connection for an unrouted SNI must not reach a backend")
	}

	c, err := dialer.Dial("tcp", socks[9000])
	require.NoError(t, err)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(c, "ping")
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
	_ = c.Close()
}

// The case: a Gateway + HTTPRoute + MCP AgentgatewayBackend written as Kubernetes YAML is
// served by a data plane compiled from the schema document: an MCP client lists both targets'
// tools (prefixed by target) and calls one.
func TestSchemaDocumentServesMCPBackend(t *testing.T) {
	up := httptest.NewServer(mcpServer("upstream"))
	defer up.Close()
	snap, err := gwapi.DecodeManifests(strings.NewReader(agwGateway + `
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: tools, namespace: infra}
spec:
  mcp:
    targets:
    - name: everything
      static: {host: mcp.infra.svc.cluster.local, port: 80, protocol: StreamableHTTP}
    - name: other
      static: {host: other.infra.svc.cluster.local, port: 80, path: /mcp}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mcp, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /mcp}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: only-everything, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
  backend:
    mcp:
      authorization: {rules: ['mcp.tool.target == "everything"']}
`))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", Logger: slog.New(slog.DiscardHandler)})
	socks := serveDocument(t, res, func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, up.Listener.Addr().String())
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: "http://" + socks[8080] + "/mcp", MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer func() { _ = cs.Close() }()
	list, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	sort.Strings(names)
	// The AgentgatewayPolicy's backend.mcp.authorization travels in the document: other's tool is
	// hidden and refused.
	require.Equal(t, []string{"everything_echo"}, names)
	out, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "everything_echo", Arguments: map[string]any{}})
	require.NoError(t, err)
	require.Equal(t, "upstream", out.Content[0].(*sdk.TextContent).Text)
	denied, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "other_echo", Arguments: map[string]any{}})
	require.True(t, err != nil || denied.IsError, "a tool the policy does not allow is refused")

	// A second replica of the same document resumes the session the first one opened: the document
	// carries the controller's session key, so a replica's rebuild or a load balancer's choice of
	// replica does not end MCP sessions.
	other := serveDocument(t, res, func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, up.Listener.Addr().String())
	})
	rpc := func(addr, session, body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp, string(b)
	}
	resp, body := rpc(socks[8080], "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	session := resp.Header.Get("Mcp-Session-Id")
	require.NotEmpty(t, session)
	resp, body = rpc(other[8080], session, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "everything_echo")
	for _, addr := range []string{socks[8080], other[8080]} { // end the session (and its upstream ones) on both
		req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+"/mcp", nil)
		req.Header.Set("Mcp-Session-Id", session)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}
}

// An InferencePool in the document: its ready Pods behind its endpoint picker. Each request goes
// to the Pod the picker names (never the unready one); with the picker down, a FailClose pool
// answers 503 as the runtime translation's does.
func TestSchemaDocumentServesInferencePool(t *testing.T) {
	servers := map[string]string{}
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
	snap, err := gwapi.DecodeManifests(strings.NewReader(fmt.Sprintf(poolManifests, "FailClose")))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", Logger: slog.New(slog.DiscardHandler)})
	socks := serveDocument(t, res, func(ctx context.Context, network, addr string) (net.Conn, error) {
		real := servers[addr]
		if addr == "10.9.9.9:9002" {
			real = eppLn.Addr().String()
		}
		if real == "" {
			return nil, fmt.Errorf("dial %s: connection refused", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, real)
	})
	ask := func(pick string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+socks[8080]+"/v1/completions", strings.NewReader(`{"model":"m"}`))
		req.Header.Set("x-pick", pick)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for pick, want := range map[string]string{"0": "vllm-0", "1": "vllm-1", "2": "vllm-2"} {
		code, body := ask(pick)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, want, body, "the picker's choice is honoured")
	}
	g.Stop()
	code, _ := ask("0")
	require.Equal(t, http.StatusServiceUnavailable, code, "FailClose with the picker down")
}

// closingBackend records its Close.
type closingBackend struct {
	http.Handler
	closed chan struct{}
}

func (c *closingBackend) Close() error { close(c.closed); return nil }

// The control plane's ReleasePlane (agentgateway-kube --xds-serve) closes a translation's runtime
// objects once the next replaces them, and the last on Close: dropping them leaked an MCP
// federation (and its goroutines) per translation.
func TestReleasePlaneClosesReplacedConfigurations(t *testing.T) {
	cfg := func(b *closingBackend) *agentgateway.Config {
		return &agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{Name: "l", Port: 8080, Routes: []agentgateway.RouteConfig{
			{Name: "r", Backends: []agentgateway.WeightedBackend{{Name: "b", Handler: b, Weight: 1}}}}}}}
	}
	first := &closingBackend{Handler: http.NotFoundHandler(), closed: make(chan struct{})}
	second := &closingBackend{Handler: http.NotFoundHandler(), closed: make(chan struct{})}
	rp := &gwapi.ReleasePlane{}
	key := types.NamespacedName{Namespace: "infra", Name: "gw"}
	require.NoError(t, rp.Apply(key, cfg(first)))
	require.NoError(t, rp.Apply(key, cfg(second)))
	select {
	case <-first.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced configuration's backend was not closed")
	}
	require.NoError(t, rp.Close())
	select {
	case <-second.closed:
	default:
		t.Fatal("Close must close the configuration held")
	}
}
