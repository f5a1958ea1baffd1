package agentcore_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/agentcore"
	"github.com/agentgw/agentgateway/internal/awstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const arn = "arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/my_agent-abc123"

// runtimeStub is an AgentCore data plane: it checks the SigV4 signature (service bedrock-agentcore,
// the ARN's region) and the InvokeAgentRuntime path, and answers with an SSE stream.
func runtimeStub(t *testing.T, creds aws.Credentials) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var seen []string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		svc, region, err := awstest.VerifySigV4(r, body, creds)
		if err != nil || svc != "bedrock-agentcore" || region != "us-west-2" {
			http.Error(w, "bad signature: "+svc+" "+region+" "+err.Error(), http.StatusForbidden)
			return
		}
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery+" "+r.Header.Get(agentcore.SessionHeader)+" "+string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"answer\":1}\n\n")
	}))
	t.Cleanup(s.Close)
	return s, &seen
}

func TestInvokeAgentRuntime(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIDAGENT", SecretAccessKey: "agent-secret", SessionToken: "tok"}
	stub, seen := runtimeStub(t, creds)
	b, err := agentcore.New(agentcore.Config{AgentRuntimeARN: arn, Qualifier: "DEFAULT", Endpoint: stub.URL,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)})
	require.NoError(t, err)
	defer b.Close()
	srv := httptest.NewServer(b)
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/anything", strings.NewReader(`{"prompt":"hi"}`))
	req.Header.Set(agentcore.SessionHeader, "session-0123456789-0123456789-0123456789")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Equal(t, "data: {\"answer\":1}\n\n", string(body))
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Len(t, *seen, 1)
	assert.Equal(t, "POST /runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-west-2%3A123456789012%3Aruntime%2Fmy_agent-abc123/invocations?qualifier=DEFAULT session-0123456789-0123456789-0123456789 {\"prompt\":\"hi\"}", (*seen)[0])

	// Wrong credentials: the stub refuses the signature, and the client sees its answer.
	b2, err := agentcore.New(agentcore.Config{AgentRuntimeARN: arn, Endpoint: stub.URL, Credentials: credentials.NewStaticCredentialsProvider("AKIDAGENT", "wrong", "")})
	require.NoError(t, err)
	defer b2.Close()
	w := httptest.NewRecorder()
	b2.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader("{}")))
	assert.Equal(t, http.StatusForbidden, w.Code)
}

func TestARN(t *testing.T) {
	for _, bad := range []string{"", "arn:aws:bedrock:us-east-1:1:runtime/x", "arn:aws:bedrock-agentcore::1:runtime/x", "arn:aws:bedrock-agentcore:us-east-1:1:agent/x", "arn:aws:bedrock-agentcore:us-east-1:1:runtime/"} {
		_, err := agentcore.New(agentcore.Config{AgentRuntimeARN: bad})
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, bad)
		assert.Equal(t, "agentRuntimeArn", ce.Path)
		assert.ErrorIs(t, err, agentcore.ErrARN)
	}
}
