package config_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// connAuthz is an Envoy ext_authz gRPC service that denies connections from one source address and
// records the requests it gets.
type connAuthz struct {
	authv3.UnimplementedAuthorizationServer
	deny string
	mu   sync.Mutex
	seen []*authv3.CheckRequest
}

func (a *connAuthz) Check(_ context.Context, r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	a.mu.Lock()
	a.seen = append(a.seen, r)
	a.mu.Unlock()
	code := codes.OK
	if r.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress() == a.deny {
		code = codes.PermissionDenied
	}
	return &authv3.CheckResponse{Status: &statuspb.Status{Code: int32(code)}}, nil
}

func (a *connAuthz) requests() []*authv3.CheckRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*authv3.CheckRequest(nil), a.seen...)
}

func serveConnAuthz(t *testing.T, a *connAuthz) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, a)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// runFrontendYAML runs yaml on real ports with its frontendPolicies, closing them when the test ends.
func runFrontendYAML(t *testing.T, yaml string, env map[string]string) {
	t.Helper()
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	opts := append([]agentgateway.Option{agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false),
		agentgateway.WithBindAddress("127.0.0.1"), agentgateway.WithDrainTimeout(2 * time.Second)}, f.Frontend.Options()...)
	gw := agentgateway.New(opts...)
	require.NoError(t, gw.Apply(rt.Config))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	t.Cleanup(func() {
		cancel()
		_ = gw.Wait()
		_ = gw.Close()
		_ = rt.Close()
		_ = f.Frontend.Close()
	})
}

// getVia sends one request on a new connection to port, after preamble (a PROXY header); an error
// means the gateway closed the connection.
func getVia(port, preamble string) (string, error) {
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, preamble+"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), nil
}

const netExtAuthzYAML = `
frontendPolicies:
  proxy: {version: all}
  networkExtAuthz: {host: $AUTHZ, failureMode: $FAIL, protocol: {grpc: {context: {gate: edge}}}}
binds:
- port: $PORT
  listeners:
  - routes:
    - backends: [{host: $UP}]
`

// frontendPolicies.networkExtAuthz asks an Envoy ext_authz gRPC service about every connection before
// any byte is routed: the Check carries the connection's source and destination (here from a PROXY
// header) and the context extensions; a denial closes the connection.
func TestNetworkExtAuthzFromYAML(t *testing.T) {
	a := &connAuthz{deny: "203.0.113.5"}
	port := freeTCPPort(t)
	runFrontendYAML(t, netExtAuthzYAML, map[string]string{"PORT": port, "UP": echoUpstream(t, "up"), "AUTHZ": serveConnAuthz(t, a), "FAIL": "deny"})
	got, err := getVia(port, "PROXY TCP4 198.51.100.20 192.0.2.1 5555 443\r\n")
	require.NoError(t, err)
	assert.Equal(t, "up /", got)
	_, err = getVia(port, "PROXY TCP4 203.0.113.5 192.0.2.1 5555 443\r\n")
	assert.Error(t, err, "denied: the connection is closed")
	reqs := a.requests()
	require.Len(t, reqs, 2, "one check per connection")
	at := reqs[0].GetAttributes()
	assert.Equal(t, "198.51.100.20", at.GetSource().GetAddress().GetSocketAddress().GetAddress())
	assert.Equal(t, uint32(5555), at.GetSource().GetAddress().GetSocketAddress().GetPortValue())
	assert.Equal(t, "192.0.2.1", at.GetDestination().GetAddress().GetSocketAddress().GetAddress())
	assert.Equal(t, uint32(443), at.GetDestination().GetAddress().GetSocketAddress().GetPortValue())
	assert.Equal(t, map[string]string{"gate": "edge"}, at.GetContextExtensions())
	assert.Nil(t, at.GetRequest(), "a connection check has no HTTP request")
}

// When the service cannot be reached, failureMode decides: deny (the default) closes the connection,
// allow serves it.
func TestNetworkExtAuthzFailureMode(t *testing.T) {
	dead := freeTCPPort(t) // nothing listens there
	for mode, served := range map[string]bool{"deny": false, "allow": true} {
		port := freeTCPPort(t)
		runFrontendYAML(t, netExtAuthzYAML, map[string]string{"PORT": port, "UP": echoUpstream(t, "up"), "AUTHZ": "127.0.0.1:" + dead, "FAIL": mode})
		got, err := getVia(port, "PROXY TCP4 198.51.100.20 192.0.2.1 5555 443\r\n")
		if served {
			require.NoError(t, err, mode)
			assert.Equal(t, "up /", got)
		} else {
			assert.Error(t, err, mode)
		}
	}
}

func TestNetworkExtAuthzErrors(t *testing.T) {
	for field, spec := range map[string]string{
		"host":                  `{service: {name: a/b, port: 9000}}`,
		"protocol.http":         `{host: "127.0.0.1:1", protocol: {http: {}}}`,
		"includeRequestHeaders": `{host: "127.0.0.1:1", includeRequestHeaders: [x-a]}`,
		"failureMode":           `{host: "127.0.0.1:1", failureMode: {denyWithStatus: 401}}`,
	} {
		_, err := config.Load([]byte(fmt.Sprintf("frontendPolicies:\n  networkExtAuthz: %s\n", spec)), nil)
		require.Error(t, err, field)
		assert.Contains(t, err.Error(), "frontendPolicies.networkExtAuthz."+field, field)
	}
}
