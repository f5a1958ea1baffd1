// Package h1server is a lean HTTP/1.1 server loop for cleartext connections. It serves the plain
// requests that make up proxy traffic (a strict subset of HTTP/1.1: see parseHead) with less work per
// request than net/http's server, and hands every connection carrying anything else (Upgrade,
// CONNECT, Expect, chunked or HTTP/1.0 requests, obs-fold, bare LF, oversized heads, ...) to
// net/http with the bytes already read, at a request boundary, so that those keep net/http's exact
// behaviour.
//
// Handlers get an *http.Request and an http.ResponseWriter that implements http.Flusher and the
// http.ResponseController methods SetReadDeadline, SetWriteDeadline and EnableFullDuplex (Hijack is
// not supported: requests that could need it go to net/http). A client that goes away cancels the
// request's context, as with net/http: one read is kept pending on the connection while the handler
// runs (once the request body has been read and the handler has run for watchDelay), and the next
// request is served from what it read, so that no read has to be aborted between requests. A handler
// that returns sooner (most proxied requests) costs no watch at all: the connection's goroutine then
// reads the next request itself.
package h1server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1 connections handed to ServeConn.
type Server struct {
	// Handler serves the requests.
	Handler http.Handler
	// Fallback takes a connection this server does not serve, at a request boundary; Read on the
	// connection first returns the bytes already read from it. It must not block for long.
	Fallback func(c net.Conn)
	// ReadHeaderTimeout bounds reading a request head; IdleTimeout the wait for the next request.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes bounds the request head (default 1 MiB, as net/http's); a larger head goes to
	// net/http, which answers 431. MaxHeaders bounds the header lines served here (default 100).
	MaxHeaderBytes int
	MaxHeaders     int
	// BaseContext is the parent of every request context (default context.Background());
	// ConnContext may derive a connection's context from it.
	BaseContext context.Context
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// Logger receives handler panics.
	Logger *slog.Logger

	mu       sync.Mutex
	conns    map[*conn]struct{}
	shutdown atomic.Bool // set under mu
	wg       sync.WaitGroup
}

// ServeConn serves c until it closes, fails, idles out or is handed to Fallback. It returns when the
// goroutine calling it has no more to do with c (another goroutine may go on serving it).
func (s *Server) ServeConn(c net.Conn) {
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		_ = c.Close()
		return
	}
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
	}
	cn := newConn(s, c)
	cn.idle = true
	s.conns[cn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	if s.ReadHeaderTimeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(s.ReadHeaderTimeout))
	}
	cn.loop()
}

// Shutdown stops serving: idle connections close at once, others after their current request.
// It waits for them until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown.Store(true)
	for c := range s.conns {
		if c.idle {
			_ = c.rwc.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutdown.Store(true)
	for c := range s.conns {
		_ = c.rwc.Close()
	}
	s.mu.Unlock()
	return nil
}

func (s *Server) maxHead() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes + 4096 // net/http's slack over MaxHeaderBytes
	}
	return http.DefaultMaxHeaderBytes + 4096
}

func (s *Server) maxHeaders() int {
	if s.MaxHeaders > 0 {
		return s.MaxHeaders
	}
	return 100
}

