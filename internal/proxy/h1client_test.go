package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hangGuard bounds every blocking wait in these tests; it is never an expected duration.
const hangGuard = 10 * time.Second

// h1Harness serves a Proxy with the fast path enabled behind an httptest front server. Requests the
// fast path does not take go through a real http.Transport, counted in fallbacks.
type h1Harness struct {
	p         *Proxy
	front     *httptest.Server
	fallbacks atomic.Int32
	errs      chan *Error // one per finished request (nil for success)
}

type countingRT struct {
	rt http.RoundTripper
	n  *atomic.Int32
}

func (c countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

func newH1Harness(t *testing.T, upstream string, o H1Options) *h1Harness {
	t.Helper()
	ep, err := ParseEndpoint(upstream)
	require.NoError(t, err)
	tr := &http.Transport{DisableCompression: true, Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(true)
	t.Cleanup(tr.CloseIdleConnections)
	h := &h1Harness{errs: make(chan *Error, 1000)}
	h.p = New(Options{Endpoints: []Endpoint{ep}, Transport: countingRT{tr, &h.fallbacks}, H1: &o, EjectAfter: -1})
	h.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := h.p.Serve(w, r, nil, false, 0, 0)
		h.errs <- e
		if e != nil && e.Status != 0 {
			http.Error(w, e.Msg, e.Status)
		}
		if e != nil && e.Abort {
			panic(http.ErrAbortHandler)
		}
	}))
	t.Cleanup(func() {
		h.front.Close()
		h.p.CloseIdleConnections()
	})
	return h
}

func (h *h1Harness) pool() *h1Pool {
	return h.p.bal.endpoints()[0].h1
}

func (h *h1Harness) idle() int {
	p := h.pool()
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func (h *h1Harness) lastErr(t *testing.T) *Error {
	t.Helper()
	select {
	case e := <-h.errs:
		return e
	case <-time.After(hangGuard):
		t.Fatal("no request finished")
		return nil
	}
}

func (h *h1Harness) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := h.front.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func (h *h1Harness) req(t *testing.T, method, path string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, h.front.URL+path, body)
	require.NoError(t, err)
	return r
}

// countConns serves h and counts the connections it accepts.
func countConns(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &n
}

// rawUpstream is a TCP server whose every connection is handled by serve, byte for byte: it makes
// the upstream misbehave in exactly the ways a test needs.
type rawUpstream struct {
	ln    net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

func newRawUpstream(t *testing.T, serve func(n int, c net.Conn, br *bufio.Reader)) *rawUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := &rawUpstream{ln: ln}
	u.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(u.conns.Add(1))
			u.mu.Lock()
			u.open = append(u.open, c)
			u.mu.Unlock()
			u.wg.Go(func() {
				defer c.Close()
				serve(n, c, bufio.NewReader(c))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		u.mu.Lock()
		for _, c := range u.open {
			c.Close()
		}
		u.mu.Unlock()
		u.wg.Wait()
	})
	return u
}

func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() }

// readReq reads one request and its body from br.
func readReq(br *bufio.Reader) (*http.Request, string, error) {
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(r.Body)
	return r, string(body), err
}

func TestH1ReusesConnectionAndWritesRequest(t *testing.T) {
	type seen struct {
		line, host, te, body string
		cl                   int64
		header               http.Header
	}
	got := make(chan seen, 10)
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			r, body, err := readReq(br)
			if err != nil {
				return
			}
			got <- seen{line: r.Method + " " + r.RequestURI + " " + r.Proto, host: r.Host,
				te: strings.Join(r.TransferEncoding, ","), body: body, cl: r.ContentLength, header: r.Header}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Up: 1\r\n\r\nok")
		}
	})
	h := newH1Harness(t, up.url()+"/base", H1Options{})

	req := h.req(t, "GET", "/a%2Fb/c?x=1&y", nil)
	req.Host = "public.test"
	req.Header.Set("X-Multi", "1")
	req.Header.Add("X-Multi", "2")
	resp, body := h.do(t, req)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", body)
	assert.Equal(t, "1", resp.Header.Get("X-Up"))
	s := <-got
	assert.Equal(t, "GET /base/a%2Fb/c?x=1&y HTTP/1.1", s.line)
	assert.Equal(t, "public.test", s.host)
	assert.Equal(t, []string{"1", "2"}, s.header["X-Multi"])
	assert.Equal(t, []string{"public.test"}, s.header["X-Forwarded-Host"])
	assert.Equal(t, []string{"Go-http-client/1.1"}, s.header["User-Agent"], "the client's")
	assert.NotContains(t, s.header, "Content-Length")

	resp, _ = h.do(t, h.req(t, "POST", "/p", strings.NewReader("hello")))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	s = <-got
	assert.Equal(t, "hello", s.body)
	assert.EqualValues(t, 5, s.cl)

	resp, _ = h.do(t, h.req(t, "POST", "/empty", nil))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	s = <-got
	assert.Equal(t, []string{"0"}, s.header["Content-Length"], "as net/http sends for POST")

	resp, _ = h.do(t, h.req(t, "DELETE", "/d", nil))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	s = <-got
	assert.NotContains(t, s.header, "Content-Length")

	assert.EqualValues(t, 1, up.conns.Load(), "one keep-alive connection for every request")
	assert.Zero(t, h.fallbacks.Load())
	assert.Equal(t, 1, h.idle())
}

