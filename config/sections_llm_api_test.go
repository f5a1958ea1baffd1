package config_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// TestLLMPassthroughYAML: llm.models[].passthrough detect forwards the client's body unchanged
// (params.model does not rewrite it); a mode outside the schema's enum is an error at its path.
func TestLLMPassthroughYAML(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	yaml := `
llm:
  port: 4101
  models:
  - name: raw
    provider: openai
    passthrough: detect
    params: {model: rewritten, baseUrl: $OPENAI_URL/v1, apiKey: k}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"OPENAI_URL": oa.URL})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"raw","vendor":1,"messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	req, _, _ := oa.last()
	assert.Equal(t, "raw", req["model"], "passthrough keeps the body")
	assert.Equal(t, float64(1), req["vendor"])

	_, err := build(t, "llm:\n  models:\n  - {name: g, provider: openai, passthrough: sometimes}\n", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "llm.models[0].passthrough")
}

// TestLLMAzureEntraYAML: llm.models[].auth.azure.explicitConfig.clientSecret gets an Entra token
// from the token endpoint (checked: client credentials grant, Cognitive Services scope) and sends it
// to Azure OpenAI as the bearer token.
func TestLLMAzureEntraYAML(t *testing.T) {
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.URL.Path != "/tn/oauth2/v2.0/token" || r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_id") != "app" ||
			r.Form.Get("client_secret") != "sec" || r.Form.Get("scope") != "https://cognitiveservices.azure.com/.default" {
			t.Errorf("token request %s %v", r.URL.Path, r.Form)
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"entra","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(tokens.Close)
	t.Setenv("AZURE_AUTHORITY_HOST", tokens.URL)
	az := newLLMStub(t, "azure", false)
	yaml := `
llm:
  port: 4102
  models:
  - name: gpt
    provider: azure
    params: {azureResourceName: res, azureResourceType: openAI, baseUrl: $AZ}
    auth:
      azure:
        explicitConfig:
          clientSecret: {tenant_id: tn, client_id: app, client_secret: sec}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"AZ": az.URL})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"gpt","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	_, hdr, path := az.last()
	assert.Equal(t, "Bearer entra", hdr.Get("Authorization"))
	assert.Empty(t, hdr.Get("api-key"))
	assert.Equal(t, "/openai/v1/chat/completions", path)
}

// TestLLMCloudAuthErrors: the parts of aws, gcp and azure auth that are not built are rejected at
// their path, and incomplete credentials are errors.
func TestLLMCloudAuthErrors(t *testing.T) {
	for _, c := range []struct{ auth, path string }{
		{`{aws: {assumeRole: {roleArn: arn, sessionName: {expression: 'nope(('}}}}`, "auth.aws.assumeRole.sessionName.expression"},
		{`{aws: {assumeRole: {sessionName: s}}}`, "auth.aws.assumeRole"},
		{`{aws: {accessKeyId: AKID}}`, "auth.aws"},
		{`{gcp: {type: idToken}}`, "auth.gcp.type"},
		{`{azure: {developerImplicit: {}}}`, "auth.azure.developerImplicit"},
		{`{azure: {explicitConfig: {clientSecret: {tenant_id: t, client_id: c, client_secret: ""}}}}`, "auth.azure.explicitConfig.clientSecret"},
	} {
		_, err := build(t, "llm:\n  models:\n  - {name: g, provider: openai, auth: "+c.auth+"}\n", nil)
		require.Error(t, err, c.auth)
		assert.Contains(t, err.Error(), "llm.models[0]."+c.path, c.auth)
	}
}

// TestLLMShortFormTLS: llm.tls serves the llm port over HTTPS with the configured certificate (a
// client trusting that certificate completes a chat call); unsupported TLS fields are rejected.
func TestLLMShortFormTLS(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "llm.example.com")
	oa := newLLMStub(t, "openai", false)
	rt, err := buildIn(t, dir, `
llm:
  port: 4443
  tls: {cert: llm.example.com.crt, key: llm.example.com.key, minTLSVersion: TLS_V1_3}
  models:
  - {name: m, provider: openai, params: {baseUrl: `+oa.URL+`/v1, apiKey: k}}
`)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	l := rt.Config.Listeners[0]
	require.NotNil(t, l.TLS)
	assert.Equal(t, uint16(tls.VersionTLS13), l.TLS.MinVersion)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Apply(rt.Config))
	t.Cleanup(func() { _ = gw.Close() })
	srv := httptest.NewUnstartedServer(gw.PortHandler(l.Port))
	srv.TLS = l.TLS
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pem, err := os.ReadFile(filepath.Join(dir, "llm.example.com.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "llm.example.com"}}}
	resp, err := client.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(b))
	assert.Equal(t, uint16(tls.VersionTLS13), resp.TLS.Version)

	for _, c := range []struct{ tls, path string }{
		{`{cert: a, key: b, spiffe: {}}`, "llm.tls.spiffe"},
		{`{key: b}`, "llm.tls.cert"},
		{`{cert: a, key: b, mode: dynamicCa}`, "llm.tls.mode"},
	} {
		_, err := buildIn(t, dir, "llm:\n  tls: "+c.tls+"\n  models:\n  - {name: g, provider: openai}\n")
		require.Error(t, err, c.tls)
		assert.Contains(t, err.Error(), c.path)
	}
}

// TestAIBackendAWSAuth: an ai backend's policies.backendAuth.aws with explicit keys signs Bedrock
// requests with SigV4 under those keys (the stub checks the signature's credential scope and
// recomputes it).
func TestAIBackendAWSAuth(t *testing.T) {
	var bad atomic.Int32
	br := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		date := r.Header.Get("X-Amz-Date")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDCFG/"+date[:8]+"/eu-west-1/bedrock/aws4_request") {
			bad.Add(1)
			w.WriteHeader(403)
			return
		}
		// Recompute over the headers the gateway signed.
		_, signed, _ := strings.Cut(auth, "SignedHeaders=")
		signed, _, _ = strings.Cut(signed, ",")
		cl := r.Clone(context.Background())
		cl.Header = http.Header{}
		for _, h := range strings.Split(signed, ";") {
			if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
				cl.Header[http.CanonicalHeaderKey(h)] = v
			}
		}
		cl.URL.Scheme, cl.URL.Host = "http", r.Host
		ts, _ := time.Parse("20060102T150405Z", date)
		sum := sha256.Sum256(body)
		_ = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDCFG", SecretAccessKey: "cfg-secret"}, cl, hex.EncodeToString(sum[:]), "bedrock", "eu-west-1", ts)
		if cl.Header.Get("Authorization") != auth {
			bad.Add(1)
			w.WriteHeader(403)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"output":{"message":{"role":"assistant","content":[{"text":"from bedrock"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}}`)
	}))
	t.Cleanup(br.Close)
	yaml := `
binds:
- port: 3001
  listeners:
  - routes:
    - backends:
      - ai:
          name: br
          provider: {bedrock: {region: eu-west-1, model: anthropic.claude-x}}
          hostOverride: $BR
          policies:
            backendAuth: {aws: {accessKeyId: AKIDCFG, secretAccessKey: cfg-secret}}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"BR": strings.TrimPrefix(br.URL, "http://")})
	status, body := chat(t, srv.URL, "/v1/chat/completions", `{"model":"x","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, "from bedrock")
	assert.Zero(t, bad.Load(), "signature rejected")
}
