package agentgateway

import (
	"bufio"
	"net"
	"net/http"
)

// OnWriteHeader wraps w so that fn runs once, just before the status line and headers are sent, with
// the headers and status about to be written. Policies that edit response headers use it. The wrapper
// keeps Flush, Hijack and Unwrap working (http.ResponseController sees through it).
func OnWriteHeader(w http.ResponseWriter, fn func(h http.Header, status int)) http.ResponseWriter {
	return &headerHook{ResponseWriter: w, fn: fn}
}

type headerHook struct {
	http.ResponseWriter
	fn   func(http.Header, int)
	done bool
}

func (h *headerHook) WriteHeader(status int) {
	if !h.done && (status >= 200 || status == http.StatusSwitchingProtocols) {
		h.done = true
		h.fn(h.ResponseWriter.Header(), status)
	}
	h.ResponseWriter.WriteHeader(status)
}

func (h *headerHook) Write(p []byte) (int, error) {
	if !h.done {
		h.WriteHeader(http.StatusOK)
	}
	return h.ResponseWriter.Write(p)
}

func (h *headerHook) Flush() {
	if !h.done {
		h.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(h.ResponseWriter).Flush()
}

func (h *headerHook) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

func (h *headerHook) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// recorder is the gateway's own writer: it records status and bytes into the request State.
type recorder struct {
	http.ResponseWriter
	st *State
}

func (w *recorder) WriteHeader(status int) {
	if w.st.Status == 0 || w.st.Status < 200 {
		w.st.Status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.st.Status == 0 {
		w.st.Status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.st.BytesOut += int64(n)
	return n, err
}

func (w *recorder) Flush() {
	if w.st.Status == 0 {
		w.st.Status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.st.Status == 0 {
		w.st.Status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
