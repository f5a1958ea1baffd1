package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

// TestSoak is the load-and-fault suite (`make soak`; AGW_SOAK=<duration> runs it, e.g. 10m). The
// built binary serves HTTP, MCP and A2A routes at a fixed rate while the suite kills and restarts the
// HTTP upstreams, edits the config every 20 s, keeps slow clients connected, and leaves 1 of 3 MCP
// targets down. It reports failed requests (those in flight on a killed upstream are expected; any
// other failure is counted as unexpected), p50/p99 by protocol, and the binary's RSS and goroutines
// at the start and the end. It fails only on unexpected failures.
func TestSoak(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("AGW_SOAK"))
	if err != nil || dur <= 0 {
		t.Skip("AGW_SOAK=<duration> runs the soak suite (make soak)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "agentgateway")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	// Upstreams: a plain HTTP one that is killed and restarted, three MCP targets (one never up), and
	// an A2A agent.
	okHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		_, _ = io.WriteString(w, "ok")
	})
	// Two endpoints behind the HTTP route; one at a time is killed, so that only the requests in
	// flight on it can fail (the gateway retries a refused connection on the other endpoint).
	httpUps := []*restartable{{addr: freeAddr(t), h: okHandler}, {addr: freeAddr(t), h: okHandler}}
	for _, u := range httpUps {
		require.NoError(t, u.start())
		defer u.stop()
	}
	mcpURLs := []string{soakMCPServer(t, "a"), soakMCPServer(t, "b"), "http://" + freeAddr(t) + "/mcp"}
	agent := &restartable{addr: freeAddr(t), h: a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(soakAgent{}))}
	require.NoError(t, agent.start())
	defer agent.stop()

	port, admin := freePort(t), freeAddr(t)
	cfgPath := filepath.Join(dir, "config.yaml")
	writeCfg := func(gen int) {
		cfg := fmt.Sprintf(soakConfig, port, gen, httpUps[0].addr, httpUps[1].addr, mcpURLs[0], mcpURLs[1], mcpURLs[2], agent.addr)
		tmp := cfgPath + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(cfg), 0o600))
		require.NoError(t, os.Rename(tmp, cfgPath))
	}
	writeCfg(0)
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	require.NoError(t, err)
	defer logf.Close()
	cmd := exec.Command(bin, "-f", cfgPath, "--bind-address", "127.0.0.1", "--admin-addr", admin,
		"--stats-addr", "off", "--readiness-addr", "off", "--watch-interval", "500ms")
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/http/ping")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}, 20*time.Second, 100*time.Millisecond, "the gateway never served")

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	st := newSoakStats()
	startRSS, startG := procRSS(cmd.Process.Pid), goroutines(admin)

	var wg sync.WaitGroup
	// Faults: one HTTP endpoint down for 3 s every 30 s (in turn); a config edit every 20 s.
	wg.Go(func() {
		for i, tick := 0, time.NewTicker(30*time.Second); ; i++ {
			httpUp := httpUps[i%2]
			select {
			case <-ctx.Done():
				tick.Stop()
				return
			case <-tick.C:
			}
			st.upstreamDown.Store(true)
			httpUp.stop()
			time.Sleep(3 * time.Second)
			if err := httpUp.start(); err != nil {
				t.Errorf("restarting the upstream: %v", err)
			}
			time.Sleep(200 * time.Millisecond) // requests sent while it was down are still finishing
			st.upstreamDown.Store(false)
			st.kills.Add(1)
		}
	})
	wg.Go(func() {
		for gen, tick := 1, time.NewTicker(20*time.Second); ; gen++ {
			select {
			case <-ctx.Done():
				tick.Stop()
				return
			case <-tick.C:
			}
			writeCfg(gen)
			st.reloads.Add(1)
		}
	})
	// Slow clients: each trickles a body, one byte a second, until the gateway cuts it.
	for range 20 {
		wg.Go(func() { slowClient(ctx, port, st) })
	}
	// The fixed-rate load: 200 requests a second, 70% HTTP, 20% MCP tools/call, 10% A2A.
	mcpClients := make(chan *sdk.ClientSession, 8)
	for range 8 {
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "soak"}, nil).Connect(ctx,
			&sdk.StreamableClientTransport{Endpoint: base + "/mcp"}, nil)
		require.NoError(t, err)
		defer cs.Close()
		mcpClients <- cs
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	for tick := time.NewTicker(5 * time.Millisecond); ctx.Err() == nil; {
		select {
		case <-ctx.Done():
		case <-tick.C:
			wg.Go(func() {
				switch n := rand.IntN(10); {
				case n < 7:
					st.record("http", func() error { return soakHTTP(client, base+"/http/x") })
				case n < 9:
					cs := <-mcpClients
					st.record("mcp", func() error { return soakMCP(cs) })
					mcpClients <- cs
				default:
					st.record("a2a", func() error { return soakA2A(client, base+"/agent") })
				}
			})
		}
	}
	wg.Wait()
	client.CloseIdleConnections()
	time.Sleep(2 * time.Second) // let the gateway settle before the end figures
	endRSS, endG := procRSS(cmd.Process.Pid), goroutines(admin)
	t.Log(st.report(dur, startRSS, endRSS, startG, endG))
	require.Zero(t, st.unexpected.Load(), "failures outside upstream-down windows (see the report)")
}

