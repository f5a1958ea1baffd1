// Command mcpbench measures what the gateway adds to an MCP tools/call, out of process: a go-sdk
// client calls a go-sdk server (streamable HTTP, SSE answers, in its own process) directly and
// through the agentgateway binary (YAML config, access log on, written to a file), in alternating
// rounds so that both sides see the same machine load. It reports the p50 of each side, what the
// gateway adds at p50, the gateway's CPU time per call (utime+stime from /proc, robust on a shared
// machine) and the new TCP connections the upstream accepted per call after warm-up (0 when the
// gateway reuses its upstream connections).
//
//	go run ./scripts/mcpbench [-calls 2000] [-rounds 6] [-gateway path/to/agentgateway]
//
// Without -gateway the binary is built from ./cmd/agentgateway. Linux only (/proc).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agentgw/agentgateway/scripts/internal/benchproc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "upstream" {
		upstream()
		return
	}
	calls := flag.Int("calls", 2000, "tools/call per side per round")
	rounds := flag.Int("rounds", 6, "rounds (direct and gateway alternate)")
	bin := flag.String("gateway", "", "agentgateway binary (default: built from ./cmd/agentgateway)")
	flag.Parse()
	if err := run(*calls, *rounds, *bin); err != nil {
		log.Fatal(err)
	}
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// upstream serves a go-sdk server with an echo tool at /mcp (SSE answers: the SDK's default) and
// the number of connections accepted at /conns; it prints its address and runs until stdin closes.
func upstream() {
	s := sdk.NewServer(&sdk.Implementation{Name: "bench", Version: "1.0.0"}, nil)
	type in struct {
		Text string `json:"text"`
	}
	sdk.AddTool(s, &sdk.Tool{Name: "echo"}, func(ctx context.Context, req *sdk.CallToolRequest, in in) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: in.Text}}}, nil, nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	mux := http.NewServeMux()
	mux.Handle("/mcp", sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	mux.HandleFunc("/conns", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, cl.n.Load()) })
	fmt.Println(ln.Addr().String())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	log.Fatal(http.Serve(cl, mux))
}

type proc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
}

func (p *proc) stop() {
	if p.in != nil {
		p.in.Close()
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func run(calls, rounds int, bin string) error {
	dir, err := os.MkdirTemp("", "mcpbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "agentgateway")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/agentgateway").CombinedOutput(); err != nil {
			return fmt.Errorf("building the gateway: %v\n%s", err, out)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	// The upstream, in its own process.
	up := &proc{cmd: exec.Command(self, "upstream")}
	up.cmd.Stderr = os.Stderr
	if up.in, err = up.cmd.StdinPipe(); err != nil {
		return err
	}
	out, err := up.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := up.cmd.Start(); err != nil {
		return err
	}
	defer up.stop()
	upAddr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	upAddr = strings.TrimSpace(upAddr)

	// The gateway, from a YAML config, its log (access log included) in a file.
	port, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`binds:
- port: %d
  listeners:
  - routes:
    - name: mcp
      matches:
      - path: {pathPrefix: /mcp}
      backends:
      - mcp:
          targets:
          - name: bench
            mcp: {host: "http://%s/mcp"}
`, port, upAddr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	gw := &proc{cmd: exec.Command(bin, "-f", cfg, "--bind-address", "127.0.0.1", "--admin-addr", "off", "--stats-addr", "off", "--readiness-addr", "off")}
	gw.cmd.Stdout, gw.cmd.Stderr = logf, logf
	if err := gw.cmd.Start(); err != nil {
		return err
	}
	defer gw.stop()
	gwURL := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	if err := benchproc.WaitListening(fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		return err
	}

	ctx := context.Background()
	connect := func(url string) (*sdk.ClientSession, error) {
		c := sdk.NewClient(&sdk.Implementation{Name: "mcpbench", Version: "1.0.0"}, nil)
		return c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
	}
	direct, err := connect("http://" + upAddr + "/mcp")
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	defer direct.Close()
	via, err := connect(gwURL)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer via.Close()

	params := &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}}
	measure := func(cs *sdk.ClientSession, n int, lat []time.Duration) ([]time.Duration, error) {
		for range n {
			t0 := time.Now()
			if _, err := cs.CallTool(ctx, params); err != nil {
				return lat, err
			}
			lat = append(lat, time.Since(t0))
		}
		return lat, nil
	}
	// Warm-up: pools, JIT-less but cache-warm paths.
	if _, err := measure(direct, 200, nil); err != nil {
		return err
	}
	if _, err := measure(via, 200, nil); err != nil {
		return err
	}

	fmt.Printf("mcpbench: %d rounds x %d calls per side, GOMAXPROCS of the gateway: default\n", rounds, calls)
	fmt.Printf("%-6s %10s %10s %10s %12s %14s\n", "round", "direct-p50", "gw-p50", "added-p50", "gw-cpu/call", "new-conns/call")
	var allD, allG []time.Duration
	var cpuTotal time.Duration
	var connTotal int64
	for r := range rounds {
		var d, g []time.Duration
		var cpu time.Duration
		var conns int64
		gwRound := func() error {
			c0, err := benchproc.CPUTime(gw.cmd.Process.Pid)
			if err != nil {
				return err
			}
			n0, err := upstreamConns(upAddr)
			if err != nil {
				return err
			}
			if g, err = measure(via, calls, nil); err != nil {
				return err
			}
			c1, _ := benchproc.CPUTime(gw.cmd.Process.Pid)
			n1, _ := upstreamConns(upAddr)
			cpu, conns = c1-c0, n1-n0
			return nil
		}
		// Alternate which side goes first.
		if r%2 == 0 {
			if d, err = measure(direct, calls, nil); err != nil {
				return err
			}
			if err := gwRound(); err != nil {
				return err
			}
		} else {
			if err := gwRound(); err != nil {
				return err
			}
			if d, err = measure(direct, calls, nil); err != nil {
				return err
			}
		}
		pd, pg := benchproc.P50(d), benchproc.P50(g)
		fmt.Printf("%-6d %10s %10s %10s %12s %14.3f\n", r, benchproc.Us(pd), benchproc.Us(pg), benchproc.Us(pg-pd), benchproc.Us(cpu/time.Duration(calls)), float64(conns)/float64(calls))
		allD, allG = append(allD, d...), append(allG, g...)
		cpuTotal += cpu
		connTotal += conns
	}
	n := calls * rounds
	fmt.Printf("%-6s %10s %10s %10s %12s %14.3f\n", "all", benchproc.Us(benchproc.P50(allD)), benchproc.Us(benchproc.P50(allG)), benchproc.Us(benchproc.P50(allG)-benchproc.P50(allD)), benchproc.Us(cpuTotal/time.Duration(n)), float64(connTotal)/float64(n))
	return nil
}

func upstreamConns(addr string) (int64, error) {
	resp, err := http.Get("http://" + addr + "/conns")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(b), 10, 64)
}