func TestH1ChunkedRequestAndResponse(t *testing.T) {
	var te atomic.Value
	up, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.Store(strings.Join(r.TransferEncoding, ","))
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Sum")
		_, _ = w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush() // unknown length: chunked
		_, _ = w.Write(body[len(body)/2:])
		w.Header().Set("X-Sum", fmt.Sprint(len(body)))
	}))
	h := newH1Harness(t, up.URL, H1Options{})
	for i := range 3 {
		pr, pw := io.Pipe()
		go func() {
			for range 4 {
				_, _ = io.WriteString(pw, strings.Repeat("x", 10000))
			}
			_ = pw.Close()
		}()
		resp, body := h.do(t, h.req(t, "PUT", "/c", pr))
		require.Equal(t, http.StatusOK, resp.StatusCode, i)
		assert.Equal(t, strings.Repeat("x", 40000), body)
		assert.Equal(t, "chunked", te.Load())
		assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
		assert.Equal(t, "40000", resp.Trailer.Get("X-Sum"), "response trailers pass")
		assert.Nil(t, h.lastErr(t))
	}
	assert.EqualValues(t, 1, conns.Load())
	assert.Zero(t, h.fallbacks.Load())
}

func TestH1CloseDelimitedResponse(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		t.Run(proto, func(t *testing.T) {
			up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
				if _, _, err := readReq(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, proto+" 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ")
				_, _ = io.WriteString(c, "the end")
			})
			h := newH1Harness(t, up.url(), H1Options{})
			for range 2 {
				resp, body := h.do(t, h.req(t, "GET", "/", nil))
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, "until the end", body)
				assert.Nil(t, h.lastErr(t))
			}
			assert.EqualValues(t, 2, up.conns.Load(), "a close-delimited response ends its connection")
			assert.Zero(t, h.idle())
		})
	}
}

func TestH1ConnectionClose(t *testing.T) {
	up, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		_, _ = io.WriteString(w, "body")
	}))
	h := newH1Harness(t, up.URL, H1Options{})
	for _, path := range []string{"/close", "/close", "/keep", "/keep"} {
		req := h.req(t, "GET", path, nil)
		req.Close = true // the client's Connection: close is about its own connection only
		resp, body := h.do(t, req)
		assert.Equal(t, "body", body)
		assert.Empty(t, resp.Header.Values("Connection"), "hop-by-hop") // the front server may add its own: not here
	}
	assert.EqualValues(t, 3, conns.Load(), "two closed by the upstream, then one kept alive")
	assert.Equal(t, 1, h.idle())
}

func TestH1HeadAnd204And304(t *testing.T) {
	up, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("Etag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "0123456789")
		}
	}))
	h := newH1Harness(t, up.URL, H1Options{})
	for range 2 {
		resp, body := h.do(t, h.req(t, "HEAD", "/x", nil))
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Empty(t, body)
		assert.EqualValues(t, 10, resp.ContentLength, "the HEAD response's length passes")
		resp, body = h.do(t, h.req(t, "GET", "/204", nil))
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.Empty(t, body)
		resp, body = h.do(t, h.req(t, "GET", "/304", nil))
		assert.Equal(t, http.StatusNotModified, resp.StatusCode)
		assert.Equal(t, `"v1"`, resp.Header.Get("Etag"))
		assert.Empty(t, body)
		resp, body = h.do(t, h.req(t, "GET", "/x", nil))
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "0123456789", body)
	}
	assert.EqualValues(t, 1, conns.Load(), "bodiless responses keep the connection")
	assert.Zero(t, h.fallbacks.Load())
}

