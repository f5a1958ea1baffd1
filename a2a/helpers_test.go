package a2a_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/agentgw/agentgateway/internal/logbuf"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// echoExecutor behaves like the JS test agents: "wait" starts a task that stays working until it is
// canceled; any other text yields task (submitted), working, artifact "echo: <text>", completed.
type echoExecutor struct{ prefix string }

func (e echoExecutor) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	text := ""
	for _, p := range rc.Message.Parts {
		if tp, ok := p.(a2a.TextPart); ok {
			text += tp.Text
		}
	}
	if rc.StoredTask == nil {
		if err := q.Write(ctx, a2a.NewSubmittedTask(rc, rc.Message)); err != nil {
			return err
		}
	}
	if err := q.Write(ctx, a2a.NewStatusUpdateEvent(rc, a2a.TaskStateWorking, nil)); err != nil {
		return err
	}
	if text == "wait" {
		<-ctx.Done()
		return nil
	}
	if strings.HasPrefix(text, "slow") {
		time.Sleep(200 * time.Millisecond)
	}
	prefix := e.prefix
	if prefix == "" {
		prefix = "echo"
	}
	if err := q.Write(ctx, a2a.NewArtifactEvent(rc, a2a.TextPart{Text: prefix + ": " + text})); err != nil {
		return err
	}
	done := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCompleted, nil)
	done.Final = true
	return q.Write(ctx, done)
}

func (echoExecutor) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	ev := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}

func echoCard(name, url string, skills ...a2a.AgentSkill) *a2a.AgentCard {
	if len(skills) == 0 {
		skills = []a2a.AgentSkill{{ID: "echo", Name: "Echo", Description: "Echoes text", Tags: []string{"echo", "text"}}}
	}
	return &a2a.AgentCard{
		Name: name, Description: "Echo agent (a2a-go)", URL: url, PreferredTransport: a2a.TransportProtocolJSONRPC,
		ProtocolVersion: "0.3.0", Version: "1.0.0",
		Capabilities:       a2a.AgentCapabilities{Streaming: true},
		DefaultInputModes:  []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"},
		Skills:             skills,
	}
}

// goAgent is an a2a-go (a2asrv) agent: card at the well-known path, JSON-RPC at /rpc. Its card
// advertises a wrong address on purpose: only the gateway's rewrite makes it usable.
func goAgentHandler(card *a2a.AgentCard, prefix string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(card))
	mux.Handle("/rpc", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(echoExecutor{prefix: prefix})))
	return mux
}

func startGoAgent(t *testing.T, name string, skills ...a2a.AgentSkill) string {
	t.Helper()
	prefix := ""
	if len(skills) > 0 {
		prefix = name
	}
	srv := httptest.NewServer(goAgentHandler(echoCard(name, "http://10.255.255.1:9/rpc", skills...), prefix))
	t.Cleanup(srv.Close)
	return srv.URL
}

// logBuffer collects the gateway's log lines for assertions.
type logBuffer = logbuf.Buffer

// gatewayFor serves handler behind a gateway route at prefix (stripped before the handler).
func gatewayFor(t *testing.T, prefix string, handler http.Handler, opts ...agentgateway.Option) (string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts = append([]agentgateway.Option{agentgateway.WithLogger(slog.New(slog.NewJSONHandler(logs, nil)))}, opts...)
	gw := agentgateway.New(opts...)
	require.NoError(t, gw.Route("agent").PathPrefix(prefix).RewritePrefix("/").To(handler))
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

// nodeDir returns testdata/node when its modules are installed; otherwise the test is skipped, or
// fails under AGW_INTEROP=1 (make test).
func nodeDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "a2a-sdk-v03")); err != nil {
		if os.Getenv("AGW_INTEROP") == "1" {
			t.Fatalf("node peers not installed in %s (run npm ci there): %v", dir, err)
		}
		t.Skipf("node peers not installed in %s; run `npm ci --prefix %s`", dir, dir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("AGW_INTEROP") == "1" {
			t.Fatal("node not found")
		}
		t.Skip("node not found")
	}
	return dir
}

// startNode runs a JS peer server (it prints its port) and returns its base URL. Closing its stdin at
// cleanup makes it exit.
func startNode(t *testing.T, script string) string {
	t.Helper()
	dir := nodeDir(t)
	cmd := exec.Command("node", script)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &logBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	waited := make(chan struct{})
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			port <- strings.TrimSpace(sc.Text())
		}
		close(port)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(waited) }()
	select {
	case p, ok := <-port:
		require.True(t, ok, "node %s exited: %s", script, stderr.String())
		return "http://127.0.0.1:" + p
	case <-time.After(30 * time.Second):
		t.Fatalf("node %s did not print its port: %s", script, stderr.String())
	}
	return ""
}

// runNodeClient runs a JS client script against baseURL and returns its JSON lines by step.
func runNodeClient(t *testing.T, script, baseURL string) map[string]map[string]any {
	t.Helper()
	dir := nodeDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, baseURL)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	steps := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			steps[m["step"].(string)] = m
		}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("node %s: %v", script, err)
	}
	require.NotContains(t, steps, "error", "client failed: %v\nstderr: %s", steps["error"], stderr.String())
	return steps
}

// rpc posts a JSON-RPC body and returns status and decoded response.
func rpc(t *testing.T, url, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(raw, &m), "body: %s", raw)
	return resp.StatusCode, m
}
