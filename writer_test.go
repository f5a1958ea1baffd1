package agentgateway_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agw "github.com/agentgw/agentgateway"
)

// probe is an interceptor as policies write them: a HookedWriter embedded by value, with the hooks
// implemented by the embedding struct.
type probe struct {
	agw.HookedWriter
	name  string
	calls []int // the statuses BeforeHeader saw
}

func (p *probe) BeforeHeader(h http.Header, status int) int {
	p.calls = append(p.calls, status)
	h.Set("X-"+p.name, "1")
	return status
}

func newProbe(w http.ResponseWriter, name string) *probe {
	p := &probe{name: name}
	p.Init(w, p, nil)
	return p
}

// stacked is the outcome of one request through two stacked probes.
type stacked struct{ outer, inner *probe }

// stackServer serves h through two stacked probes and reports them after each request.
func stackServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, chan stacked) {
	t.Helper()
	done := make(chan stacked, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outer := newProbe(w, "Outer")
		inner := newProbe(outer, "Inner")
		h(inner, r)
		done <- stacked{outer, inner}
	}))
	t.Cleanup(srv.Close)
	return srv, done
}

func TestHookedWriterContract(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		h        http.HandlerFunc
		status   int
		body     string
		informal []int // 1xx statuses the client saw
		written  int64
	}{
		{name: "Write without WriteHeader is 200", h: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("hi"))
		}, status: 200, body: "hi", written: 2},
		{name: "WriteString without WriteHeader is 200", h: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hi")
		}, status: 200, body: "hi", written: 2},
		{name: "ReadFrom without WriteHeader is 200", h: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(w, struct{ io.Reader }{strings.NewReader("abc")})
		}, status: 200, body: "abc", written: 3},
		{name: "Flush without WriteHeader is 200", h: func(w http.ResponseWriter, r *http.Request) {
			require.NoError(t, http.NewResponseController(w).Flush())
			_, _ = w.Write([]byte("x"))
		}, status: 200, body: "x", written: 1},
		{name: "nothing written", h: func(w http.ResponseWriter, r *http.Request) {}, status: 200},
		{name: "a second WriteHeader is ignored", h: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(201)
			w.WriteHeader(500)
			_, _ = w.Write([]byte("a"))
			w.WriteHeader(502)
		}, status: 201, body: "a", written: 1},
		{name: "1xx pass through without the hook", h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
			w.WriteHeader(http.StatusContinue) // after the final status: ignored
			_, _ = w.Write([]byte("ok"))
		}, status: 202, body: "ok", informal: []int{103, 103}, written: 2},
		{name: "HEAD", method: http.MethodHead, h: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("body"))
		}, status: 200, written: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, done := stackServer(t, tc.h)
			var informal []int
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
					informal = append(informal, code)
					return nil
				},
			})
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequestWithContext(ctx, method, srv.URL, nil)
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()
			s := <-done

			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.body, string(body))
			assert.Equal(t, tc.informal, informal)
			if len(s.inner.calls) > 0 {
				assert.Equal(t, "1", resp.Header.Get("X-Outer")) // a handler that wrote nothing leaves the header to net/http
				assert.Equal(t, "1", resp.Header.Get("X-Inner"))
				assert.Equal(t, []int{tc.status}, s.inner.calls, "the hook runs once, with the final status")
				assert.Equal(t, tc.status, s.inner.Status())
			} else {
				assert.Zero(t, s.inner.Status())
			}
			assert.Equal(t, tc.written, s.inner.Written())
			assert.Equal(t, tc.written, s.outer.Written())
		})
	}
}

// Flush, SetWriteDeadline and EnableFullDuplex reach net/http through two stacked hooks: the client
// reads the first part while the handler is still waiting to write the second.
func TestHookedWriterResponseController(t *testing.T) {
	proceed := make(chan struct{})
	srv, done := stackServer(t, func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		assert.NoError(t, rc.SetWriteDeadline(time.Now().Add(time.Minute)))
		assert.NoError(t, rc.SetReadDeadline(time.Now().Add(time.Minute)))
		assert.NoError(t, rc.EnableFullDuplex())
		_, _ = w.Write([]byte("first\n"))
		assert.NoError(t, rc.Flush())
		select {
		case <-proceed:
		case <-time.After(10 * time.Second):
			t.Error("the client never saw the flushed part")
		}
		_, _ = w.Write([]byte("second\n"))
	})
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "first\n", line)
	close(proceed)
	line, err = br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "second\n", line)
	s := <-done
	assert.Equal(t, []int{200}, s.inner.calls)
	assert.Equal(t, []int{200}, s.outer.calls)
}

