package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// H1Options configures the built-in HTTP/1.1 client, the fast path for plain-HTTP upstreams. It writes
// the request and reads the response on the caller's goroutine, with its own keep-alive pool per
// endpoint; requests it does not handle (see [Options.H1] and h1Eligible) go through
// Options.Transport. Other packages use the same client through [H1Transport].
//
// Unlike http.Transport it writes the whole request body before it reads the response: an upstream
// that answers early and stops reading is still heard (the answer is read once the write fails), but
// one that streams its response while reading a streamed request body (full duplex) is only read
// once the body is sent. It notices an idle connection closed by the upstream when it takes it from
// the pool (a non-blocking peek) rather than at once, so such a connection lingers until then or
// until the idle timeout.
type H1Options struct {
	// DialTimeout bounds connecting; 0 means no bound beyond the request's context.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response header once the request is written;
	// 0 means none.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes pooled connections idle that long; 0 means 90s.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost is the keep-alive pool size per endpoint; 0 means 100.
	MaxIdleConnsPerHost int
	// MaxResponseHeaderBytes bounds a response header, the informational responses before it
	// included; 0 means 10 MB (net/http's default). MaxResponseHeaders bounds its number of field
	// lines; 0 means no bound. A response over either is an error and its connection is closed.
	MaxResponseHeaderBytes int64
	MaxResponseHeaders     int
	// BodyIdleTimeout bounds each wait for response body bytes (an upstream that sent its header and
	// then stalls); 0 means none.
	BodyIdleTimeout time.Duration
	// KeepAlive, when set, configures the TCP keepalive probes of the connections (nil: probes after
	// 30s idle). With Enable false the probes are off.
	KeepAlive *net.KeepAliveConfig
}

// maxResponseHeaderBytes is the default of H1Options.MaxResponseHeaderBytes, http.Transport's.
const maxResponseHeaderBytes = 10 << 20

// max1xx bounds the informational responses skipped before the final one, as net/http does.
const max1xx = 5

var (
	errHeaderTooLarge = ErrResponseHeaderTooLarge
	errTooMany1xx     = errors.New("too many 1xx informational responses")
	errBodyClosed     = errors.New("read on closed response body")
	errSwitched       = errors.New("upstream switched protocols on a request that did not ask to upgrade")
	errShortBody      = errors.New("request body shorter than its Content-Length")
	// ErrBodyIdle is the cause of a response cut because the upstream sent no body bytes for the
	// body idle timeout.
	ErrBodyIdle = errors.New("upstream response body idle")
)

// h1Client holds the settings shared by the pools of one Proxy.
type h1Client struct {
	dialer      net.Dialer
	respTimeout time.Duration
	idleTimeout time.Duration
	maxIdle     int
	maxHdrBytes int64
	maxHeaders  int
	bodyIdle    time.Duration
	// keepConn puts back the Connection field that net/http's parsing drops when it lists "close"
	// (see lostConnection), for the proxy to strip the fields it nominates. H1Transport leaves it
	// dropped, as net/http does.
	keepConn bool
}

func newH1Client(o H1Options) *h1Client {
	c := &h1Client{
		dialer:      net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second},
		respTimeout: max(o.ResponseHeaderTimeout, 0),
		idleTimeout: o.IdleConnTimeout,
		maxIdle:     o.MaxIdleConnsPerHost,
		maxHdrBytes: o.MaxResponseHeaderBytes,
		maxHeaders:  max(o.MaxResponseHeaders, 0),
		bodyIdle:    max(o.BodyIdleTimeout, 0),
	}
	if ka := o.KeepAlive; ka != nil {
		c.dialer.KeepAliveConfig = *ka
		if !ka.Enable {
			c.dialer.KeepAlive = -1 // with Enable false, a negative KeepAlive turns the probes off
		}
	}
	if c.maxHdrBytes <= 0 {
		c.maxHdrBytes = maxResponseHeaderBytes
	}
	if c.idleTimeout <= 0 {
		c.idleTimeout = 90 * time.Second
	}
	if c.maxIdle <= 0 {
		c.maxIdle = 100
	}
	return c
}

// h1Pool is the keep-alive pool of one endpoint: a LIFO stack of idle connections, so that the
// warmest is reused and the coldest idle out.
type h1Pool struct {
	c    *h1Client
	addr string // host:port to dial

	mu      sync.Mutex
	idle    []*h1Conn
	retired bool // the endpoint was removed: connections coming back are closed, not pooled
}

// retire closes the pool's idle connections and makes connections still in use close when they are
// done.
func (p *h1Pool) retire() {
	p.mu.Lock()
	p.retired = true
	p.mu.Unlock()
	p.closeIdle()
}

