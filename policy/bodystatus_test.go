package policy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// A policy that buffers the request body (retry, to replay it) answers a client too slow for the
// gateway's body bounds 408, as the HTTP backend does, not 400.
func TestBufferingPolicyAnswersSlowBody408(t *testing.T) {
	retry, err := policy.NewRetry(policy.RetryConfig{Attempts: 2, Codes: []int{503}})
	require.NoError(t, err)
	gw := agentgateway.New(agentgateway.WithAccessLog(false),
		agentgateway.WithClientTimeouts(agentgateway.ClientTimeouts{BodyTimeout: 200 * time.Millisecond, BodyMinRate: 1000}))
	require.NoError(t, gw.Route("r").PathPrefix("/").Use(retry).To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	})))
	front := httptest.NewServer(gw)
	defer front.Close()
	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx") // then nothing
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
}
