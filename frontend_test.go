package agentgateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agw "github.com/agentgw/agentgateway"
)

// A request with more header field lines than WithMaxRequestHeaders allows is answered 431.
func TestMaxRequestHeaders(t *testing.T) {
	gw := agw.New(agw.WithAccessLog(false), agw.WithMaxRequestHeaders(5))
	require.NoError(t, gw.Route("r").PathPrefix("/").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	srv := gw.NewServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	send := func(n int) int {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		for i := range n {
			req.Header.Add(fmt.Sprintf("X-H%d", i), "v")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 200, send(2)) // plus Host... Go's client adds User-Agent and Accept-Encoding
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, send(10))
	http.DefaultClient.CloseIdleConnections()
}

// Past WithMaxConnectionDuration, the next response on a keep-alive connection says Connection:
// close and the connection ends after it; a fresh connection is served as before.
func TestMaxConnectionDuration(t *testing.T) {
	gw := agw.New(agw.WithAccessLog(false), agw.WithMaxConnectionDuration(200*time.Millisecond))
	require.NoError(t, gw.Route("r").PathPrefix("/").To(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	srv := gw.NewServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(conn)
	get := func() *http.Response {
		_, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp
	}
	assert.False(t, get().Close, "a young connection stays open")
	time.Sleep(300 * time.Millisecond)
	resp := get()
	assert.True(t, resp.Close, "an old connection is closed after this response")
	_, err = br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the server closed the connection")
}
