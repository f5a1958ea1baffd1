// Command mcpbench measures what the gateway adds to an MCP tools/call, out of process: a go-sdk
// client calls a go-sdk server (streamable HTTP, SSE answers, in its own process) directly and
// through the agentgateway binary (YAML config, access log on, written to a file), switching sides
// every -block calls so that all sides see the same machine load while each serves calls back to
// back. It reports the p50 of each side, what the gateway adds at p50, the gateway's CPU time per
// call (utime+stime from /proc, robust on a shared machine) and the new TCP connections the upstream
// accepted during the gateway's calls after warm-up (0 when the gateway reuses its connections).
//
//	go run ./scripts/mcpbench [-calls 2000] [-rounds 6] [-block 50] [-w1=false] [-pprof 127.0.0.1:15000]
//		[-syscalls] [-gateway path/to/agentgateway] [-compare path/to/baseline]
//
// Two gateways run side by side unless -w1=false: the binary's default (GOMAXPROCS from the CPU
// quota) and --workers 1. -pprof opens the default gateway's admin listener there, for /debug/pprof
// while a long run goes on. -compare measures a second binary (a baseline build, say) in the same
// rounds, as cmp and cmp-w1, so that a before/after comparison sees the same machine load; run it
// both ways round too, since two identical binaries differ by up to ~40 µs at p50 on a loaded
// machine. -syscalls attaches strace -f -c to the default gateway for the measured calls and
// prints its syscalls per call: futex, nanosleep and epoll_pwait counts show the scheduler
// wake-ups a call costs, more steadily than latency does on a shared machine.
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
	w1 := flag.Bool("w1", true, "also measure a gateway started with --workers 1 (GOMAXPROCS=1)")
	pprofAddr := flag.String("pprof", "", "admin address of the default gateway, for /debug/pprof while it runs (default: off)")
	block := flag.Int("block", 50, "calls per side before the next side's turn (1: call by call, where every call finds the processes idle)")
	syscalls := flag.Bool("syscalls", false, "count the default gateway's syscalls per call with strace -f -c (slows that gateway down)")
	compare := flag.String("compare", "", "another agentgateway binary (a baseline) measured in the same rounds, as cmp and cmp-w1")
	flag.Parse()
	if err := run(*calls, *rounds, max(*block, 1), *bin, *w1, *pprofAddr, *compare, *syscalls); err != nil {
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

func run(calls, rounds, block int, bin string, w1 bool, pprofAddr, compare string, syscalls bool) error {
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

	// The gateways, from a YAML config, their logs (access log included) in files.
	const yaml = `binds:
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
`
	// One gateway per variant, the same config: the binary's default GOMAXPROCS, and --workers 1
	// (scheduler wake-ups are a large share of a hop on a small machine) unless -w1=false.
	type variant struct{ name, bin, workers string }
	variants := []variant{{"gw", bin, ""}}
	if w1 {
		variants = append(variants, variant{"gw-w1", bin, "1"})
	}
	if compare != "" {
		variants = append(variants, variant{"cmp", compare, ""})
		if w1 {
			variants = append(variants, variant{"cmp-w1", compare, "1"})
		}
	}
	type gateway struct {
		name  string
		p     *proc
		cs    *sdk.ClientSession
		lat   []time.Duration
		cpu   time.Duration
		conns int64
	}
	ctx := context.Background()
	connect := func(url string) (*sdk.ClientSession, error) {
		c := sdk.NewClient(&sdk.Implementation{Name: "mcpbench", Version: "1.0.0"}, nil)
		return c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
	}
	var gws []*gateway
	for i, v := range variants {
		port, err := benchproc.FreePort()
		if err != nil {
			return err
		}
		cfg := filepath.Join(dir, fmt.Sprintf("config%d.yaml", i))
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(yaml, port, upAddr)), 0o600); err != nil {
			return err
		}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("gateway%d.log", i)))
		if err != nil {
			return err
		}
		defer logf.Close()
		admin := "off"
		if i == 0 && pprofAddr != "" {
			admin = pprofAddr
		}
		args := []string{"-f", cfg, "--bind-address", "127.0.0.1", "--admin-addr", admin, "--stats-addr", "off", "--readiness-addr", "off"}
		if v.workers != "" {
			args = append(args, "--workers", v.workers)
		}
		gw := &proc{cmd: exec.Command(v.bin, args...)}
		gw.cmd.Stdout, gw.cmd.Stderr = logf, logf
		if err := gw.cmd.Start(); err != nil {
			return err
		}
		defer gw.stop()
		if err := benchproc.WaitListening(fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			return err
		}
		cs, err := connect(fmt.Sprintf("http://127.0.0.1:%d/mcp", port))
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		defer cs.Close()
		gws = append(gws, &gateway{name: v.name, p: gw, cs: cs})
	}
	direct, err := connect("http://" + upAddr + "/mcp")
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	defer direct.Close()

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
	// Warm-up: pools, connections, caches.
	if _, err := measure(direct, 200, nil); err != nil {
		return err
	}
	for _, g := range gws {
		if _, err := measure(g.cs, 200, nil); err != nil {
			return err
		}
	}

	var st *straceRun
	if syscalls {
		if st, err = startStrace(gws[0].p.cmd.Process.Pid, filepath.Join(dir, "strace.txt")); err != nil {
			return err
		}
		defer st.stop()
		fmt.Printf("mcpbench: strace counts the syscalls of %s; its latency and CPU figures are strace's, not the gateway's\n", gws[0].name)
	}
	fmt.Printf("mcpbench: %d rounds x %d calls per side, in blocks of %d calls; gw: the binary's default GOMAXPROCS, -w1: --workers 1\n", rounds, calls, block)
	fmt.Printf("%-6s %-7s %10s %10s %10s %12s %14s\n", "round", "side", "direct-p50", "gw-p50", "added-p50", "gw-cpu/call", "new-conns/call")
	var allD []time.Duration
	sides := len(gws) + 1
	for r := range rounds {
		d := make([]time.Duration, 0, calls)
		lats := make([][]time.Duration, len(gws))
		cpu0 := make([]time.Duration, len(gws))
		for i, g := range gws {
			if cpu0[i], err = benchproc.CPUTime(g.p.cmd.Process.Pid); err != nil {
				return err
			}
		}
		conns := make([]int64, len(gws))
		// In blocks of calls, every side in turn, starting with a different one each time: all sides
		// see the same machine load even when it changes by the second (a shared machine), and each
		// serves calls back to back as under steady traffic. The upstream's connection count is read
		// around each gateway block: the direct client (net/http under the go-sdk) opens some too.
		for c, b := 0, 0; c < calls; b++ {
			m := min(block, calls-c)
			for k := range sides {
				i := (k + b) % sides
				if i == len(gws) {
					if d, err = measure(direct, m, d); err != nil {
						return err
					}
					continue
				}
				n0, err := upstreamConns(upAddr)
				if err != nil {
					return err
				}
				if lats[i], err = measure(gws[i].cs, m, lats[i]); err != nil {
					return fmt.Errorf("%s: %w", gws[i].name, err)
				}
				n1, err := upstreamConns(upAddr)
				if err != nil {
					return err
				}
				conns[i] += n1 - n0
			}
			c += m
		}
		pd := benchproc.P50(d)
		for i, g := range gws {
			c1, err := benchproc.CPUTime(g.p.cmd.Process.Pid)
			if err != nil {
				return err
			}
			pg := benchproc.P50(lats[i])
			fmt.Printf("%-6d %-7s %10s %10s %10s %12s %14.3f\n", r, g.name, benchproc.Us(pd), benchproc.Us(pg), benchproc.Us(pg-pd), benchproc.Us((c1-cpu0[i])/time.Duration(calls)), float64(conns[i])/float64(calls))
			g.lat = append(g.lat, lats[i]...)
			g.cpu += c1 - cpu0[i]
			g.conns += conns[i]
		}
		allD = append(allD, d...)
	}
	n := calls * rounds
	pd := benchproc.P50(allD)
	for _, g := range gws {
		pg := benchproc.P50(g.lat)
		fmt.Printf("%-6s %-7s %10s %10s %10s %12s %14.3f\n", "all", g.name, benchproc.Us(pd), benchproc.Us(pg), benchproc.Us(pg-pd), benchproc.Us(g.cpu/time.Duration(n)), float64(g.conns)/float64(n))
	}
	if st != nil {
		counts, err := st.stop()
		if err != nil {
			return err
		}
		fmt.Printf("syscalls of %s per call (strace -f -c, %d calls):\n", gws[0].name, n)
		for _, c := range counts {
			if per := float64(c.calls) / float64(n); per >= 0.005 {
				fmt.Printf("  %-14s %6.2f  (errors %.2f)\n", c.name, per, float64(c.errors)/float64(n))
			}
		}
	}
	return nil
}

