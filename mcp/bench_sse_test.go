package mcp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
)

// BenchmarkToolsCallSSE is the setup of scripts/mcpbench in one process: a go-sdk client calls a
// go-sdk server answering in SSE (the SDK's default) directly and through a Gateway with its access
// log on (formatted, written to io.Discard), served on a port the Gateway runs with its lean
// HTTP/1.1 server as the binary does, alternating in every iteration. It reports each side's mean,
// what the gateway adds, and the new upstream connections per call (0 when the gateway's
// connections to the target are reused). scripts/mcpbench measures the same out of process, where
// client, gateway and server do not share a Go runtime.
func BenchmarkToolsCallSSE(b *testing.B) {
	s := demoServer("alpha")
	up, conns := serveCounted(b, sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}})
	b.Cleanup(func() { _ = f.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	port := ln.Addr().(*net.TCPAddr).Port
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), agentgateway.WithAccessLog(true),
		agentgateway.WithHTTP1Server(true), agentgateway.WithListenFunc(func(int) (net.Listener, error) { return ln, nil }))
	require.NoError(b, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{Name: "mcp", Port: port,
		Routes: []agentgateway.RouteConfig{{Name: "mcp", Backends: []agentgateway.WeightedBackend{{Handler: f, Weight: 1}}}}}}}))
	ctx, stop := context.WithCancel(context.Background())
	require.NoError(b, gw.Start(ctx))
	b.Cleanup(func() { stop(); _ = gw.Wait() })
	direct, via := connect(b, up.URL, nil), connect(b, fmt.Sprintf("http://127.0.0.1:%d/mcp", port), nil)
	params := &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}}
	for range 20 { // warm-up: the pools
		_, _ = direct.CallTool(ctx, params)
		_, _ = via.CallTool(ctx, params)
	}
	n0 := conns.n.Load()
	cpu0 := cpuTime()
	var sums [2]time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i, cs := range []*sdk.ClientSession{direct, via} {
			t0 := time.Now()
			if _, err := cs.CallTool(ctx, params); err != nil {
				b.Fatal(err)
			}
			sums[i] += time.Since(t0)
		}
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(us(sums[0]), "direct-µs")
	b.ReportMetric(us(sums[1]), "gateway-µs")
	b.ReportMetric(us(sums[1]-sums[0]), "added-µs")
	b.ReportMetric(float64(conns.n.Load()-n0)/float64(b.N), "new-conns/call")
	// CPU time of the process (client, gateway and server) per iteration: robust on a loaded machine.
	b.ReportMetric(us(cpuTime()-cpu0), "cpu-µs/op")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