// setIdle marks c idle (closable by Shutdown) or busy; it reports false, having closed c, when the
// server is shutting down and c goes idle.
func (s *Server) setIdle(c *conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.idle = idle
	if idle && s.shutdown.Load() {
		_ = c.rwc.Close()
		return false
	}
	return true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

const bufSize = 4096

type conn struct {
	s      *Server
	rwc    net.Conn
	ctx    context.Context
	remote string
	idle   bool // under s.mu

	buf      []byte // read buffer; buf[r:w] is unread
	r, w     int
	lastPost bool
	rerr     error // the connection's read error, once the watch read got one
	start    int   // where in buf the bytes after the last request began
	served   int   // requests served
	bw       *bufio.Writer
	pre      []byte // response body held back until the framing is decided

	// The watch: a read kept pending while a handler runs, to notice a client that goes away.
	watching bool               // a watch read was started for the current request (under wmu)
	wch      chan error         // its outcome (its bytes are appended to buf)
	wmu      sync.Mutex         // guards cancel, armed and watching
	cancel   context.CancelFunc // the running request's; nil once the handler returned
	armed    bool               // wtimer is to start the watch read
	wtimer   *time.Timer        // starts the watch read once the handler has run for watchDelay
}

// watchDelay is how long a handler runs before a read watches its connection for the client going
// away. Most proxied requests are done sooner and so never pay for the watch (a goroutine, a read
// that finds nothing, a hand-over of the next request); a client that leaves is noticed at most this
// much later.
const watchDelay = time.Millisecond

func newConn(s *Server, c net.Conn) *conn {
	ctx := s.BaseContext
	if ctx == nil {
		ctx = context.Background()
	}
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.LocalAddr())
	if s.ConnContext != nil {
		ctx = s.ConnContext(ctx, c)
	}
	return &conn{s: s, rwc: c, ctx: ctx, remote: c.RemoteAddr().String(), buf: make([]byte, bufSize),
		bw: bufio.NewWriterSize(c, bufSize)}
}

// loop serves requests until the connection ends or is handed to Fallback.
func (c *conn) loop() {
	for {
		next, closed := c.serveOne()
		switch next {
		case stepHanded:
			return
		case stepEnd:
			c.end(closed)
			return
		}
	}
}

type step int

const (
	stepNext   step = iota // serve the next request
	stepHanded             // the connection went to Fallback
	stepEnd                // close the connection
)

func (c *conn) end(close bool) {
	if close {
		_ = c.rwc.Close()
	}
	c.s.forget(c)
}

// readHead returns the length of the next request head at buf[r:], reading as needed; 0 with a nil
// error means fall back (a head net/http must see), and an error ends the connection.
func (c *conn) readHead() (int, error) {
	c.start = c.r
	skip := c.lastPost
	for {
		if skip && c.w-c.start >= 4 {
			// RFC 9112 2.2: tolerate the CRLF some clients send after a POST body, as net/http does
			// (among the first 4 bytes).
			skip = false
			for i := 0; i < 4 && c.r < c.w && (c.buf[c.r] == '\r' || c.buf[c.r] == '\n'); i++ {
				c.r++
			}
		}
		// (After a first request, net/http waits for 4 bytes before it parses a head.)
		if c.r < c.w && (c.served == 0 || c.w-c.start >= 4) {
			if n := headEnd(c.buf[c.r:c.w]); n > 0 {
				return n, nil
			}
			if c.w-c.r >= c.s.maxHead() {
				return 0, nil
			}
		}
		if c.rerr != nil {
			return c.readFailed(c.rerr)
		}
		if c.r == c.w {
			// Waiting for the first byte of a request: the connection is idle (the first request's
			// head deadline was set by ServeConn).
			c.r, c.w, c.start = 0, 0, 0
			if !c.s.setIdle(c, true) {
				return 0, net.ErrClosed
			}
			if c.served > 0 && c.s.IdleTimeout > 0 {
				_ = c.rwc.SetReadDeadline(time.Now().Add(c.s.IdleTimeout))
			}
			n, err := c.rwc.Read(c.buf)
			c.w = n
			busy := c.s.setIdle(c, false)
			if n == 0 && err != nil {
				return c.readFailed(err)
			}
			if !busy {
				return 0, net.ErrClosed
			}
			if c.served > 0 && c.s.ReadHeaderTimeout > 0 {
				_ = c.rwc.SetReadDeadline(time.Now().Add(c.s.ReadHeaderTimeout))
			}
			continue
		}
		if c.w == len(c.buf) {
			if c.r > 0 {
				c.w = copy(c.buf, c.buf[c.r:c.w])
				c.start -= c.r
				c.r = 0
			} else {
				nb := make([]byte, min(2*len(c.buf), c.s.maxHead()+bufSize))
				copy(nb, c.buf[:c.w])
				c.buf = nb
			}
		}
		n, err := c.rwc.Read(c.buf[c.w:])
		c.w += n
		if err != nil && n == 0 {
			return c.readFailed(err)
		}
	}
}