func TestH1SkipsInformationalResponses(t *testing.T) {
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := readReq(br); err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"+
				"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
		}
	})
	h := newH1Harness(t, up.url(), H1Options{})
	for range 2 {
		resp, body := h.do(t, h.req(t, "GET", "/", nil))
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "final", body)
	}
	assert.EqualValues(t, 1, up.conns.Load())
}

// TestH1StaleConnection: upstreams close idle connections (keep-alive timeouts); a request must not
// fail for it.
func TestH1StaleConnection(t *testing.T) {
	t.Run("closed while idle", func(t *testing.T) {
		closed := make(chan struct{}, 10)
		up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
			if _, _, err := readReq(br); err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			c.Close() // right after the response, without saying so
			closed <- struct{}{}
		})
		h := newH1Harness(t, up.url(), H1Options{})
		for i := range 3 {
			// A POST with a body cannot be retried once sent: the pool must notice the close before.
			resp, body := h.do(t, h.req(t, "POST", "/", strings.NewReader("payload")))
			require.Equal(t, http.StatusOK, resp.StatusCode, "request %d: %s", i, body)
			require.Nil(t, h.lastErr(t))
			<-closed
			// Let the FIN arrive before the next request, else that request legitimately races it.
			p := h.pool()
			require.Eventually(t, func() bool {
				p.mu.Lock()
				defer p.mu.Unlock()
				return len(p.idle) == 1 && !p.idle[0].live.alive()
			}, hangGuard, time.Millisecond)
		}
		assert.EqualValues(t, 3, up.conns.Load())
	})
	t.Run("closed on receiving the next request", func(t *testing.T) {
		var requests atomic.Int32
		up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
			for n := 0; ; n++ {
				r, _, err := readReq(br)
				if err != nil {
					return
				}
				requests.Add(1)
				if n == 1 {
					return // the second request on a connection finds it closed: EOF, no response byte
				}
				resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
				if r.Method == "HEAD" {
					resp = strings.TrimSuffix(resp, "ok")
				}
				_, _ = io.WriteString(c, resp)
			}
		})
		h := newH1Harness(t, up.url(), H1Options{})
		for _, method := range []string{"GET", "HEAD", "OPTIONS", "GET"} {
			resp, _ := h.do(t, h.req(t, method, "/", nil))
			require.Equal(t, http.StatusOK, resp.StatusCode, method)
			require.Nil(t, h.lastErr(t))
		}
		// Connection 1: GET, GET(closed, retried on 2); 2: GET, HEAD(closed, retried on 3); ...
		assert.EqualValues(t, 7, requests.Load())
		assert.EqualValues(t, 4, up.conns.Load())

		// Not idempotent: the upstream may have acted on it, so no retry.
		resp, body := h.do(t, h.req(t, "POST", "/", strings.NewReader("x")))
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode, body)
		e := h.lastErr(t)
		require.NotNil(t, e)
		assert.ErrorIs(t, e, io.EOF)
	})
}

func TestH1CancelMidBody(t *testing.T) {
	upstreamGone := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part") // unknown length: the gateway flushes it at once
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done(): // the gateway closed the connection
			close(upstreamGone)
		case <-time.After(hangGuard):
		}
	}))
	t.Cleanup(up.Close)
	h := newH1Harness(t, up.URL, H1Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", h.front.URL+"/", nil)
	require.NoError(t, err)
	resp, err := h.front.Client().Do(req)
	require.NoError(t, err)
	buf := make([]byte, 10)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	assert.Equal(t, "first part", string(buf))
	cancel() // the client goes away mid-body
	resp.Body.Close()
	select {
	case <-upstreamGone:
	case <-time.After(hangGuard):
		t.Fatal("the upstream connection stayed open after the client left")
	}
	e := h.lastErr(t)
	require.NotNil(t, e)
	assert.ErrorIs(t, e, context.Canceled)
	assert.Zero(t, h.idle(), "a cancelled connection is never pooled")
}

