package config_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// countingRLS is a real envoy.service.ratelimit.v3.RateLimitService allowing limit hits per distinct
// descriptor; it records the descriptors it was asked about.
type countingRLS struct {
	rlsv3.UnimplementedRateLimitServiceServer
	limit  int
	mu     sync.Mutex
	counts map[string]int
	seen   []string
}

func (s *countingRLS) ShouldRateLimit(_ context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OK}
	for _, d := range req.GetDescriptors() {
		key := req.GetDomain() + ":"
		for _, e := range d.GetEntries() {
			key += e.GetKey() + "=" + e.GetValue() + ";"
		}
		s.seen = append(s.seen, key)
		s.counts[key]++
		if s.counts[key] > s.limit {
			resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
			resp.ResponseHeadersToAdd = []*corev3.HeaderValue{{Key: "x-ratelimit-remaining", Value: "0"}}
		}
	}
	return resp, nil
}

func (s *countingRLS) descriptors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func startRLS(t *testing.T, svc rlsv3.RateLimitServiceServer) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	rlsv3.RegisterRateLimitServiceServer(gs, svc)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

// rpc posts one JSON-RPC message to an MCP endpoint and returns the status, the header and the
// JSON-RPC response (the SSE data line when the answer is a stream).
func rpc(t *testing.T, url, user, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("X-User", user)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	s := string(b)
	if i := strings.Index(s, "data: "); i >= 0 {
		s = strings.TrimSpace(strings.SplitN(s[i+6:], "\n", 2)[0])
	}
	var msg map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &msg), string(b))
	return resp.StatusCode, resp.Header, msg
}

// TestMCPRemoteRateLimitFromYAML: mcpRemoteRateLimit counts MCP calls at a real RLS service with
// descriptors over mcp.tool.name and a request header; a call over the limit gets a JSON-RPC error
// (HTTP 429, the call's id, the service's headers) and never reaches the go-sdk server, other users
// and tools keep their own counts, a list (no tool name) is not counted, and with the service down a
// failClosed limit answers a JSON-RPC 500.
func TestMCPRemoteRateLimitFromYAML(t *testing.T) {
	svc := &countingRLS{limit: 2, counts: map[string]int{}}
	yaml := `
binds:
- port: 3006
  listeners:
  - routes:
    - matches: [{path: {pathPrefix: /mcp}}]
      policies:
        mcpRemoteRateLimit:
          domain: mcp-ratelimit
          host: $RLS
          descriptors:
          - entries:
            - {key: user, value: 'request.headers["x-user"]'}
            - {key: tool, value: 'mcp.tool.name'}
            type: requests
      backends:
      - mcp:
          statefulMode: stateless
          targets:
          - {name: up, mcp: {host: $UP}}
    - matches: [{path: {pathPrefix: /down}}]
      policies:
        mcpRemoteRateLimit:
          domain: d
          host: $DOWN
          descriptors: [{entries: [{key: tool, value: 'mcp.tool.name'}]}]
      backends:
      - mcp:
          statefulMode: stateless
          targets:
          - {name: up, mcp: {host: $UP}}
`
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := ln.Addr().String()
	ln.Close() // nothing listens there
	url := serveConfig(t, yaml, map[string]string{"RLS": startRLS(t, svc), "UP": mcpUpstream(t, "up"), "DOWN": down})

	call := func(path, user string, id int) (int, http.Header, map[string]any) {
		return rpc(t, url+path, user, `{"jsonrpc":"2.0","id":`+strings.Repeat("1", id)+`,"method":"tools/call","params":{"name":"echo","arguments":{}}}`)
	}
	for i := 1; i <= 2; i++ {
		status, _, msg := call("/mcp", "alice", i)
		require.Equal(t, 200, status, msg)
		assert.NotNil(t, msg["result"], msg)
	}
	status, hdr, msg := call("/mcp", "alice", 3)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "0", hdr.Get("X-Ratelimit-Remaining"))
	assert.Equal(t, float64(111), msg["id"], "the error answers the call's id")
	require.IsType(t, map[string]any{}, msg["error"], msg)
	assert.Equal(t, "rate limit exceeded", msg["error"].(map[string]any)["message"])

	status, _, _ = call("/mcp", "bob", 1)
	assert.Equal(t, 200, status, "bob has his own count")

	status, _, msg = rpc(t, url+"/mcp", "alice", `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`)
	assert.Equal(t, 200, status, msg)
	assert.NotContains(t, strings.Join(svc.descriptors(), "|"), "tool=;", "a list names no tool: its descriptor is skipped")
	assert.Contains(t, svc.descriptors(), "mcp-ratelimit:user=alice;tool=echo;")

	n := len(svc.descriptors())
	resp, err := http.Get(url + "/mcp")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Len(t, svc.descriptors(), n, "a request that is no MCP call is not counted")

	status, _, msg = call("/down", "alice", 1)
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Equal(t, "rate limit service unavailable", msg["error"].(map[string]any)["message"])
}
