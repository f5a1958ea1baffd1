package proxy

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"sync"
	"time"
)

// ErrResponseHeaderTimeout is the cause of a request whose response header did not arrive within the
// per-request header timeout (see [Proxy.Serve]). It reports itself as a timeout (net.Error), so the
// request is answered 504.
var ErrResponseHeaderTimeout error = headerTimeoutError{}

type headerTimeoutError struct{}

func (headerTimeoutError) Error() string   { return "timeout awaiting response headers" }
func (headerTimeoutError) Timeout() bool   { return true }
func (headerTimeoutError) Temporary() bool { return true }

// headerTimer bounds the wait for a response header on the Transport path, where the timeout of
// http.Transport is per transport and not per request: it cancels the request's context when the
// timeout passes after the request was written (WroteRequest), until stop. The built-in client uses a
// read deadline instead, which costs nothing.
type headerTimer struct {
	trace  httptrace.ClientTrace
	d      time.Duration
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	t      *time.Timer
	done   bool
}

func newHeaderTimer(d time.Duration) *headerTimer {
	h := &headerTimer{d: d}
	h.trace.WroteRequest = h.wrote
	return h
}

// ctx returns the context the request is sent with; cancel must be called once the response is done.
func (h *headerTimer) ctx(parent context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(parent)
	h.cancel = cancel
	return ctx
}

// wrote (re)starts the timer: the Transport may write the request more than once (a retry on a stale
// connection).
func (h *headerTimer) wrote(httptrace.WroteRequestInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return
	}
	if h.t == nil {
		h.t = time.AfterFunc(h.d, func() { h.cancel(ErrResponseHeaderTimeout) })
	} else {
		h.t.Reset(h.d)
	}
}

// stop ends the bound once RoundTrip has returned, and makes err say when the timer caused it.
func (h *headerTimer) stop(err error) error {
	h.mu.Lock()
	h.done = true
	fired := h.t != nil && !h.t.Stop()
	h.mu.Unlock()
	if err != nil && fired {
		return fmt.Errorf("%w: %w", ErrResponseHeaderTimeout, err)
	}
	return err
}
