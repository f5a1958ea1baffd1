package agentgateway_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agw "github.com/agentgw/agentgateway"
)

// beTimeoutFront serves backend through a Gateway with the given default backend timeout.
func beTimeoutFront(t *testing.T, d time.Duration, backend http.Handler) *httptest.Server {
	t.Helper()
	gw := agw.New(agw.WithAccessLog(false), agw.WithDefaultBackendTimeout(d))
	require.NoError(t, gw.Route("test").To(backend))
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return front
}

func TestDefaultBackendTimeoutIsOnByDefault(t *testing.T) {
	assert.Equal(t, agw.DefaultBackendTimeout, agw.New().DefaultBackendTimeout())
	assert.Positive(t, agw.DefaultBackendTimeout)
	assert.Zero(t, agw.New(agw.WithDefaultBackendTimeout(0)).DefaultBackendTimeout(), "0 turns it off")
	assert.Zero(t, agw.New(agw.WithDefaultBackendTimeout(-time.Second)).DefaultBackendTimeout())
}

// An upstream that never answers is given up on after the default backend timeout, on both client
// paths: the client gets 504 instead of waiting forever.
func TestDefaultBackendTimeoutUpstreamNeverAnswers(t *testing.T) {
	for _, p := range beClientPaths {
		t.Run(p.name, func(t *testing.T) {
			up := beBlocking(t)
			be := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, StdlibHTTP1: p.stdlib})
			front := beTimeoutFront(t, 50*time.Millisecond, be)
			resp, err := front.Client().Get(front.URL + "/slow")
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
		})
	}
}

// The default bounds the wait for the response header only: a stream whose events are further apart
// than the timeout runs to its end.
func TestDefaultBackendTimeoutDoesNotCutStreams(t *testing.T) {
	for _, p := range beClientPaths {
		t.Run(p.name, func(t *testing.T) {
			up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for i := range 3 {
					if i > 0 {
						time.Sleep(150 * time.Millisecond) // three times the header timeout
					}
					_, _ = io.WriteString(w, "data: tick\n\n")
					http.NewResponseController(w).Flush()
				}
			}))
			be := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, StdlibHTTP1: p.stdlib})
			front := beTimeoutFront(t, 50*time.Millisecond, be)
			resp, err := front.Client().Get(front.URL + "/events")
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err, "the stream must not be cut")
			assert.Equal(t, "data: tick\n\ndata: tick\n\ndata: tick\n\n", string(body))
		})
	}
}

// A WebSocket-style upgrade is answered (101) before the tunnel is used; a tunnel that stays quiet
// longer than the timeout stays open.
func TestDefaultBackendTimeoutDoesNotCutUpgrades(t *testing.T) {
	up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = brw.Flush()
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		_, _ = io.WriteString(brw, "echo "+line)
		_ = brw.Flush()
	}))
	be := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}})
	front := beTimeoutFront(t, 50*time.Millisecond, be)
	req, err := http.NewRequest(http.MethodGet, front.URL+"/ws", nil)
	require.NoError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := front.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	rw, ok := resp.Body.(io.ReadWriteCloser)
	require.True(t, ok)
	time.Sleep(150 * time.Millisecond) // quiet for three times the header timeout
	_, err = io.WriteString(rw, "hello\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(rw).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "echo hello\n", line)
}
