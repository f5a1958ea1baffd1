package config_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/internal/awstest"
)

// TestAgentCoreBackendFromYAML: an aws.agentCore backend invokes the runtime's InvokeAgentRuntime
// path, SigV4-signed with the default chain's credentials for bedrock-agentcore in the ARN's region;
// the stub checks the signature.
func TestAgentCoreBackendFromYAML(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIDENV", SecretAccessKey: "env-secret"}
	var got string
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		svc, region, err := awstest.VerifySigV4(r, body, creds)
		if err != nil {
			http.Error(w, err.Error(), 403)
			return
		}
		got = svc + " " + region + " " + r.URL.EscapedPath() + "?" + r.URL.RawQuery + " " + string(body)
		_, _ = io.WriteString(w, `{"result":"ok"}`)
	}))
	defer stub.Close()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", stub.URL)
	rt, err := build(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - aws:
          agentCore:
            agentRuntimeArn: arn:aws:bedrock-agentcore:eu-central-1:111122223333:runtime/agent-1
            qualifier: prod
`, nil)
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, gw.Apply(rt.Config))
	srv := httptest.NewServer(gw.PortHandler(3000))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/invoke", "application/json", strings.NewReader(`{"prompt":"hello"}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(b))
	assert.Equal(t, `{"result":"ok"}`, string(b))
	assert.Equal(t, `bedrock-agentcore eu-central-1 /runtimes/arn%3Aaws%3Abedrock-agentcore%3Aeu-central-1%3A111122223333%3Aruntime%2Fagent-1/invocations?qualifier=prod {"prompt":"hello"}`, got)

	_, err = config.Load([]byte("binds: [{port: 1, listeners: [{routes: [{backends: [{aws: {agentCore: {agentRuntimeArn: nope}}}]}]}]}]"), nil)
	if err == nil {
		_, err = build(t, "binds: [{port: 1, listeners: [{routes: [{backends: [{aws: {agentCore: {agentRuntimeArn: nope}}}]}]}]}]", nil)
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "aws.agentCore.agentRuntimeArn")
}