func newH1Pool(c *h1Client, host string) *h1Pool {
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = host + ":80" // "host" or "[v6]" without a port
	}
	return &h1Pool{c: c, addr: addr}
}

// h1Conn is one upstream connection. While a request uses it, it belongs to that request alone; in
// the pool it belongs to the pool (guarded by h1Pool.mu).
type h1Conn struct {
	pool *h1Pool
	nc   net.Conn
	cr   connReader
	cw   connWriter
	live liveness
	scan hopScanner // the response header's Connection field, when keepConn

	// Per request.
	br      *bufio.Reader
	bw      *bufio.Writer
	reused  bool  // served a request before this one
	broken  bool  // must not be reused whatever the response says
	sendErr error // a write error that send met after part of the request had left
	stop    func() bool
	abortFn func()

	// Idle state, guarded by pool.mu.
	inIdle bool
	idleAt time.Time
	timer  *time.Timer
}

// connReader reads from the connection with a byte budget, which bounds the response header, and
// shows what it reads to scan until the scan is done.
type connReader struct {
	nc    net.Conn
	limit int64
	scan  *hopScanner // nil unless keepConn
	// send, when set, makes the next read h1Conn.send: the request held by connWriter goes out first.
	send     bool
	sendRead func(p []byte) (int, error) // h1Conn.send, bound once per connection
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.limit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > r.limit {
		p = p[:r.limit]
	}
	var n int
	var err error
	if r.send {
		r.send = false
		n, err = r.sendRead(p)
	} else {
		n, err = r.nc.Read(p)
	}
	r.limit -= int64(n)
	if r.scan != nil && !r.scan.done && n > 0 {
		r.scan.feed(p[:n])
	}
	return n, err
}

// connWriter counts the bytes written, so that a failed request knows whether anything left.
type connWriter struct {
	nc net.Conn
	n  int64
	// hold keeps what is written in held instead, for h1Conn.send to write.
	hold bool
	held []byte
}

