package agentgateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// HeaderHook is called by a [HookedWriter] once per response, just before the final status line and
// headers are sent.
type HeaderHook interface {
	// BeforeHeader receives the header about to be sent (the writer's Header) and the status the
	// handler wrote (200 when it wrote a body, or flushed, without calling WriteHeader). It may edit
	// the header and returns the (final) status to send instead.
	//
	// Returning 0 diverts the response: from then on the handler's body goes to the BodyHook (or is
	// dropped without one), and nothing is sent until the hook's owner calls [HookedWriter.Commit]
	// (meanwhile Flush does nothing). That is how a hook holds a response to decide later, or
	// replaces it: BeforeHeader may answer at once by calling Commit and writing through
	// [HookedWriter.Unwrap], and then return 0.
	BeforeHeader(h http.Header, status int) int
}

// BodyHook receives the body writes of a [HookedWriter] (after BeforeHeader has run) in place of the
// underlying writer, so it can observe, transform, buffer or discard them. It writes what it wants
// sent through [HookedWriter.Unwrap], and returns what the handler's Write call returns. As with
// io.Writer, it must not modify p or keep it after returning (WriteString hands it a string's bytes).
type BodyHook interface {
	WriteBody(p []byte) (int, error)
}

// HookedWriter is an http.ResponseWriter that runs hooks around the writer it wraps: the one type
// policies and backends use to intercept a response. It is meant to be embedded by value in a struct
// the interceptor allocates per request anyway, which implements the hooks itself, so intercepting
// costs no allocation:
//
//	type corsWriter struct {
//		agentgateway.HookedWriter
//		origin string
//	}
//
//	func (c *corsWriter) BeforeHeader(h http.Header, status int) int {
//		h.Set("Access-Control-Allow-Origin", c.origin)
//		return status
//	}
//
//	cw := &corsWriter{origin: origin}
//	cw.Init(w, cw, nil)
//	next.ServeHTTP(cw, r)
//
// The contract, which each method documents:
//   - 1xx informational responses (except 101 Switching Protocols, which is final) pass through
//     before the final status without running BeforeHeader.
//   - The final status runs BeforeHeader exactly once, whether it comes from WriteHeader, or
//     implicitly as 200 from the first Write, WriteString, ReadFrom or Flush. Later WriteHeader calls
//     are ignored (net/http would only log them as superfluous).
//   - Flush, Hijack and Push reach the underlying writer, and Unwrap lets [http.ResponseController]
//     (SetWriteDeadline, EnableFullDuplex, ...) see through any stack of HookedWriters. After a
//     hijack, hooks no longer run, writes fail with http.ErrHijacked, and Status reports 101 unless
//     a status was sent before.
//   - ReadFrom and WriteString keep net/http's fast paths (sendfile, no string copy) when there is no
//     BodyHook.
//   - Status and Written report the status sent and the body bytes the handler wrote. For a HEAD
//     request net/http accepts and drops the body, and BeforeHeader still runs.
//
// Like any ResponseWriter, a HookedWriter belongs to the handler's goroutine and must not be used
// after ServeHTTP returns.
type HookedWriter struct {
	rw     http.ResponseWriter
	hh     HeaderHook
	bh     BodyHook
	header http.Header // set by SetHeader: Header returns it until Commit
	status int
	state  hookState
	// divert: BeforeHeader returned 0, so the handler's body goes to the BodyHook or nowhere.
	divert bool
	n      int64
	rec    *State // the gateway's own writer keeps the request's State current
}

type hookState uint8

const (
	hookOpen     hookState = iota // nothing sent yet
	hookHeld                      // BeforeHeader is running, or returned 0
	hookSent                      // the final status is sent
	hookHijacked                  // the connection was taken over
)

// Init (re)starts w as a fresh writer over rw with the given hooks, either of which may be nil.
// Usually the struct embedding w passes itself as the hooks.
func (w *HookedWriter) Init(rw http.ResponseWriter, hh HeaderHook, bh BodyHook) {
	*w = HookedWriter{rw: rw, hh: hh, bh: bh}
}

// SetHeader makes Header return h, a header map the hooks own, instead of the underlying writer's
// header until the response is committed; the fields in h then replace those of the same name in the
// underlying header. Policies that may discard a response (retry) or rewrite it whole (body
// transformations) keep the handler's headers apart this way.
func (w *HookedWriter) SetHeader(h http.Header) { w.header = h }

// Header returns the header map of the response: the one given to SetHeader until the response is
// committed, the underlying writer's otherwise.
func (w *HookedWriter) Header() http.Header {
	if w.header != nil {
		return w.header
	}
	return w.rw.Header()
}

// WriteHeader passes 1xx informational statuses through while nothing else has been sent, and runs
// BeforeHeader for the first final one. Invalid codes panic, as in net/http.
func (w *HookedWriter) WriteHeader(status int) {
	if w.state != hookOpen {
		return
	}
	if status >= 100 && status <= 199 && status != http.StatusSwitchingProtocols {
		w.rw.WriteHeader(status)
		return
	}
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", status))
	}
	w.decide(status)
}

