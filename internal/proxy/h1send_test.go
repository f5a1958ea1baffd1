//go:build unix

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A bodiless request is written by the first read of its response (send), which also checks a
// pooled connection: bytes the upstream wrote unasked while the connection was idle must end the
// connection, never be taken for the next request's response.
func TestH1SendUnsolicitedBytesWhileIdle(t *testing.T) {
	evil := make(chan struct{})
	up := newRawUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, _, err := readReq(br); err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n%02d", n)
			if n == 1 && i == 0 {
				<-evil // the client has pooled the connection
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
			}
		}
	})
	h := newH1Harness(t, up.url(), H1Options{})
	_, body := h.do(t, h.req(t, "GET", "/", nil))
	require.Equal(t, "01", body)
	require.Nil(t, h.lastErr(t))
	require.Eventually(t, func() bool { return h.idle() == 1 }, hangGuard, time.Millisecond)
	close(evil)
	p := h.pool()
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.idle) == 1 && !p.idle[0].live.alive() // the bytes are there
	}, hangGuard, time.Millisecond)
	for _, method := range []string{"GET", "DELETE", "OPTIONS"} {
		resp, body := h.do(t, h.req(t, method, "/", nil))
		require.Equal(t, http.StatusOK, resp.StatusCode, method)
		assert.Equal(t, "02", body, method+": answered on a new connection")
		require.Nil(t, h.lastErr(t))
	}
	assert.EqualValues(t, 2, up.conns.Load())
}

// The same for a connection the upstream closed while it was idle: the request goes on another one,
// whatever its method (nothing was sent on the closed one).
func TestH1SendClosedWhileIdle(t *testing.T) {
	closed := make(chan struct{}, 10)
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, _, err := readReq(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		closed <- struct{}{}
	})
	h := newH1Harness(t, up.url(), H1Options{})
	p := h.pool()
	for i, method := range []string{"GET", "DELETE", "POST", "GET"} {
		resp, body := h.do(t, h.req(t, method, "/", nil))
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d: %s", i, body)
		require.Nil(t, h.lastErr(t))
		<-closed
		require.Eventually(t, func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return len(p.idle) == 1 && !p.idle[0].live.alive()
		}, hangGuard, time.Millisecond)
	}
	assert.EqualValues(t, 4, up.conns.Load())
}

// A request head larger than the socket buffers cannot be written at once: send writes the rest
// with the poller's help and still reads the response.
func TestH1SendLargeHead(t *testing.T) {
	big := strings.Repeat("v", 600<<10)
	got := make(chan string, 1)
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		time.Sleep(50 * time.Millisecond) // let the socket buffers fill first
		r, _, err := readReq(br)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- r.Header.Get("X-Big")
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	h := newH1Harness(t, up.url(), H1Options{})
	h.p.h1.dialer.Control = func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
	}
	req := h.req(t, "GET", "/", nil)
	req.Header.Set("X-Big", big)
	resp, body := h.do(t, req)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "ok", body)
	assert.True(t, <-got == big, "the upstream got the whole header")
	require.Nil(t, h.lastErr(t))
	assert.Zero(t, h.fallbacks.Load())
}

// An upstream that resets a reused connection on receiving a request fails that read with
// ECONNRESET, which lets an idempotent request go again on a new connection, as before send.
func TestH1SendResetOnReuse(t *testing.T) {
	up := newRawUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, _, err := readReq(br); err != nil {
				return
			}
			if n == 1 && i == 1 {
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close() // RST
				return
			}
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n%02d", n)
		}
	})
	h := newH1Harness(t, up.url(), H1Options{})
	for i, want := range []string{"01", "02"} {
		resp, body := h.do(t, h.req(t, "GET", "/", nil))
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d: %s", i, body)
		assert.Equal(t, want, body)
		require.Nil(t, h.lastErr(t))
	}
	// Not idempotent: the reset is the answer (502), since the upstream may have acted on it.
	up2 := newRawUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if _, _, err := readReq(br); err != nil {
				return
			}
			if i == 1 {
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close()
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	h2 := newH1Harness(t, up2.url(), H1Options{})
	resp, _ := h2.do(t, h2.req(t, "POST", "/", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Nil(t, h2.lastErr(t))
	resp, _ = h2.do(t, h2.req(t, "POST", "/", nil))
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	e := h2.lastErr(t)
	require.NotNil(t, e)
	assert.ErrorIs(t, e, syscall.ECONNRESET)
	assert.Contains(t, e.Error(), "read tcp", "reads as the connection's own Read error")
}
