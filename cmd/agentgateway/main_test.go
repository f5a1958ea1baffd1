package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/agentgw/agentgateway/internal/logbuf"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func upstream(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

const configTmpl = `
binds:
- port: %d
  listeners:
  - name: main
    routes:
    - name: api
      matches:
      - path: {pathPrefix: /api}
      policies:
        urlRewrite: {path: {prefix: /}}
        requestHeaderModifier: {set: {x-gw: "1"}}
        responseHeaderModifier: {set: {x-version: "%s"}}
      backends:
      - host: %s
        weight: 1
      - host: %s
        weight: 1
    - name: moved
      matches: [{path: {exact: /moved}}]
      policies:
        requestRedirect: {path: {full: /api/new}, status: 308}
    - name: ping
      matches: [{path: {exact: /ping}}]
      policies:
        directResponse: {status: 200, body: pong}
`

// gateway runs the binary's main loop in-process against a config file.
type gateway struct {
	t      *testing.T
	file   string
	port   int
	admin  string
	stats  string
	ready  string
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
}

type syncBuffer = logbuf.Buffer

func start(t *testing.T, cfg string, port int, extra ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{t: t, file: filepath.Join(dir, "config.yaml"), port: port, stderr: &syncBuffer{}, done: make(chan int, 1)}
	require.NoError(t, os.WriteFile(g.file, []byte(cfg), 0o600))
	g.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() {
		args := append([]string{"-f", g.file, "--bind-address", "127.0.0.1", "--admin-addr", g.admin,
			"--stats-addr", "127.0.0.1:0", "--readiness-addr", "127.0.0.1:0", "--watch-interval", "20ms", "--drain-timeout", "5s"}, extra...)
		g.done <- run(ctx, args, io.Discard, g.stderr)
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + g.admin + "/healthz/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond, "gateway never became ready: %s", g.stderr)
	// The stats and readiness listeners bind port 0 (a port picked in advance could be one the config
	// binds); their log lines tell where they are. Logs are buffered (LogWriter): wait for the line the
	// binary writes once everything listens.
	require.Eventually(t, func() bool { return strings.Contains(g.stderr.String(), "agentgateway ready") },
		10*time.Second, 10*time.Millisecond, "no ready line: %s", g.stderr)
	g.stats, g.ready = listenedAt(g.stderr.String(), "stats"), listenedAt(g.stderr.String(), "readiness")
	t.Cleanup(g.stop)
	return g
}

// listenedAt finds the address in the `<name> listening addr=...` log line.
func listenedAt(log, name string) string {
	if _, rest, ok := strings.Cut(log, "msg=\""+name+" listening\" addr="); ok { // text
		addr, _, _ := strings.Cut(rest, "\n")
		return strings.TrimSpace(addr)
	}
	if _, rest, ok := strings.Cut(log, `"msg":"`+name+` listening","addr":"`); ok { // JSON
		addr, _, _ := strings.Cut(rest, `"`)
		return addr
	}
	return ""
}

func (g *gateway) stop() {
	if g.cancel == nil {
		return
	}
	g.cancel()
	g.cancel = nil
	select {
	case code := <-g.done:
		require.Equal(g.t, 0, code, g.stderr.String())
	case <-time.After(10 * time.Second):
		g.t.Fatal("gateway did not shut down")
	}
}

func (g *gateway) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", g.port, path) }

func get(t *testing.T, client *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestServesAgentgatewayConfigAndSurvivesEditsUnderLoad(t *testing.T) {
	a, b, c := upstream(t, "a"), upstream(t, "b"), upstream(t, "c")
	port := freePort(t)
	g := start(t, fmt.Sprintf(configTmpl, port, "v1", a, b), port)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	seen := map[string]bool{}
	for range 40 {
		resp, body := get(t, client, g.url("/api/items"))
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "v1", resp.Header.Get("X-Version"))
		seen[body] = true
	}
	require.Equal(t, map[string]bool{"a /items": true, "b /items": true}, seen, "rewrite + both weighted backends")
	resp, _ := get(t, client, g.url("/moved"))
	require.Equal(t, 308, resp.StatusCode)
	require.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/api/new", port), resp.Header.Get("Location"))
	_, body := get(t, client, g.url("/ping"))
	require.Equal(t, "pong", body)

	// Load: clients hammer the gateway while the file is edited, badly once, then well.
	ctx, cancel := context.WithCancel(context.Background())
	var failures, ok atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := http.Get(g.url("/api/x"))
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, os.WriteFile(g.file, []byte("binds: [{port: nope}]"), 0o600))
	require.Eventually(t, func() bool { return strings.Contains(g.stderr.String(), "config reload rejected") }, 5*time.Second, 10*time.Millisecond)
	require.Contains(t, g.stderr.String(), "binds[0].port")
	require.NoError(t, os.WriteFile(g.file, []byte(fmt.Sprintf(configTmpl, port, "v2", c, c)), 0o600))
	require.Eventually(t, func() bool {
		resp, err := client.Get(g.url("/api/items"))
		if err != nil {
			return false // counted by the load goroutines, which must see none
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Version") == "v2" && string(b) == "c /items"
	}, 5*time.Second, 20*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	require.Zero(t, failures.Load(), "no request fails across a bad and a good edit")
	require.Positive(t, ok.Load())

	// The admin listener shows the effective config.
	resp, body = get(t, http.DefaultClient, "http://"+g.admin+"/config_dump")
	require.Equal(t, 200, resp.StatusCode)
	var dump map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &dump))
	require.Contains(t, body, `"v2"`)
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(good, []byte(fmt.Sprintf(configTmpl, 8080, "v", "127.0.0.1:1", "127.0.0.1:2")), 0o600))
	require.NoError(t, os.WriteFile(bad, []byte(`
binds:
- port: 8080
  listeners:
  - routes:
    - backends: [{host: "127.0.0.1:1"}]
    - matches: [{path: {pathPrefx: /}}]
      backends: [{host: "127.0.0.1:1"}]`), 0o600))
	var out, errb bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"-f", good, "--validate"}, &out, &errb), errb.String())
	require.Contains(t, out.String(), "valid")
	out.Reset()
	require.Equal(t, 1, run(context.Background(), []string{"-f", bad, "--validate"}, &out, &errb))
	require.Contains(t, errb.String(), `binds[0].listeners[0].routes[1].matches[0].path.pathPrefx: unknown field "pathPrefx"`)
	require.Equal(t, 2, run(context.Background(), []string{}, &out, &errb), "no -f is a usage error")
}

func TestDrainOnShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	defer slow.Close()
	port := freePort(t)
	host := strings.TrimPrefix(slow.URL, "http://")
	g := start(t, fmt.Sprintf(configTmpl, port, "v", host, host), port)
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(g.url("/api/slow"))
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-started
	g.cancel() // SIGTERM
	time.Sleep(100 * time.Millisecond)
	close(release)
	require.Equal(t, "finished", <-result, "the in-flight request completes during the drain")
	select {
	case code := <-g.done:
		require.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("no exit")
	}
	g.cancel = nil
}