// readFailed ends the connection on a read error between requests, or, with part of a head read,
// falls back: net/http reads the same bytes and error and answers as it does (400 for a truncated
// head, nothing for a timeout).
func (c *conn) readFailed(err error) (int, error) {
	if c.served > 0 && c.w-c.start < 4 {
		// net/http waits for 4 bytes of a next request before reading it, closing silently if they
		// do not come.
		return 0, err
	}
	if c.r < c.w {
		return 0, nil
	}
	return 0, err
}

// serveOne reads and serves one request.
func (c *conn) serveOne() (step, bool) {
	n, err := c.readHead()
	if err != nil {
		return stepEnd, true
	}
	var h head
	v := fallback
	if n > 0 {
		h, v = parseHead(c.buf[c.r:c.r+n], c.s.maxHeaders())
	}
	if v != accepted {
		return c.handOff(), false
	}
	c.r += n
	c.served++
	c.lastPost = h.method == "POST"
	_ = c.rwc.SetReadDeadline(time.Time{})

	ctx, cancel := context.WithCancel(c.ctx)
	// Built on the stack and copied once by WithContext: one Request on the heap per request.
	base := http.Request{
		Method:        h.method,
		URL:           h.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h.header,
		Host:          h.host,
		RequestURI:    h.target,
		RemoteAddr:    c.remote,
		Close:         h.close,
		ContentLength: h.contentLength,
		Body:          http.NoBody,
	}
	delete(base.Header, "Host") // as net/http's server does
	req := base.WithContext(ctx)
	w := &response{c: c, req: req, header: make(http.Header), cl: -1, closeAfter: h.close || h.wantsClose}
	var b *body
	if h.contentLength > 0 {
		b = &body{c: c, remain: h.contentLength}
		req.Body = b
	}

	c.wmu.Lock()
	c.cancel = cancel
	c.wmu.Unlock()
	if b == nil {
		c.watch()
	}
	panicked := c.runHandler(w, req)
	if b != nil && !b.finish() {
		w.closeAfter = true // the rest of the body is unread: the connection cannot carry on
	}
	if !panicked {
		w.finish()
	}
	if w.writeDeadline {
		_ = c.rwc.SetWriteDeadline(time.Time{})
	}
	cancel()
	return c.afterHandler(panicked || w.closeAfter || w.failed)
}

// runHandler runs the handler, reporting whether it panicked (net/http's rules: the connection is
// closed, and the panic logged unless it is http.ErrAbortHandler).
func (c *conn) runHandler(w *response, req *http.Request) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			if p != http.ErrAbortHandler && c.s.Logger != nil {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.Logger.Error("http: panic serving", "remote", c.remote, "panic", p, "stack", string(buf))
			}
		}
	}()
	c.s.Handler.ServeHTTP(w, req)
	return false
}

// afterHandler collects the watch read, waiting for the next request under the idle timeout if the
// client has sent nothing yet.
func (c *conn) afterHandler(closing bool) (step, bool) {
	c.wmu.Lock()
	c.cancel = nil
	if c.armed {
		c.armed = false
		c.wtimer.Stop() // (a late run of watchFire finds armed unset and does nothing)
	}
	watching := c.watching
	c.wmu.Unlock()
	if !watching {
		if closing || (c.s.shutdown.Load() && c.r == c.w) {
			return stepEnd, true
		}
		return stepNext, false
	}
	c.wmu.Lock()
	c.watching = false
	c.wmu.Unlock()
	if closing {
		_ = c.rwc.Close() // the pending read returns
		<-c.wch
		return stepEnd, true
	}
	var err error
	select {
	case err = <-c.wch:
	default:
		if !c.s.setIdle(c, true) {
			<-c.wch // closed for the shutdown
			return stepEnd, true
		}
		if c.s.IdleTimeout > 0 {
			_ = c.rwc.SetReadDeadline(time.Now().Add(c.s.IdleTimeout))
		}
		err = <-c.wch
		if !c.s.setIdle(c, false) {
			return stepEnd, true
		}
		if err == nil {
			if c.s.ReadHeaderTimeout > 0 {
				_ = c.rwc.SetReadDeadline(time.Now().Add(c.s.ReadHeaderTimeout))
			} else {
				_ = c.rwc.SetReadDeadline(time.Time{})
			}
		}
	}
	if err != nil {
		if c.r == c.w {
			return stepEnd, true
		}
		c.rerr = err // serve the pipelined requests already read, as net/http does
	}
	if c.s.shutdown.Load() && c.r == c.w {
		return stepEnd, true
	}
	return stepNext, false
}