// Hijack reaches the connection through two stacked hooks; the hooks do not run and the writers
// report 101.
func TestHookedWriterHijack(t *testing.T) {
	srv, done := stackServer(t, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if !assert.NoError(t, err) {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nraw")
		_ = brw.Flush()
		_, err = w.Write([]byte("late"))
		assert.ErrorIs(t, err, http.ErrHijacked)
		w.WriteHeader(500) // ignored: net/http would only complain
	})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("X-Inner"))
	raw, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, "raw", string(raw))
	s := <-done
	assert.Empty(t, s.inner.calls)
	assert.Empty(t, s.outer.calls)
	assert.Equal(t, http.StatusSwitchingProtocols, s.inner.Status())
	assert.Equal(t, http.StatusSwitchingProtocols, s.outer.Status())
}

func TestHookedWriterHijackNotSupported(t *testing.T) {
	p := newProbe(httptest.NewRecorder(), "P")
	_, _, err := http.NewResponseController(p).Hijack()
	assert.ErrorIs(t, err, http.ErrNotSupported)
	assert.Zero(t, p.Status())
	_, _ = p.Write([]byte("still writable"))
	assert.Equal(t, 200, p.Status())
}

// holder holds the response and buffers the body, as retry and body transformations do.
type holder struct {
	agw.HookedWriter
	held   int
	body   strings.Builder
	header http.Header
}

func (h *holder) BeforeHeader(_ http.Header, status int) int { h.held = status; return 0 }
func (h *holder) WriteBody(p []byte) (int, error)            { return h.body.Write(p) }

func TestHookedWriterHoldAndCommit(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("X-Outside", "kept")
	rec.Header().Set("X-Both", "outside")
	h := &holder{header: http.Header{}}
	h.Init(rec, h, h)
	h.SetHeader(h.header)

	h.Header().Set("X-Both", "handler")
	h.Header().Set("X-Handler", "1")
	h.WriteHeader(503)
	h.WriteHeader(200) // held: ignored
	_, _ = h.Write([]byte("held body"))
	h.Flush() // held: nothing may go out
	assert.False(t, rec.Flushed)
	assert.Equal(t, 503, h.held)
	assert.Zero(t, h.Status())
	assert.Equal(t, int64(9), h.Written())
	assert.Empty(t, rec.Header().Get("X-Handler"), "held headers stay apart")

	h.Commit(502)
	_, _ = h.Unwrap().Write([]byte(h.body.String()))
	h.Commit(200) // only once
	assert.Equal(t, 502, rec.Code)
	assert.Equal(t, 502, h.Status())
	assert.Equal(t, "held body", rec.Body.String())
	assert.Equal(t, "kept", rec.Header().Get("X-Outside"))
	assert.Equal(t, "handler", rec.Header().Get("X-Both"))
	assert.Equal(t, "1", rec.Header().Get("X-Handler"))
	assert.Equal(t, "1", h.Header().Get("X-Handler"), "after the commit Header is the underlying one")
}

// answerer replaces an error response with its own, from inside BeforeHeader (as the timeout policy
// turns a 502 into a 504), and drops the handler's body.
type answerer struct{ agw.HookedWriter }

func (a *answerer) BeforeHeader(h http.Header, status int) int {
	if status < 500 {
		return status
	}
	clear(h)
	a.Commit(504)
	_, _ = a.Unwrap().Write([]byte("replaced"))
	return 0
}

func TestHookedWriterAnswerFromHook(t *testing.T) {
	rec := httptest.NewRecorder()
	a := &answerer{}
	a.Init(rec, a, nil)
	a.Header().Set("X-Upstream", "1")
	a.WriteHeader(502)
	_, err := a.Write([]byte("upstream error"))
	require.NoError(t, err)
	a.Flush()
	assert.Equal(t, 504, rec.Code)
	assert.Equal(t, 504, a.Status())
	assert.Equal(t, "replaced", rec.Body.String())
	assert.Empty(t, rec.Header().Get("X-Upstream"))
}

func TestHookedWriterSwitchingProtocolsIsFinal(t *testing.T) {
	rec := httptest.NewRecorder()
	p := newProbe(rec, "P")
	p.WriteHeader(http.StatusSwitchingProtocols)
	assert.Equal(t, []int{101}, p.calls)
	assert.Equal(t, 101, p.Status())
}

