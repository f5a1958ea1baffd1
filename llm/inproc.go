package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

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

// handlerTransport serves requests with an in-process handler (an in-process upstream, a remote
// guard or the server tools' MCP backend). The response body streams through a pipe so SSE
// answers work; closing it cancels the handler and waits for it, so no goroutine outlives the
// response, and a panicking handler is a 500 or a broken body, never a crashed gateway.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	pr, pw := io.Pipe()
	w := newPipeResponseWriter(pw)
	in := req.Clone(ctx)
	if in.Body == nil {
		in.Body = http.NoBody
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if p := recover(); p != nil {
				w.WriteHeader(http.StatusInternalServerError)
				pw.CloseWithError(fmt.Errorf("llm: in-process handler panicked: %v", p))
				return
			}
			w.finish()
			pw.Close()
		}()
		t.h.ServeHTTP(w, in)
	}()
	select {
	case <-w.headerDone:
	case <-ctx.Done():
		// Not waiting for the handler: it may finish work in progress before it notices; its
		// writes then fail on the closed pipe and it returns.
		cancel()
		pr.CloseWithError(ctx.Err())
		return nil, ctx.Err()
	}
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: &handlerBody{pr: pr, cancel: cancel, wg: &wg}, Request: req, ContentLength: -1,
	}, nil
}

// handlerBody is an in-process response body: Close stops the handler and waits for it.
type handlerBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
	wg     *sync.WaitGroup
	once   sync.Once
}

func (b *handlerBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *handlerBody) Close() error {
	b.once.Do(func() {
		b.cancel()
		b.pr.CloseWithError(errors.New("response body closed"))
		b.wg.Wait()
	})
	return nil
}