// watch arms the read that notices a client going away while the handler runs (it starts after
// watchDelay); called once the request body has been read (or there is none), when the handler no
// longer reads the connection.
func (c *conn) watch() {
	if c.r < c.w {
		return // a pipelined request is buffered: the next head is served from it, not read
	}
	c.r, c.w = 0, 0
	if c.wch == nil {
		c.wch = make(chan error, 1)
	}
	c.wmu.Lock()
	c.armed = true
	if c.wtimer == nil {
		c.wtimer = time.AfterFunc(watchDelay, c.watchFire)
	} else {
		c.wtimer.Reset(watchDelay)
	}
	c.wmu.Unlock()
}

// watchFire starts the watch read, on the timer's goroutine, if the handler still runs.
func (c *conn) watchFire() {
	c.wmu.Lock()
	if !c.armed || c.cancel == nil {
		c.wmu.Unlock()
		return
	}
	c.armed = false
	c.watching = true
	c.wmu.Unlock()
	c.watchRead()
}

func (c *conn) watchRead() {
	// (Waiting for readability before the first read, to save the read that returns EAGAIN, is not
	// sound: RawConn.Read resets the poller's readiness, and the request may already have come.)
	n, err := c.rwc.Read(c.buf[c.w:])
	c.w += n
	if err != nil && n > 0 {
		err = nil // serve what came; the error comes again on the next read
	}
	if err != nil {
		c.wmu.Lock()
		if c.cancel != nil {
			c.cancel() // the client went away: stop the request's work
		}
		c.wmu.Unlock()
	}
	c.wch <- err
}

// handOff gives the connection, with the bytes read and not served, to Fallback.
func (c *conn) handOff() step {
	_ = c.rwc.SetReadDeadline(time.Time{})
	var rest []byte
	if c.r < c.w {
		rest = append([]byte(nil), c.buf[c.r:c.w]...)
	}
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	c.s.wg.Done()
	if c.s.Fallback == nil {
		_ = c.rwc.Close()
		return stepHanded
	}
	c.s.Fallback(newReplayConn(c.rwc, rest))
	return stepHanded
}

// body is a request body of known length.
type body struct {
	c      *conn
	mu     sync.Mutex
	remain int64
	closed bool
	err    error
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.remain == 0:
		return 0, io.EOF
	case b.err != nil:
		return 0, b.err
	case b.c.r == b.c.w && b.c.rerr != nil:
		b.err = b.c.rerr
		if b.err == io.EOF {
			b.err = io.ErrUnexpectedEOF
		}
		return 0, b.err
	case len(p) == 0:
		return 0, nil
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	c := b.c
	var n int
	var err error
	switch {
	case c.r < c.w:
		n = copy(p, c.buf[c.r:c.w])
		c.r += n
	case len(p) >= len(c.buf):
		n, err = c.rwc.Read(p)
	default:
		c.r, c.w = 0, 0
		n, err = c.rwc.Read(c.buf)
		c.w = n
		n = copy(p, c.buf[:n])
		c.r = n
	}
	b.remain -= int64(n)
	if b.remain == 0 {
		c.watch()
		return n, io.EOF
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		b.err = err
		return n, err
	}
	return n, nil
}

// Close stops the handler's reads; what is left unread is dealt with after the handler returns.
func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// finish ends the body when the handler returns, reporting whether it was read to its end (and the
// connection can serve another request).
func (b *body) finish() bool {
	if !b.mu.TryLock() {
		// Another goroutine of the handler's is blocked reading: unblock it.
		_ = b.c.rwc.SetReadDeadline(time.Unix(1, 0))
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	b.closed = true
	return b.remain == 0
}