func (w *HookedWriter) decide(status int) {
	w.state = hookHeld // also keeps a misbehaving hook from re-entering through WriteHeader
	if w.hh != nil {
		status = w.hh.BeforeHeader(w.Header(), status)
	}
	switch {
	case status == 0:
		w.divert = true
	case w.state == hookHeld:
		w.Commit(status)
	}
}

// Commit sends status and the header now, without running BeforeHeader: hooks call it to release a
// held response or to answer in place of the handler. It does nothing once a status was sent.
func (w *HookedWriter) Commit(status int) {
	if w.state >= hookSent {
		return
	}
	if w.header != nil {
		dst := w.rw.Header()
		for k, v := range w.header {
			dst[k] = v
		}
		w.header = nil
	}
	w.state, w.status = hookSent, status
	if w.rec != nil {
		w.rec.Status = status
	}
	w.rw.WriteHeader(status)
}

// Write sends p (through the BodyHook if there is one), first running BeforeHeader with 200 if no
// status was written.
func (w *HookedWriter) Write(p []byte) (int, error) {
	if w.state == hookOpen {
		w.decide(http.StatusOK)
	}
	var n int
	var err error
	switch {
	case w.state == hookHijacked:
		return 0, http.ErrHijacked
	case w.bh != nil:
		n, err = w.bh.WriteBody(p)
	case w.direct():
		n, err = w.rw.Write(p)
	default: // diverted without a BodyHook: the hook answers (or answered) itself
		n = len(p)
	}
	w.count(int64(n))
	return n, err
}

// direct reports whether the handler's writes go straight to the underlying writer.
func (w *HookedWriter) direct() bool { return w.state == hookSent && w.bh == nil && !w.divert }

func (w *HookedWriter) count(n int64) {
	w.n += n
	if w.rec != nil {
		w.rec.BytesOut += n
	}
}

// WriteString is Write for a string, without copying it unless a BodyHook must see it.
func (w *HookedWriter) WriteString(s string) (int, error) {
	if w.state == hookOpen {
		w.decide(http.StatusOK)
	}
	if !w.direct() {
		// A BodyHook gets a copy: a hook that broke io.Writer's rule and modified p must not be able to
		// write into a string's (possibly read-only) memory.
		return w.Write([]byte(s))
	}
	n, err := io.WriteString(w.rw, s)
	w.count(int64(n))
	return n, err
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// ReadFrom copies src to the response; without a BodyHook it hands src to the underlying writer, so
// net/http can use sendfile.
func (w *HookedWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.state == hookOpen {
		w.decide(http.StatusOK)
	}
	if rf, ok := w.rw.(io.ReaderFrom); ok && w.direct() {
		n, err := rf.ReadFrom(src)
		w.count(n)
		return n, err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var total int64
	for {
		nr, rerr := src.Read(*bp)
		if nr > 0 {
			nw, werr := w.Write((*bp)[:nr])
			total += int64(nw)
			if werr != nil {
				return total, werr
			}
			if nw != nr {
				return total, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Flush sends the header (running BeforeHeader with 200 if no status was written) and flushes the
// underlying writer; while the response is held it does nothing.
func (w *HookedWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush reporting the underlying writer's error; [http.ResponseController] calls it.
func (w *HookedWriter) FlushError() error {
	if w.state == hookOpen {
		w.decide(http.StatusOK)
	}
	switch w.state {
	case hookSent:
		return http.NewResponseController(w.rw).Flush()
	case hookHijacked:
		return http.ErrHijacked
	}
	return nil
}

// Hijack takes over the connection when the underlying writer allows it (else the error wraps
// [http.ErrNotSupported]). Hooks do not run; the response reports status 101 unless one was sent.
func (w *HookedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.rw).Hijack()
	if err == nil {
		w.state = hookHijacked
		if w.status == 0 {
			w.status = http.StatusSwitchingProtocols
			if w.rec != nil {
				w.rec.Status = w.status
			}
		}
	}
	return c, brw, err
}

// Push initiates an HTTP/2 server push when the underlying writer supports it.
func (w *HookedWriter) Push(target string, opts *http.PushOptions) error {
	if p, ok := w.rw.(http.Pusher); ok {
		return p.Push(target, opts)
	}
	return http.ErrNotSupported
}

// Unwrap returns the underlying writer, for [http.ResponseController] and for hooks that write
// through it.
func (w *HookedWriter) Unwrap() http.ResponseWriter { return w.rw }

// Status is the final status sent to the underlying writer (101 after a hijack), or 0 while none was.
func (w *HookedWriter) Status() int { return w.status }

// Written is the number of body bytes the handler wrote, as reported back to it.
func (w *HookedWriter) Written() int64 { return w.n }

// OnWriteHeader wraps w so that fn runs once, just before the status line and headers are sent, with
// the headers and status about to be written. It costs an allocation per call (plus fn's closure):
// interceptors on a hot path embed a [HookedWriter] in a struct of their own instead.
func OnWriteHeader(w http.ResponseWriter, fn func(h http.Header, status int)) http.ResponseWriter {
	hf := &headerFunc{fn: fn}
	hf.Init(w, hf, nil)
	return hf
}

type headerFunc struct {
	HookedWriter
	fn func(http.Header, int)
}

func (h *headerFunc) BeforeHeader(hdr http.Header, status int) int {
	h.fn(hdr, status)
	return status
}
