package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mcpServer(t *testing.T) string {
	s := sdk.NewServer(&sdk.Implementation{Name: "up", Version: "1"}, nil)
	s.AddTool(&sdk.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "echoed"}}}, nil
	})
	ts := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, &sdk.StreamableHTTPOptions{JSONResponse: true}))
	t.Cleanup(ts.Close)
	return ts.URL
}

const observedTmpl = `
config:
  sensitiveHeaders: [x-secret]
  logging:
    format: json
    filter: 'request.path != "/quiet"'
    fields:
      add:
        team: 'request.headers["x-team"]'
        secret: 'request.headers["x-secret"]'
binds:
- port: %d
  listeners:
  - routes:
    - name: mcp
      matches: [{path: {pathPrefix: /mcp}}]
      backends:
      - mcp:
          targets:
          - name: up
            mcp: {host: "%s"}
    - name: plain
      policies:
        requestHeaderModifier: {set: {x-secret: "do-not-dump"}}
        directResponse: {status: 200, body: ok}
`

func accessLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, `"msg":"request"`) {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

// The binary with a config section: JSON access log lines with the MCP fields and the CEL fields
// (sensitive headers redacted, the filter honoured), /metrics parsed as Prometheus text during an MCP
// call, /stats, /logging, pprof and /config_dump with the sensitive header redacted.
func TestBinaryObservability(t *testing.T) {
	port := freePort(t)
	g := start(t, fmt.Sprintf(observedTmpl, port, mcpServer(t)), port)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := &http.Client{Transport: headerRT{"X-Team": "red", "X-Secret": "hunter2"}}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: g.url("/mcp"), HTTPClient: hc, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
	require.NoError(t, err)
	require.Equal(t, "echoed", res.Content[0].(*sdk.TextContent).Text)

	// /metrics on the stats listener, scraped while the session is open.
	resp, body := get(t, http.DefaultClient, "http://"+g.stats+"/metrics")
	require.Equal(t, 200, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, body)
	require.Contains(t, fams, "target_info", "the SDK meter provider of the config serves /metrics")
	var service string
	for _, l := range fams["target_info"].Metric[0].Label {
		if l.GetName() == "service_name" {
			service = l.GetValue()
		}
	}
	assert.Equal(t, "agentgateway", service)

	_, _ = get(t, http.DefaultClient, g.url("/quiet"))
	_, _ = get(t, http.DefaultClient, g.url("/plain"))
	var lines []map[string]any
	require.Eventually(t, func() bool {
		lines = accessLines(t, g.stderr.String())
		return len(lines) > 0 && lines[len(lines)-1]["path"] == "/plain"
	}, 5*time.Second, 20*time.Millisecond)
	var call map[string]any
	for _, l := range lines {
		require.NotEqual(t, "/quiet", l["path"], "config.logging.filter drops the line")
		if l["mcp.method"] == "tools/call" {
			call = l
		}
	}
	require.NotNil(t, call, "a line for the tools/call: %v", lines)
	assert.Equal(t, "echo", call["mcp.tool.name"])
	assert.Equal(t, "red", call["team"])
	assert.Equal(t, "[redacted]", call["secret"])
	assert.Len(t, call["mcp.session"], 12)
	assert.NotContains(t, g.stderr.String(), "hunter2", "a sensitive header never reaches the log")

	// /stats counts what was served.
	_, body = get(t, http.DefaultClient, "http://"+g.admin+"/stats")
	var stats struct {
		Requests int64
		MCP      struct{ ToolCalls int64 }
		Routes   map[string]struct{ Requests int64 }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &stats))
	assert.GreaterOrEqual(t, stats.Requests, int64(4))
	assert.EqualValues(t, 1, stats.MCP.ToolCalls)
	assert.EqualValues(t, 2, stats.Routes["plain"].Requests)

	// /config_dump hides the sensitive header's value.
	_, body = get(t, http.DefaultClient, "http://"+g.admin+"/config_dump")
	assert.NotContains(t, body, "do-not-dump")
	assert.Contains(t, body, "x-secret")

	// pprof and readiness.
	resp, _ = get(t, http.DefaultClient, "http://"+g.admin+"/debug/pprof/")
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = get(t, http.DefaultClient, "http://"+g.ready+"/healthz/ready")
	assert.Equal(t, 200, resp.StatusCode)

	// /logging reads and sets the level; at "error" the access log (info) stops.
	_, body = get(t, http.DefaultClient, "http://"+g.admin+"/logging")
	assert.JSONEq(t, `{"level":"info"}`, body)
	resp, err = http.Post("http://"+g.admin+"/logging?level=loud", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, err = http.Post("http://"+g.admin+"/logging", "application/json", strings.NewReader(`{"level":"error"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	_, body = get(t, http.DefaultClient, "http://"+g.admin+"/logging")
	assert.JSONEq(t, `{"level":"error"}`, body)
	before := len(accessLines(t, g.stderr.String()))
	_, _ = get(t, http.DefaultClient, g.url("/plain"))
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, accessLines(t, g.stderr.String()), before, "no access line at level error")
}

type headerRT map[string]string

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A config key that is misspelt or not supported stops the binary (and --validate) with its path.
func TestBinaryRejectsConfigKeys(t *testing.T) {
	for name, c := range map[string]struct{ yaml, want string }{
		"misspelt":    {"config:\n  logging: {formt: json}\n", `config.logging.formt: unknown field`},
		"unsupported": {"config:\n  caAddress: https://istiod:15012\n", `config.caAddress: config.caAddress is not supported yet`},
		"frontend":    {"frontendPolicies:\n  http: {http1HeaderCase: preserve}\n", `frontendPolicies.http.http1HeaderCase: frontendPolicies.http.http1HeaderCase is not supported yet`},
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "c.yaml")
			require.NoError(t, os.WriteFile(file, []byte(c.yaml), 0o600))
			var out, errb bytes.Buffer
			require.Equal(t, 1, run(context.Background(), []string{"-f", file, "--validate"}, &out, &errb))
			assert.Contains(t, errb.String(), c.want)
			errb.Reset()
			require.Equal(t, 1, run(context.Background(), []string{"-f", file, "--admin-addr", "off", "--stats-addr", "off", "--readiness-addr", "off"}, &out, &errb))
			assert.Contains(t, errb.String(), c.want)
		})
	}
}

// Relative file names in a config resolve against the working directory, as agentgateway documents,
// not against the config file's directory; --validate opens the listener certificate, so a config
// that validates also starts.
func TestRelativePathsResolveAgainstWorkingDirectory(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	work := filepath.Dir(certFile)
	confDir := t.TempDir() // the config lives elsewhere
	cfg := func(cert string) string {
		file := filepath.Join(confDir, "c.yaml")
		require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`
binds:
- port: 8443
  listeners:
  - protocol: HTTPS
    tls: {cert: %s, key: %s}
    routes:
    - policies: {directResponse: {status: 200}}
`, cert, filepath.Base(keyFile))), 0o600))
		return file
	}
	t.Chdir(work)
	var out, errb bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"-f", cfg(filepath.Base(certFile)), "--validate"}, &out, &errb), errb.String())
	errb.Reset()
	require.Equal(t, 1, run(context.Background(), []string{"-f", cfg("missing.pem"), "--validate"}, &out, &errb))
	assert.Contains(t, errb.String(), "binds[0].listeners[0].tls.cert")
	assert.Contains(t, errb.String(), "missing.pem")
}

// config.connectionTerminationDeadline bounds the drain on shutdown (no --drain-timeout given), and
// config.logging.level sets the level (warn: no access lines).
func TestConnectionTerminationDeadlineAndLevelFromConfig(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	port := freePort(t)
	file := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`
config:
  connectionTerminationDeadline: 200ms
  logging: {level: warn}
binds:
- port: %d
  listeners:
  - routes:
    - backends: [{host: "%s"}]
`, port, strings.TrimPrefix(slow.URL, "http://"))), 0o600))
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-f", file, "--bind-address", "127.0.0.1", "--admin-addr", admin,
			"--stats-addr", "off", "--readiness-addr", "off"}, io.Discard, stderr)
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + admin + "/healthz/ready")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond, "never ready: %s", stderr)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/slow", port))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("the drain outlived config.connectionTerminationDeadline (200ms) by far")
	}
	assert.Contains(t, stderr.String(), "drain deadline passed")
	assert.NotContains(t, stderr.String(), `msg=request`, "logging.level warn drops info lines")
}

// /stats reports upstream health: an endpoint that refuses connections is ejected after the
// backend's consecutive failures, and shows healthy: false; a working one stays healthy.
func TestStatsUpstreamHealth(t *testing.T) {
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens there
	up := upstream(t, "up")
	port := freePort(t)
	g := start(t, fmt.Sprintf(`
binds:
- port: %d
  listeners:
  - name: main
    routes:
    - name: dead
      matches: [{path: {pathPrefix: /dead}}]
      backends: [{host: "%s"}]
    - name: live
      backends: [{host: "%s"}]
`, port, dead, up), port)
	for range 6 {
		resp, _ := get(t, http.DefaultClient, g.url("/dead"))
		require.GreaterOrEqual(t, resp.StatusCode, 500)
	}
	_, _ = get(t, http.DefaultClient, g.url("/live"))
	_, body := get(t, http.DefaultClient, "http://"+g.admin+"/stats")
	var stats struct {
		Upstreams map[string][]struct {
			Endpoint string
			Healthy  bool
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &stats), body)
	require.Len(t, stats.Upstreams["main/dead/backends[0]"], 1, body)
	assert.False(t, stats.Upstreams["main/dead/backends[0]"][0].Healthy, body)
	assert.Contains(t, stats.Upstreams["main/dead/backends[0]"][0].Endpoint, dead)
	require.Len(t, stats.Upstreams["main/live/backends[0]"], 1, body)
	assert.True(t, stats.Upstreams["main/live/backends[0]"][0].Healthy)
}
