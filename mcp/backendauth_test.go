package mcp_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
	"github.com/agentgw/agentgateway/policy"
	"github.com/agentgw/agentgateway/policy/awsauth"
)

// TestBackendAuthReachesTargets: a backendAuth policy on the MCP route puts its credential on every
// request to the targets (as it does for an HTTP backend), and a target's own BackendAuth wins over
// the route's for that target; the client's own Authorization is not forwarded.
func TestBackendAuthReachesTargets(t *testing.T) {
	record := func(label string, into chan<- string) http.Handler {
		h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return demoServer(label) }, &sdk.StreamableHTTPOptions{JSONResponse: true})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				select {
				case into <- r.Header.Get("Authorization"):
				default:
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	aSeen, bSeen := make(chan string, 100), make(chan string, 100)
	a := newHTTPServer(t, record("a", aSeen))
	b := newHTTPServer(t, record("b", bSeen))
	routeAuth, err := policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: "route-secret"}})
	require.NoError(t, err)
	targetAuth, err := policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: "b-secret"}})
	require.NoError(t, err)
	tb := mcp.HTTPTarget("b", b.URL)
	tb.BackendAuth = targetAuth
	f := mcp.Federate(mcp.HTTPTarget("a", a.URL), tb)
	gw := agentgateway.New()
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(routeAuth).To(f))
	ts := httptest.NewServer(gw)
	t.Cleanup(func() { require.NoError(t, f.Close()); ts.Close() })

	url := ts.URL + "/mcp"
	r := do(t, http.MethodPost, url, "", initBody, "Authorization", "Bearer client-token")
	require.Equal(t, http.StatusOK, r.status)
	sid := r.header.Get("Mcp-Session-Id")
	for _, name := range []string{"a_echo", "b_echo"} {
		r = do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"`+name+`","arguments":{"text":"x"}}}`, "Authorization", "Bearer client-token")
		require.Equal(t, http.StatusOK, r.status)
	}
	drain := func(c chan string) []string {
		var out []string
		for len(c) > 0 {
			out = append(out, <-c)
		}
		return out
	}
	gotA, gotB := drain(aSeen), drain(bSeen)
	require.NotEmpty(t, gotA)
	require.NotEmpty(t, gotB)
	for _, v := range gotA {
		assert.Equal(t, "Bearer route-secret", v)
	}
	for _, v := range gotB {
		assert.Equal(t, "Bearer b-secret", v)
	}
}

// TestBackendAuthAWSSignsEachTargetRequest: an aws backendAuth signs every request the federation
// sends to a target over that request's own body (not the client's, which the target never sees).
func TestBackendAuthAWSSignsEachTargetRequest(t *testing.T) {
	type seen struct{ auth, sum, bodySum string }
	got := make(chan seen, 100)
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return demoServer("a") }, &sdk.StreamableHTTPOptions{JSONResponse: true})
	a := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		if r.Method == http.MethodPost {
			select {
			case got <- seen{r.Header.Get("Authorization"), r.Header.Get("X-Amz-Content-Sha256"), hex.EncodeToString(sum[:])}:
			default:
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	signer, err := awsauth.New(awsauth.Config{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Region: "us-east-1", ServiceName: "bedrock-agentcore"})
	require.NoError(t, err)
	f := mcp.Federate(mcp.HTTPTarget("a", a.URL))
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(signer).To(f))
	url := newServer(t, gw, f).URL + "/mcp"
	sid := initSession(t, url)
	r := do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`)
	require.Equal(t, http.StatusOK, r.status)
	require.NotEmpty(t, got)
	for len(got) > 0 {
		s := <-got
		assert.True(t, strings.HasPrefix(s.auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), s.auth)
		assert.Equal(t, s.bodySum, s.sum, "signed over the body the target received")
	}
}