func TestH1CancelWaitingForHeader(t *testing.T) {
	upstreamGone := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(upstreamGone)
		case <-time.After(hangGuard):
		}
	}))
	t.Cleanup(up.Close)
	h := newH1Harness(t, up.URL, H1Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(ctx, "GET", "http://front/", nil)
	e := h.p.Serve(rec, req, nil, false, 0, 0)
	require.NotNil(t, e)
	assert.Equal(t, http.StatusGatewayTimeout, e.Status)
	assert.ErrorIs(t, e, context.DeadlineExceeded)
	select {
	case <-upstreamGone:
	case <-time.After(hangGuard):
		t.Fatal("the upstream connection stayed open after the deadline")
	}
}

func TestH1ConcurrentPoolLimits(t *testing.T) {
	var inflight, peak atomic.Int32
	up, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer inflight.Add(-1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path)
		_, _ = w.Write(body)
	}))
	h := newH1Harness(t, up.URL, H1Options{MaxIdleConnsPerHost: 3})
	var wg sync.WaitGroup
	var bad atomic.Int32
	for g := range 24 {
		wg.Go(func() {
			for i := range 25 {
				path := fmt.Sprintf("/%d/%d", g, i)
				var body io.Reader
				if i%2 == 1 {
					body = strings.NewReader(path)
				}
				req, _ := http.NewRequest("POST", h.front.URL+path, body)
				resp, err := h.front.Client().Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := ""
				if body != nil {
					want = path
				}
				if err != nil || resp.StatusCode != 200 || string(got) != want || resp.Header.Get("X-Path") != path {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, bad.Load())
	for range 24 * 25 { // h.errs holds them all
		assert.Nil(t, h.lastErr(t))
	}
	assert.LessOrEqual(t, h.idle(), 3, "MaxIdleConnsPerHost")
	assert.GreaterOrEqual(t, conns.Load(), peak.Load())
	assert.Zero(t, h.fallbacks.Load())
}

func TestH1IdleTimeoutClosesConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	h := newH1Harness(t, up.URL, H1Options{IdleConnTimeout: 20 * time.Millisecond})
	resp, _ := h.do(t, h.req(t, "GET", "/", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	select {
	case <-closed:
	case <-time.After(hangGuard):
		t.Fatal("idle connection never closed")
	}
	assert.Zero(t, h.idle())
}

func TestH1CloseIdleConnections(t *testing.T) {
	up, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h := newH1Harness(t, up.URL, H1Options{})
	h.do(t, h.req(t, "GET", "/", nil))
	require.Equal(t, 1, h.idle())
	h.p.CloseIdleConnections()
	assert.Zero(t, h.idle())
	resp, _ := h.do(t, h.req(t, "GET", "/", nil))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 2, conns.Load())
}

func TestH1FallsBackToTransport(t *testing.T) {
	up, _ := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	}))
	h := newH1Harness(t, up.URL, H1Options{})

	req := h.req(t, "POST", "/expect", strings.NewReader("body"))
	req.Header.Set("Expect", "100-continue")
	_, body := h.do(t, req)
	assert.Equal(t, "body", body)
	assert.EqualValues(t, 1, h.fallbacks.Load(), "Expect: 100-continue")

	req = h.req(t, "POST", "/trailer", io.MultiReader(strings.NewReader("b")))
	req.Trailer = http.Header{"X-T": {"1"}}
	_, body = h.do(t, req)
	assert.Equal(t, "b", body)
	assert.EqualValues(t, 2, h.fallbacks.Load(), "request trailers")

	// A header value a policy set with CR LF: the Transport rejects it, nothing reaches the upstream.
	in := httptest.NewRequest("GET", "http://front/inject", nil)
	in.Header["X-Evil"] = []string{"a\r\nX-Injected: 1"}
	rec := httptest.NewRecorder()
	e := h.p.Serve(rec, in, nil, false, 0, 0)
	require.NotNil(t, e)
	assert.Equal(t, http.StatusBadGateway, e.Status)
	assert.EqualValues(t, 3, h.fallbacks.Load())

	// A per-request transport always wins.
	var override atomic.Int32
	in = httptest.NewRequest("GET", "http://front/o", nil)
	e = h.p.Serve(httptest.NewRecorder(), in, countingRT{http.DefaultTransport, &override}, false, 0, 0)
	require.Nil(t, e)
	assert.EqualValues(t, 1, override.Load())
	assert.EqualValues(t, 3, h.fallbacks.Load())
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

func TestH1EarlyResponse(t *testing.T) {
	// The upstream answers 413 without reading a large body and closes, as net/http servers do.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	t.Cleanup(up.Close)
	h := newH1Harness(t, up.URL, H1Options{})
	resp, body := h.do(t, h.req(t, "POST", "/upload", strings.NewReader(strings.Repeat("x", 8<<20))))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, body)
	assert.Zero(t, h.idle())
}