func TestHookedWriterInvalidStatusPanics(t *testing.T) {
	p := newProbe(httptest.NewRecorder(), "P")
	assert.PanicsWithValue(t, "invalid WriteHeader code 42", func() { p.WriteHeader(42) })
	assert.Empty(t, p.calls)
}

type pusher struct {
	*httptest.ResponseRecorder
	pushed []string
}

func (p *pusher) Push(target string, _ *http.PushOptions) error {
	p.pushed = append(p.pushed, target)
	return nil
}

type readerFrom struct {
	*httptest.ResponseRecorder
	used bool
}

func (r *readerFrom) ReadFrom(src io.Reader) (int64, error) {
	r.used = true
	return io.Copy(r.ResponseRecorder, src)
}

// The optional interfaces of the writer underneath (HTTP/2 push, io.ReaderFrom for sendfile) stay
// reachable through stacked hooks.
func TestHookedWriterOptionalInterfaces(t *testing.T) {
	pu := &pusher{ResponseRecorder: httptest.NewRecorder()}
	p := newProbe(newProbe(pu, "Outer"), "Inner")
	require.NoError(t, p.Push("/style.css", nil))
	assert.Equal(t, []string{"/style.css"}, pu.pushed)
	assert.ErrorIs(t, newProbe(httptest.NewRecorder(), "P").Push("/x", nil), http.ErrNotSupported)

	rf := &readerFrom{ResponseRecorder: httptest.NewRecorder()}
	outer := newProbe(rf, "Outer")
	inner := newProbe(outer, "Inner")
	n, err := io.Copy(inner, struct{ io.Reader }{strings.NewReader("file contents")})
	require.NoError(t, err)
	assert.Equal(t, int64(13), n)
	assert.True(t, rf.used, "ReadFrom reaches the underlying writer")
	assert.Equal(t, "file contents", rf.Body.String())
	assert.Equal(t, []int{200}, inner.calls)
	assert.Equal(t, int64(13), outer.Written())

	// With a BodyHook the copy goes through it instead.
	rf = &readerFrom{ResponseRecorder: httptest.NewRecorder()}
	h := &holder{}
	h.Init(rf, h, h)
	_, err = io.Copy(h, struct{ io.Reader }{strings.NewReader("via hook")})
	require.NoError(t, err)
	assert.False(t, rf.used)
	assert.Equal(t, "via hook", h.body.String())
}

// nullWriter is a reusable ResponseWriter for the allocation count.
type nullWriter struct{ h http.Header }

func (q *nullWriter) Header() http.Header         { return q.h }
func (q *nullWriter) Write(p []byte) (int, error) { return len(p), nil }
func (q *nullWriter) WriteHeader(int)             {}
func (q *nullWriter) Flush()                      {}

func (q *nullWriter) SetWriteDeadline(time.Time) error { return nil }

type counter struct {
	agw.HookedWriter
	status int
	bytes  int
}

func (c *counter) BeforeHeader(_ http.Header, status int) int { c.status = status; return status }
func (c *counter) WriteBody(p []byte) (int, error) {
	c.bytes += len(p)
	return c.Unwrap().Write(p)
}

// Intercepting a response through a HookedWriter embedded in a struct that already exists allocates
// nothing, whatever the handler does with it.
func TestHookedWriterAllocs(t *testing.T) {
	q := &nullWriter{h: http.Header{}}
	var outer, inner counter
	body := []byte("hello")
	allocs := testing.AllocsPerRun(100, func() {
		outer.Init(q, &outer, nil)
		inner.Init(&outer, &inner, &inner)
		inner.bytes = 0
		w := http.ResponseWriter(&inner)
		w.Header()
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		_, _ = w.Write(body) // (WriteString through a BodyHook copies the string, by design)
		_ = http.NewResponseController(w).Flush()
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	})
	assert.Zero(t, allocs)
	assert.Equal(t, 200, outer.status)
	assert.Equal(t, 10, inner.bytes)
}

// BenchmarkHookedWriter compares a HookedWriter embedded in a per-request struct with the
// OnWriteHeader convenience (a closure and a wrapper per request).
func BenchmarkHookedWriter(b *testing.B) {
	q := &nullWriter{h: http.Header{}}
	body := []byte("hello")
	b.Run("embedded", func(b *testing.B) {
		b.ReportAllocs()
		var c counter
		for b.Loop() {
			c.Init(q, &c, nil)
			c.WriteHeader(200)
			_, _ = c.Write(body)
		}
	})
	b.Run("OnWriteHeader", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			w := agw.OnWriteHeader(q, func(http.Header, int) { n++ })
			w.WriteHeader(200)
			_, _ = w.Write(body)
		}
	})
}
