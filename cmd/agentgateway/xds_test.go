package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/xds"
)

// proc is a binary started by a test, with its log.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop ends the process with SIGTERM (a clean drain), or SIGKILL when kill is set.
func (p *proc) stop(t *testing.T, kill ...bool) {
	select {
	case <-p.done:
		return
	default:
	}
	sig := syscall.SIGTERM
	if len(kill) > 0 && kill[0] {
		sig = syscall.SIGKILL
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("process did not stop on %v: %s", sig, p.stderr)
	}
}

// buildBinary builds this command once into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agentgateway")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// One control plane and two gateway replicas, three processes: the replicas are not ready until the
// first config arrives; 20 config changes reach both under steady HTTP load with no failed request;
// an MCP session opened through a replica survives the updates; a bad update is NACKed by both (the
// control plane logs each NACK with the node and the error) while the last good version keeps
// serving; the control plane is killed and restarted, and the replicas reconnect and get the next
// version.
func TestXDSControlPlaneAndTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three processes")
	}
	bin := buildBinary(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "up %s", r.URL.Path)
	}))
	defer up.Close()
	mcpSrv := sdk.NewServer(&sdk.Implementation{Name: "up", Version: "1"}, nil)
	sdk.AddTool(mcpSrv, &sdk.Tool{Name: "echo"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "pong"}}}, nil, nil
	})
	mcpUp := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return mcpSrv }, nil))
	defer mcpUp.Close() // after the replicas stop (deferred later, run earlier): they end their upstream sessions

	dir := t.TempDir()
	cpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cpFile := filepath.Join(dir, "cp.yaml")
	// Two replicas on one machine: the same port, each on its own loopback address, as two hosts
	// behind a load balancer would serve it.
	port := freePort(t)
	hosts := []string{"127.0.0.1", "127.0.0.2"}
	routes := func(version, extra string) string {
		return fmt.Sprintf(`
config:
  xdsAuthToken: t0ken
backends:
- name: tools
  mcp:
    targets:
    - name: one
      mcp: {host: "%s/mcp"}
binds:
- port: %d
  listeners:
  - name: main
    routes:
    - name: api
      matches: [{path: {pathPrefix: /api}}]
      policies:
        responseHeaderModifier: {set: {x-version: "%s"}}
      backends: [{host: "%s"}]
    - name: mcp
      matches: [{path: {pathPrefix: /mcp}}]
      backends: [{backend: tools}]
%s`, mcpUp.URL, port, version, strings.TrimPrefix(up.URL, "http://"), extra)
	}
	write := func(s string) { require.NoError(t, os.WriteFile(cpFile, []byte(s), 0o600)) }
	write(routes("0", ""))

	// The replicas start first: not ready while the control plane is away.
	bootstrap := filepath.Join(dir, "replica.yaml")
	require.NoError(t, os.WriteFile(bootstrap, fmt.Appendf(nil, `
config:
  xdsAddress: http://%s
  xdsAuthToken: t0ken
  gateway: gw
  namespace: test
  session: {key: %s}
`, cpAddr, strings.Repeat("3c", 32)), 0o600))
	var replicas []*proc
	var readyURLs []string
	for _, host := range hosts {
		r := startProc(t, bin, "-f", bootstrap, "--bind-address", host, "--admin-addr", "off", "--stats-addr", "off",
			"--readiness-addr", "127.0.0.1:0", "--drain-timeout", "5s")
		replicas = append(replicas, r)
		require.Eventually(t, func() bool { return listenedAt(r.stderr.String(), "readiness") != "" }, 20*time.Second, 20*time.Millisecond, "%s", tail(r.stderr.String()))
		readyURLs = append(readyURLs, "http://"+listenedAt(r.stderr.String(), "readiness")+"/healthz/ready")
	}
	status := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, u := range readyURLs {
		require.Equal(t, http.StatusServiceUnavailable, status(u), "not ready before the first config")
	}
	cpArgs := []string{"-f", cpFile, "--xds-serve", cpAddr, "--watch-interval", "20ms"}
	cp := startProc(t, bin, cpArgs...)
	for _, u := range readyURLs {
		require.Eventually(t, func() bool { return status(u) == http.StatusOK }, 20*time.Second, 20*time.Millisecond,
			"replica never ready: %s", tail(replicas[0].stderr.String()))
	}

	// version answers what a replica serves now.
	client := &http.Client{Timeout: 10 * time.Second}
	version := func(host string) string {
		resp, err := client.Get(fmt.Sprintf("http://%s:%d/api/v", host, port))
		if err != nil {
			return "error"
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("x-version")
	}
	waitVersion := func(v string) {
		for _, h := range hosts {
			require.Eventually(t, func() bool { return version(h) == v }, 20*time.Second, 5*time.Millisecond,
				"replica on %s never served version %s: %s", h, v, cp.stderr)
		}
	}
	waitVersion("0")

	// An MCP session through replica 0.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mcpHTTP := &http.Client{Transport: &http.Transport{}}
	defer mcpHTTP.CloseIdleConnections()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: fmt.Sprintf("http://%s:%d/mcp", hosts[0], port), HTTPClient: mcpHTTP, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer cs.Close()
	callTool := func() {
		t.Helper()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
		require.NoError(t, err)
		require.Equal(t, "pong", res.Content[0].(*sdk.TextContent).Text)
	}
	callTool()

	// Steady load on both replicas for the whole test.
	var sent, failed atomic.Int64
	var firstFailure atomic.Pointer[string]
	stopLoad := make(chan struct{})
	var load sync.WaitGroup
	loadClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for i := range 4 {
		load.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				url := fmt.Sprintf("http://%s:%d/api/load", hosts[(i+n)%2], port)
				resp, err := loadClient.Get(url)
				var problem string
				if err != nil {
					problem = err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || string(b) != "up /api/load" {
						problem = fmt.Sprintf("%s: %d %q", url, resp.StatusCode, b)
					}
				}
				sent.Add(1)
				if problem != "" {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, &problem)
				}
			}
		})
	}
	stopLoadNow := func() {
		select {
		case <-stopLoad:
		default:
			close(stopLoad)
			load.Wait()
			loadClient.CloseIdleConnections()
		}
	}
	defer stopLoadNow()

	// 20 changes, each waited for on both replicas.
	var took []time.Duration
	for i := 1; i <= 20; i++ {
		v := fmt.Sprint(i)
		t0 := time.Now()
		write(routes(v, ""))
		waitVersion(v)
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	t.Logf("update propagation (file write to both replicas serving it, with the control plane's 20ms file poll): p50 %v, max %v over %d changes",
		took[len(took)/2], took[len(took)-1], len(took))
	callTool() // the MCP session opened before the 20 updates goes on

	// A bad update: a route to a backend that does not exist, with a new version header. Both replicas
	// NACK it and keep serving version 20.
	write(routes("bad", `    - name: broken
      matches: [{path: {exact: /broken}}]
      backends: [{backend: nowhere}]
`))
	nackLine := regexp.MustCompile(`xds: NACK" node=(\S+) .*no backend named \\"nowhere\\"`)
	require.Eventually(t, func() bool {
		nodes := map[string]bool{}
		for _, m := range nackLine.FindAllStringSubmatch(cp.stderr.String(), -1) {
			nodes[m[1]] = true
		}
		return len(nodes) == 2
	}, 20*time.Second, 20*time.Millisecond, "want a NACK from each replica: %s", cp.stderr)
	require.Contains(t, cp.stderr.String(), `route \"broken\"`, "the NACK names the resource")
	for _, h := range hosts {
		require.Equal(t, "20", version(h), "the last good config keeps serving")
	}
	for _, r := range replicas {
		// Logs are flushed by a goroutine of the binary's: wait for the line.
		require.Eventually(t, func() bool {
			return strings.Contains(r.stderr.String(), "xds: update rejected; still serving the last good config")
		}, 20*time.Second, 20*time.Millisecond, "no rejection logged: %s", tail(r.stderr.String()))
	}

	// The control plane dies; the replicas keep serving; a new one with the next version comes up on
	// the same address, and both replicas reconnect and apply it.
	cp.stop(t, true)
	write(routes("21", ""))
	for _, h := range hosts {
		require.Equal(t, "20", version(h), "serving on without the control plane")
	}
	cp = startProc(t, bin, cpArgs...)
	waitVersion("21")
	callTool()

	stopLoadNow()
	require.Zero(t, failed.Load(), "failed requests (of %d): first: %v", sent.Load(), firstFailure.Load())
	require.Greater(t, sent.Load(), int64(20))
	t.Logf("%d requests under load, none failed", sent.Load())
	client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
}