const soakConfig = `
binds:
- port: %d
  listeners:
  - routes:
    - name: http
      matches: [{path: {pathPrefix: /http}}]
      policies:
        requestHeaderModifier: {set: {x-generation: "%d"}}
        retry: {attempts: 2, codes: [502, 503]}
      backends: [{host: "%s"}, {host: "%s"}]
    - name: mcp
      matches: [{path: {pathPrefix: /mcp}}]
      backends:
      - mcp:
          failureMode: failOpen
          targets:
          - {name: a, mcp: {host: "%s"}}
          - {name: b, mcp: {host: "%s"}}
          - {name: down, mcp: {host: "%s"}}
    - name: agent
      matches: [{path: {pathPrefix: /agent}}]
      policies:
        urlRewrite: {path: {prefix: /}}
        a2a: {}
      backends: [{host: "%s"}]
`

// restartable is an upstream server that can be stopped and started again on the same address.
type restartable struct {
	addr string
	h    http.Handler
	mu   sync.Mutex
	srv  *http.Server
}

func (r *restartable) start() error {
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after a stop
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.srv = &http.Server{Handler: r.h}
	srv := r.srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

func (r *restartable) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		_ = r.srv.Close() // a kill: open connections are cut
		r.srv = nil
	}
}

func freeAddr(t *testing.T) string { return "127.0.0.1:" + strconv.Itoa(freePort(t)) }

func soakMCPServer(t *testing.T, name string) string {
	s := sdk.NewServer(&sdk.Implementation{Name: name}, nil)
	sdk.AddTool(s, &sdk.Tool{Name: "echo"}, func(ctx context.Context, _ *sdk.CallToolRequest, in struct {
		Text string `json:"text"`
	}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: in.Text}}}, nil, nil
	})
	up := &restartable{addr: freeAddr(t), h: sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil)}
	require.NoError(t, up.start())
	t.Cleanup(up.stop)
	return "http://" + up.addr + "/mcp"
}

type soakAgent struct{}

func (soakAgent) Execute(ctx context.Context, _ *a2asrv.RequestContext, q eventqueue.Queue) error {
	return q.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: "ok"}))
}

func (soakAgent) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error { return nil }

func soakHTTP(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && (resp.StatusCode != 200 || string(b) != "ok") {
		err = fmt.Errorf("status %d %q", resp.StatusCode, b)
	}
	return err
}

func soakMCP(cs *sdk.ClientSession) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tool := []string{"a_echo", "b_echo"}[rand.IntN(2)]
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: map[string]any{"text": "hi"}})
	if err == nil && (res.IsError || len(res.Content) != 1) {
		err = fmt.Errorf("tool error: %+v", res.Content)
	}
	return err
}