func TestH1HeaderTooLarge(t *testing.T) {
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, _, err := readReq(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Big: " + strings.Repeat("y", 1000) + "\r\n"
		for range maxResponseHeaderBytes/len(line) + 10 {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	})
	h := newH1Harness(t, up.url(), H1Options{})
	resp, _ := h.do(t, h.req(t, "GET", "/", nil))
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	e := h.lastErr(t)
	require.NotNil(t, e)
	assert.ErrorIs(t, e, errHeaderTooLarge)
}

func TestH1ResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); up.Close() })
	h := newH1Harness(t, up.URL, H1Options{ResponseHeaderTimeout: 20 * time.Millisecond})
	resp, _ := h.do(t, h.req(t, "GET", "/", nil))
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	e := h.lastErr(t)
	require.NotNil(t, e)
	var ne net.Error
	assert.True(t, errors.As(e, &ne) && ne.Timeout())
}

// TestH1WritesWhatTheTransportWrites sends the same requests through the built-in client and through
// http.Transport and compares, byte for byte, what the upstream receives: the request line, the header
// fields (in any order) and the body.
func TestH1WritesWhatTheTransportWrites(t *testing.T) {
	type capture struct {
		line, body string
		fields     []string
	}
	seen := make(chan capture, 1)
	up := newRawUpstream(t, func(_ int, c net.Conn, _ *bufio.Reader) {
		var raw strings.Builder
		br := bufio.NewReader(io.TeeReader(c, &raw))
		for {
			raw.Reset()
			r, body, err := readReq(br)
			if err != nil {
				return
			}
			head, _, _ := strings.Cut(raw.String(), "\r\n\r\n")
			lines := strings.Split(head, "\r\n")
			fields := lines[1:]
			slices.Sort(fields)
			seen <- capture{line: lines[0], body: body, fields: fields}
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			if r.Method == "HEAD" {
				resp = strings.TrimSuffix(resp, "ok")
			}
			_, _ = io.WriteString(c, resp)
		}
	})
	ep, err := ParseEndpoint(up.url() + "/base")
	require.NoError(t, err)
	tr := &http.Transport{DisableCompression: true, Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(true)
	t.Cleanup(tr.CloseIdleConnections)
	var fallbacks atomic.Int32
	fast := New(Options{Endpoints: []Endpoint{ep}, Transport: countingRT{tr, &fallbacks}, H1: &H1Options{}})
	std := New(Options{Endpoints: []Endpoint{ep}, Transport: tr})
	t.Cleanup(fast.CloseIdleConnections)

	tests := []struct {
		name, method, target string
		body                 func() io.Reader
		header               http.Header
		host                 string
	}{
		{name: "get", method: "GET", target: "/a/b?x=1&y=%20z", header: http.Header{"Accept": {"*/*"}, "User-Agent": {"curl/8"}}},
		{name: "escaped path", method: "GET", target: "/a%2Fb/%C3%A9", header: http.Header{"X-Multi": {"1", "2"}}},
		{name: "no user agent", method: "GET", target: "/", header: http.Header{}},
		{name: "empty host", method: "GET", target: "/", host: "-"},
		{name: "post with length", method: "POST", target: "/p", body: func() io.Reader { return strings.NewReader("hello") },
			header: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}}},
		{name: "post without body", method: "POST", target: "/p", header: http.Header{"Content-Length": {"0"}}},
		{name: "put chunked", method: "PUT", target: "/p", body: func() io.Reader {
			return io.MultiReader(strings.NewReader("stre"), strings.NewReader("am"))
		}},
		{name: "delete", method: "DELETE", target: "/d"},
		{name: "options", method: "OPTIONS", target: "/o"},
		{name: "head", method: "HEAD", target: "/h"},
		{name: "hop by hop", method: "GET", target: "/", header: http.Header{"Connection": {"X-Hop, keep-alive"}, "X-Hop": {"1"},
			"Keep-Alive": {"5"}, "Te": {"trailers, deflate"}, "Proxy-Authorization": {"x"}, "X-Forwarded-For": {"203.0.113.9"}}},
		{name: "value white space", method: "GET", target: "/", header: http.Header{"X-Sp": {" a b\t"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [2]capture
			for i, p := range []*Proxy{fast, std} {
				var body io.Reader
				if tt.body != nil {
					body = tt.body()
				}
				in := httptest.NewRequest(tt.method, "http://front.test"+tt.target, body)
				if body != nil && in.ContentLength == 0 {
					in.ContentLength = -1
				}
				if tt.host == "-" {
					in.Host = ""
				}
				maps.Copy(in.Header, tt.header)
				rec := httptest.NewRecorder()
				require.Nil(t, p.Serve(rec, in, nil, false, 0, 0))
				require.Equal(t, http.StatusOK, rec.Code)
				select {
				case got[i] = <-seen:
				case <-time.After(hangGuard):
					t.Fatal("upstream saw nothing")
				}
			}
			assert.Equal(t, got[1], got[0], "built-in client, then Transport")
		})
	}
	assert.Zero(t, fallbacks.Load())
}