func (w *connWriter) Write(p []byte) (int, error) {
	if w.hold {
		w.held = append(w.held, p...)
		return len(p), nil
	}
	n, err := w.nc.Write(p)
	w.n += int64(n)
	return n, err
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// get returns an idle connection that is still open, or dials a new one (always when fresh). With
// deferCheck the caller checks a pooled connection itself (h1Conn.send) and get does not.
func (p *h1Pool) get(ctx context.Context, fresh, deferCheck bool) (*h1Conn, error) {
	for !fresh {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		c.inIdle = false
		c.timer.Stop()
		p.mu.Unlock()
		// The upstream may have closed the connection while it was idle; sending a request on it would
		// fail a request that never reached anyone.
		if deferCheck || c.live.alive() {
			c.reused = true
			return c, nil
		}
		c.nc.Close()
	}
	nc, err := p.c.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c := &h1Conn{pool: p, nc: nc}
	c.cr.nc = nc
	if p.c.keepConn {
		c.cr.scan = &c.scan
	}
	c.cw.nc = nc
	c.abortFn = c.abort
	c.live.init(nc)
	c.cr.sendRead = c.send
	return c, nil
}

// put pools c, or closes it when the pool is full.
func (p *h1Pool) put(c *h1Conn) {
	p.mu.Lock()
	if p.retired || len(p.idle) >= p.c.maxIdle {
		p.mu.Unlock()
		c.nc.Close()
		return
	}
	c.inIdle = true
	c.idleAt = time.Now()
	if c.timer == nil {
		c.timer = time.AfterFunc(p.c.idleTimeout, c.expire)
	} else {
		c.timer.Reset(p.c.idleTimeout)
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// expire closes c if it is still idle and has been for the idle timeout (a timer from an earlier idle
// period may fire late).
func (c *h1Conn) expire() {
	p := c.pool
	p.mu.Lock()
	if !c.inIdle || time.Since(c.idleAt) < p.c.idleTimeout {
		p.mu.Unlock()
		return
	}
	for i, ic := range p.idle {
		if ic == c {
			n := len(p.idle) - 1
			copy(p.idle[i:], p.idle[i+1:])
			p.idle[n] = nil
			p.idle = p.idle[:n]
			break
		}
	}
	c.inIdle = false
	p.mu.Unlock()
	c.nc.Close()
}

// closeIdle closes the idle connections; the pool stays usable.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	for _, c := range idle {
		c.inIdle = false
		c.timer.Stop()
	}
	p.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
}

// abort runs when the request's context ends while the connection is in use: closing it unblocks any
// read or write at once. The connection is never reused afterwards.
func (c *h1Conn) abort() { c.nc.Close() }

// roundTrip sends out on a pooled or new connection and returns the response with its header read. The
// response body must be closed; that returns the connection to the pool when the body was read to the
// end and the upstream allowed keep-alive. body is out's body wrapper (nil without a body).
// headerTimeout, when positive, bounds the wait for the response header of this request once it is
// written, together with the client's ResponseHeaderTimeout (the tighter applies).
func (p *h1Pool) roundTrip(out *http.Request, body *bodyReader, headerTimeout time.Duration) (*http.Response, error) {
	ctx := out.Context()
	fresh := false
	for {
		c, err := p.get(ctx, fresh, body == nil)
		if err != nil {
			return nil, err
		}
		resp, retry, err := c.exchange(ctx, out, body, headerTimeout)
		if err == nil {
			return resp, nil
		}
		if err == errStale {
			continue // closed while pooled, found before anything was sent: the next one
		}
		if !retry || fresh {
			return nil, err
		}
		fresh = true // the pooled connection was stale: once more on a new one, as net/http does
	}
}

// exchange writes the request and reads the response header. On failure the connection is closed and
// retry says whether the request may be sent again on another connection: the connection was reused,
// the request's body was not touched, and either nothing was written or the request is idempotent and
// the upstream closed the connection before answering.
func (c *h1Conn) exchange(ctx context.Context, out *http.Request, body *bodyReader, headerTimeout time.Duration) (resp *http.Response, retry bool, err error) {
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(&c.cw)
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(&c.cr)
	c.broken = false
	if c.cr.scan != nil {
		c.scan.reset() // every byte of the response is read through c.cr from here on
	}
	if ctx.Done() != nil {
		c.stop = context.AfterFunc(ctx, c.abortFn)
	}
	fail := func(err error) (*http.Response, bool, error) {
		retry := c.reused && ctx.Err() == nil && (body == nil || !body.started.Load())
		c.finish(false)
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return nil, retry, err
	}

	start := c.cw.n
	// A bodiless request is held and written by the first read of the response (send), on a
	// connection that can: that read checks a pooled connection, and no read finds nothing yet.
	send := body == nil && c.live.canSend()
	if send {
		c.cw.hold, c.cw.held = true, c.cw.held[:0]
	}
	writeErr, bodyErr := c.writeRequest(out, body)
	c.cw.hold = false
	if bodyErr != nil {
		if c.cw.n == start && ctx.Err() == nil {
			// Nothing reached the upstream (the head waits in the write buffer, dropped now): the
			// connection is as clean as it came and goes back to the pool.
			c.finish(true)
			return nil, false, bodyErr
		}
		// Reading the client's body failed: the upstream waits for the rest, which never comes.
		_, _, err := fail(bodyErr)
		return nil, false, err
	}
	if writeErr != nil {
		if c.cw.n == start {
			return fail(writeErr) // nothing left: safe to send again if the body is untouched
		}
		// The upstream may have answered early (413, 401) and stopped reading: try to read that answer.
		c.broken = true
	}
	putWriter(c)

	c.cr.limit = c.pool.c.maxHdrBytes
	respTimeout := c.pool.c.respTimeout
	if headerTimeout > 0 && (respTimeout == 0 || headerTimeout < respTimeout) {
		respTimeout = headerTimeout
	}
	if respTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(respTimeout))
	}
	c.cr.send = send && writeErr == nil
	if _, err := c.br.Peek(1); err != nil {
		if err == errStale {
			c.finish(false)
			return nil, true, errStale
		}
		if c.sendErr != nil {
			writeErr = c.sendErr
		}
		if writeErr != nil {
			err = writeErr
		}
		r, retry, err := fail(err)
		// Closed before any byte of a response: an idempotent request may go again.
		return r, retry && (c.cw.n == start || writeErr == nil && idempotent(out) && isEOF(err)), err
	}
	// One allocation per response for the parsed response and its body wrapper, never shared with
	// the connection's next request: a caller holding on to either cannot touch another request.
	res := new(h1Response)
	if parseSimpleResponse(c.br, out.Method, &res.resp) {
		resp = &res.resp
		resp.Request = out
	} else {
		for n1xx := 0; ; n1xx++ {
			r, err := http.ReadResponse(c.br, out)
			if err != nil {
				_, _, err = fail(err)
				return nil, false, err
			}
			if r.StatusCode >= 200 || r.StatusCode < 100 { // not informational, as net/http's Transport sees it
				resp = r
				break
			}
			if r.StatusCode == http.StatusSwitchingProtocols {
				_, _, err = fail(errSwitched)
				return nil, false, err
			}
			if n1xx == max1xx {
				_, _, err = fail(errTooMany1xx)
				return nil, false, err
			}
		}
	}
	if respTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	if n := c.pool.c.maxHeaders; n > 0 && TooManyFields(resp.Header, n) {
		if resp.Body != nil {
			resp.Body.Close()
		}
		_, _, err = fail(fmt.Errorf("%w: more than %d fields", ErrResponseHeaderTooLarge, n))
		return nil, false, err
	}
	if c.cr.scan != nil && lostConnection(resp) {
		if v := c.scan.connection(); v != nil {
			resp.Header["Connection"] = v
		}
	}
	c.cr.limit = math.MaxInt64
	if resp.Body == nil { // parsed here: Content-Length framing
		res.body = h1Body{c: c, ctx: ctx, resp: resp, remain: resp.ContentLength, eof: resp.ContentLength == 0}
	} else {
		res.body = h1Body{c: c, rc: resp.Body, ctx: ctx, resp: resp, eof: resp.Body == http.NoBody}
	}
	resp.Body = &res.body
	return resp, false, nil
}

