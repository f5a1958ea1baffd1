package mcp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// h1Client is a small synchronous HTTP/1.1 client for plain-HTTP targets: the calling goroutine
// writes the request and reads the response on a pooled connection. net/http's Transport hands every
// request to per-connection read and write goroutines; on a busy 2-core machine those hand-offs were
// most of the latency a gateway hop added. HTTPS targets and user-supplied clients use net/http.
type h1Client struct {
	addr   string // host:port to dial
	host   string // Host header
	path   string // request target
	dialer net.Dialer

	mu   sync.Mutex
	idle []*h1Conn
}

const h1MaxIdle = 64

type h1Conn struct {
	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	live liveness
}

func newH1Client(u *url.URL) *h1Client {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &h1Client{addr: addr, host: u.Host, path: u.RequestURI(), dialer: net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}}
}

func (c *h1Client) get(ctx context.Context) (*h1Conn, error) {
	c.mu.Lock()
	for len(c.idle) > 0 {
		cn := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if cn.live.alive() {
			c.mu.Unlock()
			return cn, nil
		}
		_ = cn.nc.Close()
	}
	c.mu.Unlock()
	nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	cn := &h1Conn{nc: nc, br: bufio.NewReaderSize(nc, 8<<10), bw: bufio.NewWriterSize(nc, 4<<10)}
	cn.live.init(nc)
	return cn, nil
}

func (c *h1Client) put(cn *h1Conn) {
	c.mu.Lock()
	if len(c.idle) < h1MaxIdle {
		c.idle = append(c.idle, cn)
		cn = nil
	}
	c.mu.Unlock()
	if cn != nil {
		_ = cn.nc.Close()
	}
}

func (c *h1Client) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, cn := range idle {
		_ = cn.nc.Close()
	}
}

// do sends one request; the caller must read the body to EOF or close it (an unfinished body closes
// the connection rather than returning it to the pool).
func (c *h1Client) do(ctx context.Context, method string, h http.Header, body []byte) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cn, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = cn.nc.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = cn.nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	w := cn.bw
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(c.path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(c.host)
	w.WriteString("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			if !validHeader(k, v) {
				continue
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if body != nil {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.Itoa(len(body)))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	req := &http.Request{Method: method}
	resp, err := http.ReadResponse(cn.br, req)
	if err != nil {
		return fail(err)
	}
	resp.Body = &h1Body{rc: resp.Body, c: c, cn: cn, stop: stop, reuse: !resp.Close}
	return resp, nil
}

// validHeader refuses header names and values that would break the request framing.
func validHeader(k, v string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == ':' || c >= 0x7f {
			return false
		}
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// h1Body returns its connection to the pool once the body has been read to the end.
type h1Body struct {
	rc    io.ReadCloser
	c     *h1Client
	cn    *h1Conn
	stop  func() bool
	reuse bool
	done  bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		b.finish(b.reuse && b.cn.br.Buffered() == 0)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *h1Body) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *h1Body) finish(reuse bool) {
	b.done = true
	if !b.stop() { // the context fired: the deadline is poisoned
		reuse = false
	}
	if reuse {
		b.c.put(b.cn)
		return
	}
	_ = b.cn.nc.Close()
}
