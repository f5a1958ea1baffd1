package config_test

import (
	"context"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

const notesSpec = `
openapi: 3.1.0
info: {title: Notes, version: "1"}
servers: [{url: "https://notes.invalid/v2"}]
paths:
  /notes/{id}:
    get:
      operationId: getNote
      summary: Read a note
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        "200": {description: ok}
`

// notesAPI answers GET /v2/notes/{id} and reports each request's Authorization.
func notesAPI(auth chan<- string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case auth <- r.Header.Get("Authorization"):
		default:
		}
		id, ok := strings.CutPrefix(r.URL.Path, "/v2/notes/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":`+id+`,"text":"note `+id+`"}`)
	})
}

// serveConfigIn is serveConfig with relative file names resolved against dir.
func serveConfigIn(t *testing.T, dir, yaml string, env map[string]string) string {
	t.Helper()
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	return serveFile(t, f, dir)
}

// serveFile builds f (its relative paths resolved against dir) and serves the port it binds.
func serveFile(t *testing.T, f *config.File, dir string) string {
	t.Helper()
	f.SetDir(dir)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Apply(rt.Config))
	srv := httptest.NewServer(gw.PortHandler(rt.Config.Listeners[0].Port))
	t.Cleanup(func() {
		_ = rt.Close()
		srv.Close()
	})
	return srv.URL
}

const openAPIYAML = `
binds:
- port: 3000
  listeners:
  - routes:
    - matches:
      - path: {pathPrefix: /mcp}
      backends:
      - mcp:
          targets:
          - name: notes
            openapi:
              schema: {file: specs/notes.yaml}
              host: $API
            policies:
              backendAuth: {key: {value: notes-key}}
          - name: remote
            openapi:
              schema: {url: $SPEC_URL}
              host: $TLS_API
            policies:
              backendTLS: {root: ca.pem}
          - name: other
            mcp: {host: $ONE}
`

// TestOpenAPITargetFromYAML: openapi targets from a file (resolved against the config's directory)
// and from a URL (fetched at build time), federated beside an MCP target; backendAuth and backendTLS
// apply to the REST calls.
func TestOpenAPITargetFromYAML(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "specs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "specs/notes.yaml"), []byte(notesSpec), 0o600))
	plainAuth, tlsAuth := make(chan string, 10), make(chan string, 10)
	api := httptest.NewServer(notesAPI(plainAuth))
	t.Cleanup(api.Close)
	tlsAPI := httptest.NewTLSServer(notesAPI(tlsAuth))
	t.Cleanup(tlsAPI.Close)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsAPI.Certificate().Raw}), 0o600))
	var fetches sync.WaitGroup
	fetches.Add(1)
	specSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer fetches.Done()
		_, _ = io.WriteString(w, notesSpec)
	}))
	t.Cleanup(specSrv.Close)

	env := map[string]string{"API": api.URL, "TLS_API": tlsAPI.URL, "SPEC_URL": specSrv.URL + "/notes.yaml", "ONE": mcpUpstream(t, "one")}
	url := serveConfigIn(t, dir, openAPIYAML, env)
	fetches.Wait()
	names, cs := mcpToolNames(t, url+"/mcp")
	assert.Equal(t, []string{"notes_getNote", "other_admin", "other_echo", "remote_getNote"}, names)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "notes_getNote", Arguments: map[string]any{"id": 3}})
	require.NoError(t, err)
	require.False(t, res.IsError, "%v", res.Content)
	assert.Equal(t, map[string]any{"id": float64(3), "text": "note 3"}, res.StructuredContent)
	assert.Equal(t, "Bearer notes-key", <-plainAuth, "the target's backendAuth reaches the REST API")

	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "remote_getNote", Arguments: map[string]any{"id": 4}})
	require.NoError(t, err)
	require.False(t, res.IsError, "backendTLS trusts the API's CA: %v", res.Content)
	assert.Equal(t, "note 4", res.StructuredContent.(map[string]any)["text"])
	<-tlsAuth

	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "notes_getNote", Arguments: map[string]any{"id": "three"}})
	require.NoError(t, err)
	assert.True(t, res.IsError, "arguments are validated against the document's schema")
}

// TestOpenAPITargetTLSNeedsTrust: without backendTLS, an API whose certificate the system does not
// trust is a tool error naming the failure, not a success or a hang; a route's backendTLS policy
// (here the short form's) applies to the REST calls as a target's does.
func TestOpenAPITargetTLSNeedsTrust(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.yaml"), []byte(notesSpec), 0o600))
	tlsAPI := httptest.NewTLSServer(notesAPI(nil))
	t.Cleanup(tlsAPI.Close)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsAPI.Certificate().Raw}), 0o600))
	yaml := `
mcp:
  port: 0
  targets:
  - name: notes
    openapi: {schema: {file: notes.yaml}, host: $TLS_API}
`
	url := serveConfigIn(t, dir, yaml, map[string]string{"TLS_API": tlsAPI.URL})
	_, cs := mcpToolNames(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "getNote", Arguments: map[string]any{"id": 1}})
	require.NoError(t, err)
	assert.True(t, res.IsError)
	assert.Contains(t, res.Content[0].(*sdk.TextContent).Text, "certificate")

	url = serveConfigIn(t, dir, yaml+"  policies:\n    backendTLS: {root: ca.pem}\n", map[string]string{"TLS_API": tlsAPI.URL})
	_, cs = mcpToolNames(t, url)
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "getNote", Arguments: map[string]any{"id": 1}})
	require.NoError(t, err)
	require.False(t, res.IsError, "the route's backendTLS trusts the API: %v", res.Content)
}

func TestOpenAPITargetConfigErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("openapi: 3.0.0\npaths: {}\n"), 0o600))
	missing := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(missing.Close)
	base := `
mcp:
  port: 0
  targets:
  - name: api
    openapi: OPENAPI
`
	for name, c := range map[string]struct{ openapi, path, msg string }{
		"no file":    {`{schema: {file: nope.yaml}, host: "http://127.0.0.1:1"}`, "mcp.targets[0].openapi.schema.file", "nope.yaml"},
		"bad spec":   {`{schema: {file: bad.yaml}, host: "http://127.0.0.1:1"}`, "mcp.targets[0].openapi", "openapi spec"},
		"url 404":    {`{schema: {url: "` + missing.URL + `/x.json"}, host: "http://127.0.0.1:1"}`, "mcp.targets[0].openapi.schema.url", "HTTP 404"},
		"no host":    {`{schema: {file: bad.yaml}}`, "mcp.targets[0].openapi.host", "host"},
		"bad source": {`{schema: {file: a, url: b}, host: x}`, "mcp.targets[0].openapi.schema", "want a string"},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := config.Load([]byte(strings.Replace(base, "OPENAPI", c.openapi, 1)), func(string) (string, bool) { return "", false })
			if err == nil {
				f.SetDir(dir)
				var rt *config.Runtime
				rt, err = f.Build(slog.New(slog.DiscardHandler))
				if rt != nil {
					_ = rt.Close()
				}
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.path)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
}

// TestOpenAPITargetInlineYAML: a document given inline; "$$" writes the "$" of "$ref", as everywhere
// in the config ($NAME is an environment variable).
func TestOpenAPITargetInlineYAML(t *testing.T) {
	api := httptest.NewServer(notesAPI(nil))
	t.Cleanup(api.Close)
	yaml := `
mcp:
  port: 0
  targets:
  - name: notes
    openapi:
      host: $API
      schema: |
        openapi: 3.0.3
        info: {title: Notes, version: "1"}
        paths:
          /v2/notes/{id}:
            get:
              operationId: getNote
              parameters: [{$$ref: "#/components/parameters/id"}]
              responses: {"200": {description: ok}}
        components:
          parameters:
            id: {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
`
	url := serveConfigIn(t, t.TempDir(), yaml, map[string]string{"API": api.URL})
	names, cs := mcpToolNames(t, url)
	assert.Equal(t, []string{"getNote"}, names)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "getNote", Arguments: map[string]any{"id": 5}})
	require.NoError(t, err)
	require.False(t, res.IsError, "%v", res.Content)
	assert.Equal(t, "note 5", res.StructuredContent.(map[string]any)["text"])
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "getNote", Arguments: map[string]any{"id": 0}})
	require.NoError(t, err)
	assert.True(t, res.IsError, "the $ref'd parameter's minimum applies")
}
