// Command rssbench measures the agentgateway binary's memory out of process: its resident set idle
// (a few seconds after start) and while it proxies a steady request rate to a local upstream, with
// the access log on (written to a file). It runs the binary twice, with its defaults and with
// --memory-trim-interval 0 (no start-up trimming: what the runtime and kernel do alone), and reports
// RSS, its anonymous part (heap, stacks) and its file-backed part (pages of the executable), the
// peak during load, and the binary's size.
//
//	go run ./scripts/rssbench [-rate 3000] [-load 20s] [-gateway path/to/agentgateway]
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgw/agentgateway/scripts/internal/benchproc"
)

func main() {
	rate := flag.Int("rate", 3000, "requests per second during load")
	load := flag.Duration("load", 20*time.Second, "how long the load runs")
	conns := flag.Int("conns", 16, "client connections")
	bin := flag.String("gateway", "", "agentgateway binary (default: built from ./cmd/agentgateway)")
	flag.Parse()
	if err := run(*rate, *conns, *load, *bin); err != nil {
		log.Fatal(err)
	}
}

func run(rate, conns int, load time.Duration, bin string) error {
	dir, err := os.MkdirTemp("", "rssbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "agentgateway")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/agentgateway").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go up.Serve(ln)
	defer up.Close()

	fmt.Printf("agentgateway RSS, %d req/s over %d connections for %s, access log on; binary %.1f MB\n", rate, conns, load, float64(st.Size())/(1<<20))
	fmt.Printf("%-26s %10s %10s %10s %12s %12s %12s\n", "run", "idle MB", "anon MB", "file MB", "load MB", "peak MB", "served")
	for _, mode := range []struct {
		name  string
		flags []string
	}{{"default", nil}, {"--memory-trim-interval 0", []string{"--memory-trim-interval", "0"}}} {
		if err := measure(dir, bin, ln.Addr().String(), mode.name, mode.flags, rate, conns, load); err != nil {
			return err
		}
	}
	return nil
}

func measure(dir, bin, upstream, name string, extra []string, rate, conns int, load time.Duration) error {
	port, err := benchproc.FreePort()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "agw.yaml")
	yaml := fmt.Sprintf("binds:\n- port: %d\n  listeners:\n  - routes:\n    - backends: [{host: %q}]\n", port, upstream)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "access.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append([]string{"-f", cfg, "--bind-address", "127.0.0.1", "--admin-addr", "off", "--stats-addr", "off", "--readiness-addr", "off"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := benchproc.WaitListening(addr); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	idle, err := rollup(cmd.Process.Pid)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), load)
	defer cancel()
	var peak atomic.Uint64
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if m, err := rollup(cmd.Process.Pid); err == nil && m.rss > peak.Load() {
					peak.Store(m.rss)
				}
			}
		}
	}()
	served := drive(ctx, "http://"+addr+"/", rate, conns)
	end, err := rollup(cmd.Process.Pid)
	if err != nil {
		return err
	}
	mb := func(kb uint64) string { return fmt.Sprintf("%.1f", float64(kb)/1024) }
	fmt.Printf("%-26s %10s %10s %10s %12s %12s %12d\n", name, mb(idle.rss), mb(idle.anon), mb(idle.rss-idle.anon), mb(end.rss), mb(max(peak.Load(), end.rss)), served)
	return nil
}

// drive sends rate requests per second over conns keep-alive connections until ctx ends, each
// connection on its own schedule, and returns how many were answered 200.
func drive(ctx context.Context, url string, rate, conns int) int64 {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	every := time.Duration(int64(time.Second) * int64(conns) / int64(rate))
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			next := time.Now()
			for ctx.Err() == nil {
				next = next.Add(every)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if resp, err := client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					}
				}
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(d):
					}
				}
			}
		})
	}
	wg.Wait()
	return ok.Load()
}

type memory struct{ rss, anon uint64 } // kB

// rollup reads a process's resident set from /proc/PID/smaps_rollup.
func rollup(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(fs[1], 10, 64)
		switch fs[0] {
		case "Rss:":
			m.rss = n
		case "Anonymous:":
			m.anon = n
		}
	}
	return m, sc.Err()
}