// writeRequest writes the request line, header and body. writeErr is a failure to write to the
// upstream, bodyErr a failure to read the request body.
func (c *h1Conn) writeRequest(out *http.Request, body *bodyReader) (writeErr, bodyErr error) {
	bw := c.bw
	writeHead(bw, out, body != nil)
	if body == nil {
		return bw.Flush(), nil
	}
	chunked := out.ContentLength < 0
	remain := out.ContentLength
	var bp *[]byte // the copy buffer, taken only for a body larger than the write buffer's free space
	defer putBuf(&bp)
	for chunked || remain > 0 {
		var b []byte
		if !chunked && remain <= int64(bw.Available()) {
			// The rest fits in the write buffer: read it there (Write below then copies in place).
			b = bw.AvailableBuffer()[:remain]
		} else {
			if bp == nil {
				bp = bufPool.Get().(*[]byte)
			}
			b = *bp
			if !chunked && int64(len(b)) > remain {
				b = b[:remain]
			}
		}
		n, rerr := body.Read(b)
		if n > 0 {
			if chunked {
				bw.Write(strconv.AppendUint(bw.AvailableBuffer(), uint64(n), 16))
				bw.WriteString("\r\n")
				bw.Write(b[:n])
				bw.WriteString("\r\n")
			} else {
				bw.Write(b[:n])
				remain -= int64(n)
			}
		}
		if rerr == io.EOF {
			if chunked {
				bw.WriteString("0\r\n\r\n")
			} else if remain > 0 {
				return nil, errShortBody
			}
			break
		}
		if rerr != nil {
			return nil, rerr
		}
		// Flush what the client sent so far: a streaming upload must reach the upstream as it comes.
		if err := bw.Flush(); err != nil {
			return err, nil
		}
	}
	return bw.Flush(), nil
}

func putBuf(bp **[]byte) {
	if *bp != nil {
		bufPool.Put(*bp)
	}
}

// writeHead writes the request line and header as http.Transport would for out (see
// [h1Eligible] for what it has checked before).
func writeHead(bw *bufio.Writer, out *http.Request, hasBody bool) {
	bw.WriteString(out.Method)
	bw.WriteByte(' ')
	if p := out.URL.EscapedPath(); p != "" {
		bw.WriteString(p)
	} else {
		bw.WriteByte('/')
	}
	if out.URL.RawQuery != "" || out.URL.ForceQuery {
		bw.WriteByte('?')
		bw.WriteString(out.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if out.Host != "" {
		bw.WriteString(out.Host)
	} else {
		bw.WriteString(out.URL.Host)
	}
	bw.WriteString("\r\n")
	ua := "Go-http-client/1.1"
	if v, ok := out.Header["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = trimOWS(v[0])
		}
	}
	if ua != "" {
		bw.WriteString("User-Agent: ")
		bw.WriteString(ua)
		bw.WriteString("\r\n")
	}
	for k, vv := range out.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // written above or below from the request's fields
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(trimOWS(v))
			bw.WriteString("\r\n")
		}
	}
	switch {
	case hasBody && out.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), out.ContentLength, 10))
		bw.WriteString("\r\n")
	case hasBody:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case out.Method == "POST" || out.Method == "PUT" || out.Method == "PATCH":
		bw.WriteString("Content-Length: 0\r\n") // many servers expect it, and net/http sends it
	}
	bw.WriteString("\r\n")
}

func putWriter(c *h1Conn) {
	if c.bw != nil {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.bw = nil
	}
}