// straceRun is strace -f -c attached to the gateway: every syscall of every thread, counted.
type straceRun struct {
	cmd  *exec.Cmd
	out  string
	done bool
}

func startStrace(pid int, out string) (*straceRun, error) {
	cmd := exec.Command("strace", "-q", "-f", "-c", "-o", out, "-p", strconv.Itoa(pid))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("strace: %w", err)
	}
	// Time to attach to every thread before the calls that count (a failure shows on stderr, and
	// as a missing table at the end).
	time.Sleep(500 * time.Millisecond)
	return &straceRun{cmd: cmd, out: out}, nil
}

type syscallCount struct {
	name          string
	calls, errors int64
}

// stop detaches strace, which then writes its table, and reads the table.
func (s *straceRun) stop() ([]syscallCount, error) {
	if s.done {
		return nil, nil
	}
	s.done = true
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
	b, err := os.ReadFile(s.out)
	if err != nil {
		return nil, fmt.Errorf("strace output: %w", err)
	}
	// Rows: % time, seconds, usecs/call, calls, [errors,] syscall.
	var counts []syscallCount
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[len(f)-1] == "total" || f[len(f)-1] == "syscall" {
			continue
		}
		calls, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			continue
		}
		c := syscallCount{name: f[len(f)-1], calls: calls}
		if len(f) == 6 {
			c.errors, _ = strconv.ParseInt(f[4], 10, 64)
		}
		counts = append(counts, c)
	}
	return counts, nil
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
