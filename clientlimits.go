package agentgateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// ClientTimeouts bound what a slow or stalled client can hold: while the gateway waits for a request
// body or pushes a response, it holds a goroutine, buffers and usually an upstream connection. The
// zero value of a field disables its bound; [DefaultClientTimeouts] are the defaults.
//
// The bounds are deadlines on the client connection (http.ResponseController's SetReadDeadline and
// SetWriteDeadline), armed only while the gateway is blocked reading or writing it, so they never
// count the time the gateway itself (or its upstream) takes. A bound that passes fails the read or
// write: the request is answered 400 (a body that stopped) or the response is cut, and the upstream
// connection is released. On a server with its own ReadTimeout or WriteTimeout, these replace them
// for the request body and response body.
type ClientTimeouts struct {
	// BodyTimeout and BodyMinRate bound a request body of declared length (Content-Length): the time
	// spent waiting for it may be at most BodyTimeout plus one second per BodyMinRate bytes received
	// (Apache's mod_reqtimeout rule: a client sending 1 byte every 5 seconds is cut after BodyTimeout,
	// a large upload at any reasonable rate is not). Default 20s and 500 bytes/s.
	BodyTimeout time.Duration
	BodyMinRate int64
	// StreamIdleTimeout bounds the wait for each read of a request body of unknown length (chunked,
	// or an HTTP/2 stream without content-length): streams such as gRPC client streams may pause, but
	// not forever. Default 5 minutes (Envoy's stream idle timeout).
	StreamIdleTimeout time.Duration
	// WriteIdleTimeout bounds each write of the response body to a client that stopped reading
	// (nginx's send_timeout). Default 60s. A response's first write is not bounded: the kernel's
	// buffers take it, and a small response then costs no deadline.
	WriteIdleTimeout time.Duration
}

// DefaultClientTimeouts are the bounds a Gateway applies unless [WithClientTimeouts] says otherwise.
var DefaultClientTimeouts = ClientTimeouts{
	BodyTimeout:       20 * time.Second,
	BodyMinRate:       500,
	StreamIdleTimeout: 5 * time.Minute,
	WriteIdleTimeout:  60 * time.Second,
}

// WithClientTimeouts replaces the bounds on slow and stalled clients (default
// [DefaultClientTimeouts]); the zero ClientTimeouts disables them all.
func WithClientTimeouts(t ClientTimeouts) Option { return func(o *options) { o.client = t } }

// ErrClientTimeout is the error a request body's Read returns, and the cause recorded in State.Err,
// when a client's body or its reading of the response was too slow for the gateway's
// [ClientTimeouts]. It is a net.Error whose Timeout is true; an HTTP backend answers it 408.
var ErrClientTimeout net.Error = clientTimeout{}

type clientTimeout struct{}

func (clientTimeout) Error() string   { return "client too slow" }
func (clientTimeout) Timeout() bool   { return true }
func (clientTimeout) Temporary() bool { return false }

type readDeadliner interface{ SetReadDeadline(time.Time) error }
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// deadlines reaches the deadline setters of the client connection: directly for net/http's own
// writers (no allocation), through http.ResponseController for wrapped ones.
func deadlines(w http.ResponseWriter) (readDeadliner, writeDeadliner) {
	if d, ok := w.(interface {
		readDeadliner
		writeDeadliner
	}); ok {
		return d, d
	}
	rc := http.NewResponseController(w)
	return rc, rc
}

