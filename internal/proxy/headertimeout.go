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
	d      time.Duration
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	t      *time.Timer
	done   bool
}

// start returns the context the request is sent with, bounded by d once wrote runs; cancel must be
// called once the response is done.
func (h *headerTimer) start(parent context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithCancelCause(parent)
	h.d, h.cancel = d, cancel
	return ctx
}

func (h *headerTimer) fire() { h.cancel(ErrResponseHeaderTimeout) }

// wrote (re)starts the timer: the Transport may write the request more than once (a retry on a stale
// connection).
func (h *headerTimer) wrote(httptrace.WroteRequestInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return
	}
	if h.t == nil {
		h.t = time.AfterFunc(h.d, h.fire)
	} else {
		h.t.Reset(h.d)
	}
}

// stop ends the bound once RoundTrip has returned, and makes err say when the timer caused it; when
// the timer fired, the request failed even if a response came.
func (h *headerTimer) stop(err error) error {
	h.mu.Lock()
	h.done = true
	fired := h.t != nil && !h.t.Stop()
	h.mu.Unlock()
	switch {
	case fired && err != nil:
		return fmt.Errorf("%w: %w", ErrResponseHeaderTimeout, err)
	case fired:
		return ErrResponseHeaderTimeout // the header came as the timer fired: the request is cancelled
	}
	return err
}