// TestH1MalformedResponses: a broken upstream costs the request a 502 (or a cut-off response), never
// a hang, and never poisons the connection for the next request.
func TestH1MalformedResponses(t *testing.T) {
	tests := []struct {
		name, resp string
		status     int  // 0: the response is cut off (the client sees an error)
		abort      bool // the header went out, the body broke
	}{
		{name: "garbage", resp: "garbage\r\n\r\n", status: http.StatusBadGateway},
		{name: "conflicting lengths", resp: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", status: http.StatusBadGateway},
		{name: "bad chunk", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n", abort: true},
		{name: "short body", resp: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", abort: true},
		{name: "unasked switch", resp: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n", status: http.StatusBadGateway},
		{name: "endless 1xx", resp: strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 10), status: http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newRawUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
				if _, _, err := readReq(br); err != nil {
					return
				}
				if n == 1 {
					_, _ = io.WriteString(c, tt.resp)
					return // and close
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
			})
			h := newH1Harness(t, up.url(), H1Options{})
			resp, err := h.front.Client().Get(h.front.URL + "/")
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			e := h.lastErr(t)
			require.NotNil(t, e)
			if tt.abort {
				assert.True(t, e.Abort, e.Error())
				assert.Error(t, err, "a broken body must not look complete")
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.status, resp.StatusCode, e.Error())
			}
			resp, body := h.do(t, h.req(t, "GET", "/", nil))
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "good", body)
		})
	}
}

func TestH1UnsolicitedBytesEndTheConnection(t *testing.T) {
	up := newRawUpstream(t, func(n int, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := readReq(br); err != nil {
				return
			}
			// A second response nobody asked for rides along with the first.
			_, _ = io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n%02dHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil", n))
		}
	})
	h := newH1Harness(t, up.url(), H1Options{})
	for i := range 3 {
		_, body := h.do(t, h.req(t, "GET", "/", nil))
		assert.Equal(t, fmt.Sprintf("%02d", i+1), body, "each request on a new connection")
	}
	assert.Zero(t, h.idle())
}

func TestH1LargeBodies(t *testing.T) {
	up, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/length" {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		}
		_, _ = w.Write(body)
	}))
	h := newH1Harness(t, up.URL, H1Options{})
	payload := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	for _, path := range []string{"/length", "/chunked", "/length"} {
		resp, body := h.do(t, h.req(t, "POST", path, strings.NewReader(payload)))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, len(payload), len(body), path)
		require.True(t, body == payload, path)
		require.Nil(t, h.lastErr(t))
	}
	assert.EqualValues(t, 1, conns.Load())
	assert.Zero(t, h.fallbacks.Load())
}

func TestH1OnlyWhenEveryEndpointIsHTTP(t *testing.T) {
	eps := []Endpoint{{Scheme: "http", Host: "127.0.0.1:1"}, {Scheme: "https", Host: "127.0.0.1:2"}}
	p := New(Options{Endpoints: eps, Transport: http.DefaultTransport, H1: &H1Options{}})
	assert.Nil(t, p.h1)
	p = New(Options{Endpoints: eps[:1], Transport: http.DefaultTransport, H1: &H1Options{}})
	assert.NotNil(t, p.h1)
	assert.NotNil(t, p.bal.endpoints()[0].h1)
}