const soakSend = `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"hello"}]}}}`

func soakA2A(c *http.Client, url string) error {
	resp, err := c.Post(url, "application/json", strings.NewReader(soakSend))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && (resp.StatusCode != 200 || !strings.Contains(string(b), `"result"`)) {
		err = fmt.Errorf("status %d %.200s", resp.StatusCode, b)
	}
	return err
}

// slowClient sends a request whose body trickles at one byte a second and counts how it ended; it
// starts over until ctx is done.
func slowClient(ctx context.Context, port int, st *soakStats) {
	for ctx.Err() == nil {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		_, _ = io.WriteString(conn, "POST /http/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		answered := make(chan int, 1)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				answered <- 0
				return
			}
			answered <- resp.StatusCode
		}()
	trickle:
		for {
			select {
			case code := <-answered:
				if code == http.StatusRequestTimeout {
					st.slowCut.Add(1)
				}
				break trickle
			case <-time.After(time.Second):
				if _, err := conn.Write([]byte{'x'}); err != nil {
					<-answered
					break trickle
				}
			}
		}
		stop()
		conn.Close()
	}
}

type soakStats struct {
	mu           sync.Mutex
	lat          map[string][]time.Duration
	fails        map[string]int
	sampled      map[string]int
	samples      []string
	upstreamDown atomic.Bool
	expected     atomic.Int64 // HTTP failures while an upstream endpoint was down
	unexpected   atomic.Int64
	kills        atomic.Int64
	reloads      atomic.Int64
	slowCut      atomic.Int64
}

func newSoakStats() *soakStats {
	return &soakStats{lat: map[string][]time.Duration{}, fails: map[string]int{}, sampled: map[string]int{}}
}

func (s *soakStats) record(kind string, f func() error) {
	down := s.upstreamDown.Load()
	start := time.Now()
	err := f()
	d := time.Since(start)
	down = down || s.upstreamDown.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lat[kind] = append(s.lat[kind], d)
	if err == nil {
		return
	}
	s.fails[kind]++
	if s.sampled[kind] < 4 { // a few of each kind, so that one kind's failures do not hide another's
		s.sampled[kind]++
		s.samples = append(s.samples, fmt.Sprintf("%s (endpoint down: %v): %v", kind, down, err))
	}
	if down && kind == "http" {
		s.expected.Add(1)
		return
	}
	s.unexpected.Add(1)
}

func (s *soakStats) report(dur time.Duration, rss0, rss1 int64, g0, g1 string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\nsoak %s: %d upstream kills, %d config reloads, %d slow clients cut\n", dur, s.kills.Load(), s.reloads.Load(), s.slowCut.Load())
	fmt.Fprintf(&b, "%-5s %9s %7s %9s %9s\n", "route", "requests", "failed", "p50", "p99")
	for _, k := range []string{"http", "mcp", "a2a"} {
		l := s.lat[k]
		slices.Sort(l)
		pct := func(p float64) time.Duration {
			if len(l) == 0 {
				return 0
			}
			return l[min(len(l)-1, int(float64(len(l))*p))]
		}
		fmt.Fprintf(&b, "%-5s %9d %7d %9s %9s\n", k, len(l), s.fails[k], pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
	}
	fmt.Fprintf(&b, "HTTP failures while an upstream endpoint was being killed: %d; other failures: %d\n", s.expected.Load(), s.unexpected.Load())
	for _, e := range s.samples {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	fmt.Fprintf(&b, "gateway RSS: start %d MB, end %d MB; goroutines: start %s, end %s\n", rss0>>20, rss1>>20, g0, g1)
	return b.String()
}

func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// goroutines reads the goroutine count from the admin listener's pprof endpoint.
func goroutines(admin string) string {
	resp, err := http.Get("http://" + admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return "n/a"
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if _, n, ok := strings.Cut(strings.TrimSpace(line), "total "); ok && resp.StatusCode == 200 {
		return n
	}
	return "n/a"
}