// countingBody counts the request body's bytes into State.BytesIn and applies the body bounds.
type countingBody struct {
	io.ReadCloser
	n *int64
	// The bounds; rd is nil when none applies.
	rd     readDeadliner
	known  bool          // the body has a declared length: the min-rate rule applies
	base   time.Duration // BodyTimeout, or StreamIdleTimeout for bodies of unknown length
	rate   int64
	waited time.Duration // time spent blocked in reads so far
	failed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.rd == nil {
		n, err := b.ReadCloser.Read(p)
		*b.n += int64(n)
		return n, err
	}
	budget := b.base
	if b.known {
		if b.rate > 0 {
			budget += time.Duration(*b.n) * time.Second / time.Duration(b.rate)
		}
		budget -= b.waited
	}
	start := time.Now()
	if budget <= 0 || b.rd.SetReadDeadline(start.Add(budget)) != nil {
		// Out of budget, or the connection cannot take a deadline: read unbounded rather than fail
		// a request that the writer cannot bound (e.g. a test recorder).
		if budget <= 0 {
			return 0, b.fail()
		}
		b.rd = nil
		return b.Read(p)
	}
	n, err := b.ReadCloser.Read(p)
	end := time.Now()
	b.waited += end.Sub(start)
	*b.n += int64(n)
	if err != nil && isTimeoutErr(err) {
		return n, b.fail()
	}
	_ = b.rd.SetReadDeadline(time.Time{}) // net/http's background read must not inherit it
	return n, err
}

// fail leaves the connection's read deadline in the past: net/http would otherwise try to read the
// rest of the body before it answers (to keep the connection), waiting on the very client that was
// too slow. With the read failing, it answers and closes the connection instead.
func (b *countingBody) fail() error {
	b.failed = true
	_ = b.rd.SetReadDeadline(time.Unix(1, 0))
	return ErrClientTimeout
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// guardedWriter bounds each response write after the first with WriteIdleTimeout. It sits under the
// gateway's HookedWriter, directly over net/http's writer, and passes every optional interface on.
type guardedWriter struct {
	http.ResponseWriter
	wd     writeDeadliner
	idle   time.Duration
	writes int
	failed bool
}

func (g *guardedWriter) arm() bool {
	g.writes++
	if g.writes == 1 || g.wd == nil {
		return false
	}
	if g.wd.SetWriteDeadline(time.Now().Add(g.idle)) != nil {
		g.wd = nil
		return false
	}
	return true
}

func (g *guardedWriter) disarm(err error) error {
	_ = g.wd.SetWriteDeadline(time.Time{})
	if err != nil && isTimeoutErr(err) {
		g.failed = true
		return errors.Join(ErrClientTimeout, err)
	}
	return err
}

func (g *guardedWriter) Write(p []byte) (int, error) {
	if !g.arm() {
		return g.ResponseWriter.Write(p)
	}
	n, err := g.ResponseWriter.Write(p)
	return n, g.disarm(err)
}

func (g *guardedWriter) WriteString(s string) (int, error) {
	if !g.arm() {
		return io.WriteString(g.ResponseWriter, s)
	}
	n, err := io.WriteString(g.ResponseWriter, s)
	return n, g.disarm(err)
}

// ReadFrom keeps net/http's sendfile path; it is not bounded per write (a file copy may be long).
func (g *guardedWriter) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := g.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{g}, src)
}

func (g *guardedWriter) FlushError() error {
	if !g.arm() {
		return g.flush()
	}
	return g.disarm(g.flush())
}

// flush flushes net/http's writer directly (an SSE stream flushes per event: no ResponseController
// allocation when the writer is net/http's own).
func (g *guardedWriter) flush() error {
	switch f := g.ResponseWriter.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.NewResponseController(g.ResponseWriter).Flush()
}

func (g *guardedWriter) Flush() { _ = g.FlushError() }

func (g *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(g.ResponseWriter).Hijack()
}

func (g *guardedWriter) Push(target string, opts *http.PushOptions) error {
	if p, ok := g.ResponseWriter.(http.Pusher); ok {
		return p.Push(target, opts)
	}
	return http.ErrNotSupported
}

func (g *guardedWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// RequestBodyStatus is the status for a failure to read a request body: 408 when the client was too
// slow for the gateway's [ClientTimeouts], 413 for a body over an http.MaxBytesReader limit, 400
// otherwise (a malformed or truncated body). Policies and backends that read the body use it so that
// every path answers the same failure the same way.
func RequestBodyStatus(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, ErrClientTimeout):
		return http.StatusRequestTimeout
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}
