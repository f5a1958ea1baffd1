package agentgateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// With WithHTTP1Server, a bound cleartext port serves plain requests, hands a WebSocket upgrade on
// the same keep-alive connection to net/http (which tunnels it), cancels the upstream request of a
// client that goes away, and drains on shutdown.
func TestHTTP1ServerProxies(t *testing.T) {
	upstreamCancelled, arrived := make(chan struct{}), make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ws":
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
			brw.Flush()
			io.Copy(c, brw) // echo
		case "/hang":
			close(arrived)
			<-r.Context().Done()
			close(upstreamCancelled)
		default:
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
		}
	}))
	defer upstream.Close()
	backend, err := agentgateway.NewHTTPBackend(agentgateway.HTTPBackendConfig{Endpoints: []string{upstream.Listener.Addr().String()}})
	require.NoError(t, err)
	port := freePort(t)
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"), agentgateway.WithDrainTimeout(5*time.Second),
		agentgateway.WithHTTP1Server(true))
	defer gw.Close()
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{Name: "l", Port: port,
		Routes: []agentgateway.RouteConfig{{Name: "r", Backends: []agentgateway.WeightedBackend{{Handler: backend, Weight: 1}}}}}}}))
	start(t, gw)

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	assert.Equal(t, "POST /a hello", string(b))

	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	res, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
	fmt.Fprintf(c, "ping")
	echo := make([]byte, 4)
	_, err = io.ReadFull(br, echo)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(echo))

	c2, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	fmt.Fprintf(c2, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
	<-arrived
	c2.Close()
	select {
	case <-upstreamCancelled:
	case <-time.After(15 * time.Second):
		t.Fatal("the upstream request was not cancelled when the client went away")
	}

	// HTTP/2 with prior knowledge (h2c) reaches net/http, which serves it.
	h2 := &http.Transport{Protocols: new(http.Protocols)}
	h2.Protocols.SetUnencryptedHTTP2(true)
	defer h2.CloseIdleConnections()
	res, err = (&http.Client{Transport: h2}).Get("http://" + addr + "/h2")
	require.NoError(t, err)
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, "HTTP/2.0", res.Proto)
	assert.Equal(t, "GET /h2 ", string(b))

	// Plain keep-alive requests through a client, then the drain (start's cleanup) must be clean.
	client := &http.Client{}
	defer client.CloseIdleConnections()
	for i := range 3 {
		status, body := fetch(t, client, fmt.Sprintf("http://%s/n%d", addr, i))
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, fmt.Sprintf("GET /n%d ", i), body)
	}
}
