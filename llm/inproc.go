package llm

import (
	"io"
	"net/http"
	"sync"
)

func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }

// pipeResponseWriter is the ResponseWriter of an in-process upstream: the header is handed over
// when written, the body streams through a pipe (each Write waits for the reader, so a flush is
// implicit).
type pipeResponseWriter struct {
	pw         *io.PipeWriter
	h          http.Header
	header     http.Header // snapshot taken at WriteHeader
	status     int
	once       sync.Once
	headerDone chan struct{}
}

func newPipeResponseWriter(pw *io.PipeWriter) *pipeResponseWriter {
	return &pipeResponseWriter{pw: pw, h: http.Header{}, headerDone: make(chan struct{})}
}

func (w *pipeResponseWriter) Header() http.Header { return w.h }

func (w *pipeResponseWriter) WriteHeader(code int) {
	w.once.Do(func() {
		w.status, w.header = code, w.h.Clone()
		close(w.headerDone)
	})
}

func (w *pipeResponseWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(b)
}

// Flush implements http.Flusher (writes are unbuffered).
func (w *pipeResponseWriter) Flush() {}

// finish sends a header if the handler wrote nothing.
func (w *pipeResponseWriter) finish() { w.WriteHeader(http.StatusOK) }
