package config_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/internal/awstest"
)

// TestLLMAssumeRoleExpressions: an ai backend's own backendAuth aws.assumeRole whose sessionName and
// tags are CEL expressions (the published llm-bedrock-attribution example) assumes one session per
// caller: each caller's Bedrock call is signed with the credentials STS issued for the session its
// request evaluates to, and a second call of a caller reuses its session.
func TestLLMAssumeRoleExpressions(t *testing.T) {
	dir := t.TempDir()
	base := aws.Credentials{AccessKeyID: "AKIDBASE", SecretAccessKey: "base-secret"}
	sts := awstest.NewSTS(base)
	defer sts.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", base.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", base.SecretAccessKey)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))

	var mu sync.Mutex
	var auths []string
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2}}`))
	}))
	defer stub.Close()
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - backends:
      - ai:
          name: bedrock
          hostOverride: $HOST
          provider:
            bedrock: {region: us-east-1, model: amazon.nova-micro-v1:0}
          policies:
            backendAuth:
              aws:
                region: us-east-1
                assumeRole:
                  roleArn: arn:aws:iam::123456789012:role/bedrock-invoke
                  sessionName: {expression: 'request.headers["x-user"]'}
                  tags:
                  - {key: user, expression: 'request.headers["x-user"]'}
                  - {key: environment, value: prod}
`
	srv, _ := serveRuntime(t, yaml, map[string]string{"HOST": stub.Listener.Addr().String()})
	for _, user := range []string{"alice", "bob", "alice"} {
		status, body := chatWith(t, srv.URL, map[string]string{"x-user": user}, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
		require.Equal(t, 200, status, body)
	}
	calls := sts.Calls()
	require.Len(t, calls, 2, "one session per caller")
	assert.Equal(t, "alice", calls[0].Get("RoleSessionName"))
	assert.Equal(t, "alice", calls[0].Get("Tags.member.1.Value"))
	assert.Equal(t, "prod", calls[0].Get("Tags.member.2.Value"))
	assert.Equal(t, "bob", calls[1].Get("RoleSessionName"))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, auths, 3)
	assert.Contains(t, auths[0], "Credential="+awstest.Credentials(0).AccessKeyID+"/")
	assert.Contains(t, auths[1], "Credential="+awstest.Credentials(1).AccessKeyID+"/")
	assert.Contains(t, auths[2], "Credential="+awstest.Credentials(0).AccessKeyID+"/")
}