// finish ends the connection's current request: it is pooled when reuse is true and nothing speaks
// against it, closed otherwise.
func (c *h1Conn) finish(reuse bool) {
	if c.stop != nil {
		if !c.stop() {
			reuse = false // the context ended and abort closed the connection
		}
		c.stop = nil
	}
	if c.broken || c.br.Buffered() > 0 {
		reuse = false // unsolicited bytes after the response
	}
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.br = nil
	c.cr.send, c.sendErr = false, nil
	putWriter(c)
	if reuse {
		c.pool.put(c)
	} else {
		c.nc.Close()
	}
}

// h1Response is a response parsed by parseSimpleResponse and its body, in one allocation.
type h1Response struct {
	resp http.Response
	body h1Body
}

// h1Body is the response body handed to the proxy; closing it releases the connection. It reads
// either a body framed by http.ReadResponse (rc) or, for a header parsed by parseSimpleResponse,
// remain bytes straight from the connection's reader.
type h1Body struct {
	armed  bool // a body-idle read deadline is set on the connection
	c      *h1Conn
	rc     io.ReadCloser
	remain int64
	ctx    context.Context
	resp   *http.Response
	eof    bool
}

func (b *h1Body) Read(p []byte) (n int, err error) {
	if b.c == nil {
		return 0, errBodyClosed
	}
	if idle := b.c.pool.c.bodyIdle; idle > 0 && !b.armed && b.c.br.Buffered() < b.need(len(p)) {
		// The bytes are not here yet: bound the wait. Responses that came with their header (most
		// small ones) never pay for a deadline.
		b.armed = b.c.nc.SetReadDeadline(time.Now().Add(idle)) == nil
	} else if b.armed {
		_ = b.c.nc.SetReadDeadline(time.Now().Add(idle))
	}
	if b.rc != nil {
		n, err = b.rc.Read(p)
	} else {
		if b.remain == 0 {
			b.eof = true
			return 0, io.EOF
		}
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err = b.c.br.Read(p)
		b.remain -= int64(n)
		if b.remain == 0 {
			err = io.EOF // with the last bytes, so that the connection is released early
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	}
	if b.armed && err != nil {
		_ = b.c.nc.SetReadDeadline(time.Time{}) // a pooled connection must not keep it
		b.armed = false
	}
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		if isTimeout(err) {
			err = fmt.Errorf("%w: %w", ErrBodyIdle, err)
		} else if cerr := b.ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
	}
	return n, err
}

// need is how many buffered bytes a read of up to n bytes can return without waiting: the rest of
// a Content-Length body, or (chunked) anything at all.
func (b *h1Body) need(n int) int {
	if b.rc == nil && b.remain < int64(n) {
		return int(b.remain)
	}
	return 1
}

// Close releases the connection: to the pool if the body was read to its end and the upstream keeps
// the connection alive, closed otherwise (the rest of a long body is not drained).
func (b *h1Body) Close() error {
	c := b.c
	if c == nil {
		return nil
	}
	b.c = nil
	c.finish(b.eof && !b.resp.Close)
	return nil
}

// idempotent reports whether out may be sent twice, by net/http's rule.
func idempotent(out *http.Request) bool {
	switch out.Method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	_, k1 := out.Header["Idempotency-Key"]
	_, k2 := out.Header["X-Idempotency-Key"]
	return k1 || k2
}

// isEOF reports the ways a connection closed by the upstream fails a read.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// h1Eligible reports whether the fast path can send out exactly as http.Transport would. Anything
// unusual — CONNECT, Expect: 100-continue, request trailers, a Host, method, target or header field
// that is not plainly valid — goes to the Transport, which sends it or reports the error as it always
// has.
func h1Eligible(out *http.Request) bool {
	if out.Method == "CONNECT" || !validToken(out.Method) || len(out.Trailer) > 0 {
		return false
	}
	if !validHost(out.Host) || !validQuery(out.URL.RawQuery) {
		return false
	}
	for k, vv := range out.Header {
		if k == "Expect" || !validToken(k) {
			return false
		}
		for _, v := range vv {
			if !validValue(v) {
				return false
			}
		}
	}
	return true
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validValue rejects control bytes other than tab, among them CR and LF (header injection).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts the empty Host (the endpoint's is written) and plain ASCII authorities; the
// Transport handles (or rejects) IPv6 zones, non-ASCII names and the rest.
func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
			continue
		}
		switch b {
		case '.', '-', '_', ':', '[', ']', '~':
			continue
		}
		return false
	}
	return true
}

func validQuery(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f {
			return false
		}
	}
	return true
}

// trimOWS trims the optional white space around a header value, as net/http does on writing.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
