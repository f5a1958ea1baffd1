package config_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// TestAIRoutesPascalCase: agentgateway's published examples spell ai route types in PascalCase
// ("Models", "Completions"); those spellings serve exactly as the camelCase ones do: GET /v1/models
// answers the declared models and chat completions reach the provider.
func TestAIRoutesPascalCase(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	yaml := `
binds:
- port: 3003
  listeners:
  - routes:
    - backends:
      - ai: {name: openai, provider: {openAI: {}}, hostOverride: $OA}
      policies:
        ai:
          models:
          - {id: gpt-4o-mini, ownedBy: openai, created: 1704067200}
          routes:
            "/v1/models": Models
            "/v1/chat/completions": Completions
            "/count": AnthropicTokenCount
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OA": strings.TrimPrefix(oa.URL, "http://")})
	resp, err := http.Get(srv.URL + "/v1/models")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(b))
	assert.Contains(t, string(b), `"gpt-4o-mini"`)
	assert.Contains(t, string(b), `"owned_by":"openai"`)

	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, "from openai")

	// A spelling agentgateway has in neither case is still refused at its key.
	_, err = build(t, "binds: [{port: 1, listeners: [{routes: [{backends: [{ai: {name: o, provider: {openAI: {}}}}], policies: {ai: {routes: {/x: CHAT}}}}]}]}]", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policies.ai.routes./x")
}

// TestHTTPBackendAndHtpasswdFile: agentgateway's basic-authentication example spells a host backend
// `http: {hostname, port}` and the user file `htpasswdFile`; both serve as `host: hostname:port` and
// `htpasswd: {file}` do (the upstream is reached, credentials are checked), and bad values are refused
// at their key.
func TestHTTPBackendAndHtpasswdFile(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream "+r.URL.Path)
	}))
	t.Cleanup(up.Close)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), ".htpasswd")
	require.NoError(t, os.WriteFile(file, []byte("alice:"+string(hash)+"\n"), 0o600))
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))
	yaml := `
binds:
- port: 3004
  listeners:
  - routes:
    - policies:
        basicAuth: {htpasswdFile: $FILE, realm: R, mode: strict}
      backends:
      - http: {hostname: $HOST, port: $PORT}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"FILE": file, "HOST": host, "PORT": port})
	get := func(user, pass string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get("alice", "pw")
	require.Equal(t, 200, status, body)
	assert.Equal(t, "upstream /x", body)
	status, _ = get("alice", "nope")
	assert.Equal(t, 401, status)

	for _, c := range []struct{ backend, policy, path string }{
		{"{http: {hostname: h, port: 0}}", "{}", "backends[0].http.port"},
		{"{http: {port: 80}}", "{}", "backends[0].http.hostname"},
		{"{http: {hostname: h, port: 80, path: /x}}", "{}", "backends[0].http.path"},
		{"{http: {hostname: h, port: 80}, host: h:80}", "{}", "backends[0].host"},
		{"{host: h:80}", "{basicAuth: {htpasswdFile: " + file + ", htpasswd: inline}}", "policies.basicAuth.htpasswdFile"},
	} {
		_, err := build(t, "binds: [{port: 1, listeners: [{routes: [{backends: ["+c.backend+"], policies: "+c.policy+"}]}]}]", nil)
		require.Error(t, err, c.backend)
		assert.Contains(t, err.Error(), c.path, c.backend)
	}
}
