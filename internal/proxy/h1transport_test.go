package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closeCounter records whether a request body was closed, as the RoundTripper contract requires.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

func newTransport(t *testing.T, fallback http.RoundTripper) *H1Transport {
	tr := NewH1Transport(H1Options{}, fallback)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func TestH1TransportReusesConnectionsAndSendsTheRequest(t *testing.T) {
	up, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", r.Header.Get("X-Test"))
		w.Header().Set("X-Host", r.Host)
		_, _ = fmt.Fprintf(w, "%s %s %d %s", r.Method, r.URL.RequestURI(), r.ContentLength, b)
	}))
	tr := newTransport(t, nil)
	for i := range 5 {
		body := &closeCounter{Reader: strings.NewReader("hi")}
		req, err := http.NewRequest(http.MethodPost, up.URL+"/mcp?x=1", body)
		require.NoError(t, err)
		req.ContentLength = 2
		req.Header.Set("X-Test", "ok")
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err, i)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, "POST /mcp?x=1 2 hi", string(b))
		assert.Equal(t, "ok", resp.Header.Get("X-Got"))
		assert.Equal(t, strings.TrimPrefix(up.URL, "http://"), resp.Header.Get("X-Host"))
		assert.Same(t, req, resp.Request)
		assert.EqualValues(t, 1, body.closed.Load(), "the request body is closed")
	}
	assert.EqualValues(t, 1, conns.Load(), "one pooled connection")

	// A body of unknown length goes chunked.
	req, _ := http.NewRequest(http.MethodPut, up.URL+"/c", io.MultiReader(strings.NewReader("chunk")))
	req.ContentLength = -1
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "PUT /c -1 chunk", string(b), "sent chunked")

	// A connection the server closed while idle is noticed before reuse.
	up.CloseClientConnections()
	req, _ = http.NewRequest(http.MethodGet, up.URL+"/again", nil)
	resp, err = tr.RoundTrip(req)
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "GET /again 0 ", string(b))
	assert.EqualValues(t, 2, conns.Load())

	// CloseIdleConnections empties the pool; the transport stays usable.
	tr.CloseIdleConnections()
	resp, err = tr.RoundTrip(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.EqualValues(t, 3, conns.Load())
}

func TestH1TransportIneligibleRequests(t *testing.T) {
	up, _ := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "fallback")
	}))
	bad := map[string]func(*http.Request){
		"header injection": func(r *http.Request) { r.Header["X-Bad"] = []string{"a\r\nInjected: 1"} },
		"https":            func(r *http.Request) { r.URL.Scheme = "https" },
		"user info":        func(r *http.Request) { r.URL.User = url.UserPassword("u", "p") },
		"close":            func(r *http.Request) { r.Close = true },
		"expect":           func(r *http.Request) { r.Header.Set("Expect", "100-continue") },
		"trailer":          func(r *http.Request) { r.Trailer = http.Header{"X-T": nil} },
		"unknown length 0": func(r *http.Request) { r.ContentLength = 0 },
	}
	for name, edit := range bad {
		t.Run(name, func(t *testing.T) {
			newReq := func() (*http.Request, *closeCounter) {
				body := &closeCounter{Reader: strings.NewReader("x")}
				req, err := http.NewRequest(http.MethodPost, up.URL+"/", body)
				require.NoError(t, err)
				req.ContentLength = 1
				edit(req)
				return req, body
			}
			// Without a fallback: a clear error, nothing sent, the body closed.
			req, body := newReq()
			_, err := newTransport(t, nil).RoundTrip(req)
			require.ErrorIs(t, err, ErrH1Ineligible)
			assert.EqualValues(t, 1, body.closed.Load())

			// With one, it decides.
			var n atomic.Int32
			std := &http.Transport{}
			defer std.CloseIdleConnections()
			req, _ = newReq()
			resp, err := newTransport(t, countingRT{std, &n}).RoundTrip(req)
			assert.EqualValues(t, 1, n.Load(), "handed to the fallback")
			if err == nil {
				resp.Body.Close()
			}
		})
	}
}

// An SSE response streams: each event is readable as soon as the server flushes it, and cancelling
// the request's context aborts the stream and frees the server's handler.
func TestH1TransportStreamsAndCancels(t *testing.T) {
	next := make(chan struct{})
	handlerDone := make(chan struct{})
	up, _ := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			_, _ = fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	tr := newTransport(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL+"/sse", nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		var lines [3]string
		for j := range lines {
			lines[j], err = br.ReadString('\n')
			require.NoError(t, err)
		}
		assert.Equal(t, fmt.Sprintf("data: event %d\n", i), lines[1])
		next <- struct{}{} // the server writes the next event only now: the body is not buffered whole
	}
	cancel()
	_, err = io.Copy(io.Discard, br)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	select {
	case <-handlerDone:
	case <-ctxTimeout(t):
		t.Fatal("the server's handler did not see the stream end")
	}
}

func TestH1TransportCancelledBeforeSending(t *testing.T) {
	up, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL, nil)
	_, err := newTransport(t, nil).RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, conns.Load())
}

func ctxTimeout(t *testing.T) <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx.Done()
}

// Bodies of every size reach the upstream whole, whether the reader hands them over at once or a
// byte at a time, and a body shorter than its Content-Length is an error, not a hang.
func TestH1TransportBodySizes(t *testing.T) {
	up, _ := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		_, _ = w.Write(b)
	}))
	tr := newTransport(t, nil)
	for _, size := range []int{1, 100, 3900, 4096, 5000, 100_000} {
		want := strings.Repeat("abcdefghij", size/10+1)[:size]
		for name, rd := range map[string]func() io.Reader{
			"whole":    func() io.Reader { return strings.NewReader(want) },
			"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(want)) },
		} {
			req, _ := http.NewRequest(http.MethodPost, up.URL, io.NopCloser(rd()))
			req.ContentLength = int64(size)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err, "%d %s", size, name)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, want, string(got), "%d %s", size, name)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, up.URL, io.NopCloser(strings.NewReader("short")))
	req.ContentLength = 10
	_, err := tr.RoundTrip(req)
	require.ErrorIs(t, err, errShortBody)
}

// H1Transport reads a response's header as net/http does: a Connection field that lists close is
// dropped, and the fields it nominates are left to the caller (only Proxy strips them).
func TestH1TransportConnectionCloseAsNetHTTP(t *testing.T) {
	const raw = "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok"
	up := newRawUpstream(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, _, err := readReq(br); err == nil {
			_, _ = io.WriteString(c, raw)
		}
	})
	req, err := http.NewRequest(http.MethodGet, up.url()+"/", nil)
	require.NoError(t, err)
	resp, err := newTransport(t, nil).RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), req)
	require.NoError(t, err)
	assert.Equal(t, want.Header, resp.Header)
	assert.True(t, resp.Close)
}
