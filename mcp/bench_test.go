package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

// BenchmarkToolsCall compares a tools/call straight to a go-sdk streamable server with the same call
// through the gateway, in one run: the difference is what the gateway adds (time and allocations of
// the whole process: client, gateway and upstream).
func BenchmarkToolsCall(b *testing.B) {
	up := serveHTTP(b, demoServer("alpha"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}})
	gw := gateway(b, f)
	for _, bc := range []struct{ name, url string }{{"direct", up.URL}, {"gateway", gw.URL + "/mcp"}} {
		b.Run(bc.name, func(b *testing.B) {
			cs := connect(b, bc.url, nil)
			params := &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := cs.CallTool(ctx, params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchDelay = 20 * time.Millisecond

// BenchmarkToolsCallPaired makes, in every iteration, a direct call, a call through the gateway, a
// call through a gateway whose targets use net/http's client (Config.HTTPClient set) and a call to
// the federation served without a Gateway, so all four see the same machine state (2 shared cores, GC); it reports each side's mean latency and what the
// gateway adds.
func BenchmarkToolsCallPaired(b *testing.B) {
	up := serveHTTP(b, demoServer("alpha"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	gw := gateway(b, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}}))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	std := gateway(b, mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}, HTTPClient: &http.Client{Transport: tr}}))
	b.Cleanup(tr.CloseIdleConnections)
	// The federation served by a plain http.Server, without the Gateway's routing and policies.
	bareFed := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}})
	bare := newServer(b, bareFed, bareFed)
	sessions := []*sdk.ClientSession{connect(b, up.URL, nil), connect(b, gw.URL+"/mcp", nil), connect(b, std.URL+"/mcp", nil), connect(b, bare.URL, nil)}
	params := &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}}
	ctx := context.Background()
	var sums [4]time.Duration
	for b.Loop() {
		for i, cs := range sessions {
			t0 := time.Now()
			if _, err := cs.CallTool(ctx, params); err != nil {
				b.Fatal(err)
			}
			sums[i] += time.Since(t0)
		}
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(us(sums[0]), "direct-µs")
	b.ReportMetric(us(sums[1]), "gateway-µs")
	b.ReportMetric(us(sums[1]-sums[0]), "added-µs")
	b.ReportMetric(us(sums[2]-sums[0]), "added-nethttp-µs")
	b.ReportMetric(us(sums[3]-sums[0]), "added-bare-µs")
}

// fixedTarget is a minimal streamable-HTTP MCP server answering tools/list with four tools after
// delay. It stands for a remote target: unlike an in-process go-sdk server it costs this process no
// CPU, so the benchmark measures the gateway's fan-out rather than ten servers sharing two cores.
func fixedTarget(delay time.Duration) http.Handler {
	tools := `{"tools":[` +
		`{"name":"a","inputSchema":{"type":"object"}},{"name":"b","inputSchema":{"type":"object"}},` +
		`{"name":"c","inputSchema":{"type":"object"}},{"name":"d","inputSchema":{"type":"object"}}]}`
	return scriptedTarget("fixed", func(_ http.ResponseWriter, _ *http.Request, _ json.RawMessage, method string) (string, bool) {
		if method == "tools/list" {
			time.Sleep(delay)
			return tools, false
		}
		return `{}`, false
	})
}

// BenchmarkToolsList10Targets lists tools across 10 HTTP targets that each take 20 ms to answer:
// the fan-out is concurrent, so a list costs about one target's latency.
func BenchmarkToolsList10Targets(b *testing.B) {
	var targets []mcp.Target
	var first string
	for i := range 10 {
		name := fmt.Sprintf("t%d", i)
		up := httptest.NewServer(fixedTarget(benchDelay))
		b.Cleanup(up.Close)
		targets = append(targets, mcp.HTTPTarget(name, up.URL))
		if i == 0 {
			first = up.URL
		}
	}
	gw := gateway(b, mcp.New(mcp.Config{Targets: targets}))
	for _, bc := range []struct {
		name, url string
		tools     int
	}{{"direct-one-target", first, 4}, {"gateway-10-targets", gw.URL + "/mcp", 40}} {
		b.Run(bc.name, func(b *testing.B) {
			cs := connect(b, bc.url, nil)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				res, err := cs.ListTools(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Tools) != bc.tools {
					b.Fatalf("%d tools", len(res.Tools))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/list")
		})
	}
}

// BenchmarkIdleSessionMemory measures the heap held by idle stateful sessions with two HTTP targets.
// The targets run in another process (the go-sdk everything-server), so only the gateway's memory is
// measured.
func BenchmarkIdleSessionMemory(b *testing.B) {
	bin := everythingServer(b)
	var targets []mcp.Target
	for _, name := range []string{"one", "two"} {
		port := freePort(b)
		url := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
		startProcess(b, url, execCommand(bin, "-http", fmt.Sprintf("127.0.0.1:%d", port), "-stateless=false"))
		targets = append(targets, mcp.HTTPTarget(name, url))
	}
	f := mcp.New(mcp.Config{Targets: targets})
	gw := gateway(b, f)
	const n = 500
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	open := func() {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/mcp", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
	}
	open() // warm pools
	var per float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			open()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	}
	b.ReportMetric(per, "B/session")
	http.DefaultClient.CloseIdleConnections()
}

// BenchmarkLargeInitializeSession measures what one session costs when the client's initialize
// carries a large clientInfo (the attack of an unauthenticated client): the length of the session id
// handed back, and the gateway heap a live session holds. The target runs in another process, so
// only the gateway's memory is measured. A size the gateway refuses reports rejected=1.
func BenchmarkLargeInitializeSession(b *testing.B) {
	bin := everythingServer(b)
	port := freePort(b)
	url := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	startProcess(b, url, execCommand(bin, "-http", fmt.Sprintf("127.0.0.1:%d", port), "-stateless=false"))
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("one", url)}})
	gw := gateway(b, f)
	for _, size := range []int{0, 48 << 10, 2 << 20} {
		b.Run(fmt.Sprintf("clientInfo=%dB", size), func(b *testing.B) {
			body := []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1","description":%q}}}`, strings.Repeat("x", size)))
			open := func() (int, bool) {
				req, _ := http.NewRequest(http.MethodPost, gw.URL+"/mcp", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(b, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				sid := resp.Header.Get("Mcp-Session-Id")
				return len(sid), resp.StatusCode == http.StatusOK && sid != ""
			}
			n := 100
			if size > 1<<20 {
				n = 20 // 100 MB of heap before ids were bounded
			}
			var per float64
			idLen, ok := 0, true
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				for range n {
					idLen, ok = open()
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				per = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
			}
			if !ok {
				b.ReportMetric(1, "rejected")
				return
			}
			b.ReportMetric(float64(idLen), "id-bytes")
			b.ReportMetric(per, "B/session")
		})
	}
	http.DefaultClient.CloseIdleConnections()
}
