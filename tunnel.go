package agentgateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ErrTunnelRefused is wrapped by [DialThroughConnect] when the proxy answers the CONNECT with a status
// other than 2xx.
var ErrTunnelRefused = errors.New("agentgateway: CONNECT refused by proxy")

// DialThroughConnect opens a connection to target ("host:port") through the HTTP proxy at proxy
// ("host:port") with an HTTP/1.1 CONNECT request carrying header (Proxy-Authorization, say):
// agentgateway's backendTunnel. The returned connection carries the tunnelled bytes; bytes the proxy
// sent after its response are not lost.
func DialThroughConnect(ctx context.Context, proxy, target string, header http.Header) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return nil, fmt.Errorf("agentgateway: dialling tunnel proxy %s: %w", proxy, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := &http.Request{Method: http.MethodConnect, Host: target, Header: header.Clone(), URL: nil}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	// Write the request by hand: http.Request.Write needs a URL and would add a User-Agent we do not want.
	bw := bufio.NewWriter(c)
	fmt.Fprintf(bw, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if err := req.Header.Write(bw); err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("agentgateway: CONNECT to %s via %s: %w", target, proxy, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("agentgateway: CONNECT to %s via %s: %w", target, proxy, err)
	}
	if resp.StatusCode/100 != 2 {
		_ = resp.Body.Close()
		_ = c.Close()
		return nil, fmt.Errorf("%w: CONNECT to %s via %s: %s", ErrTunnelRefused, target, proxy, resp.Status)
	}
	if !stop() || ctx.Err() != nil {
		_ = c.Close()
		return nil, fmt.Errorf("agentgateway: CONNECT to %s via %s: %w", target, proxy, context.Cause(ctx))
	}
	// A 2xx answer to CONNECT has no body: framing headers in it are ignored (RFC 9110 §9.3.6; Go's
	// own server sends Transfer-Encoding: chunked), and what follows is the tunnel.
	_ = c.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &prefixConn{Conn: c, prefix: mustPeek(br)}, nil
	}
	return c, nil
}

func mustPeek(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return append([]byte(nil), b...)
}

// prefixConn replays bytes already read from Conn (a peeked ClientHello, what followed a CONNECT
// response) before reading Conn itself.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection underneath, when it can.
func (c *prefixConn) CloseWrite() error { return closeWrite(c.Conn) }

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