// tail is the end of a long log, for failure messages.
func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// In-process, under the race detector and goleak: the binary's data-plane mode takes its routes from
// an xds.Server, applies a change, and shuts down cleanly; a bootstrap file that also routes is
// refused.
func TestXDSDataPlaneInProcess(t *testing.T) {
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	port := freePort(t)
	routes := func(body string) []byte {
		return fmt.Appendf(nil, "binds:\n- port: %d\n  listeners:\n  - routes:\n    - policies: {directResponse: {status: 200, body: %s}}\n", port, body)
	}
	require.NoError(t, srv.SetYAML(routes("one")))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		require.NoError(t, <-served)
	}()
	g := start(t, fmt.Sprintf("config:\n  xdsAddress: %s\n  gateway: gw\n", ln.Addr()), port)
	_, body := get(t, http.DefaultClient, g.url("/"))
	require.Equal(t, "one", body)
	require.NoError(t, srv.SetYAML(routes("two")))
	require.Eventually(t, func() bool { _, b := get(t, http.DefaultClient, g.url("/")); return b == "two" }, 10*time.Second, 10*time.Millisecond)
	g.stop()
	http.DefaultClient.CloseIdleConnections()

	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, append([]byte("config:\n  xdsAddress: 127.0.0.1:1\n  gateway: gw\n"), routes("x")...), 0o600))
	var errb bytes.Buffer
	require.Equal(t, 1, run(context.Background(), []string{"-f", file, "--admin-addr", "off", "--stats-addr", "off", "--readiness-addr", "off"}, io.Discard, &errb))
	require.Contains(t, errb.String(), "the file must not have binds")
}
