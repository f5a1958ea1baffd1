package h1server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// start serves h on a loopback listener with the lean server, falling back to a net/http server with
// the same handler (and fb, when given, as its handler instead).
func start(t *testing.T, h http.Handler, fb http.Handler, tune func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if fb == nil {
		fb = h
	}
	fl := newChanListener()
	hs := &http.Server{Handler: fb, ErrorLog: discardLog, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(fl)
	s := &Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		Logger: slog.New(slog.DiscardHandler),
		Fallback: func(c net.Conn) {
			select {
			case fl.ch <- c:
			case <-fl.done:
				c.Close()
			}
		}}
	if tune != nil {
		tune(s)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, s.Shutdown(ctx))
		assert.NoError(t, hs.Shutdown(ctx))
		fl.Close()
	})
	return s, ln.Addr().String()
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	return c, bufio.NewReader(c)
}

func send(t *testing.T, c net.Conn, s string) {
	t.Helper()
	_, err := io.WriteString(c, s)
	require.NoError(t, err)
}

func read(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	require.NoError(t, err)
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
})

// Keep-alive serves several requests on a connection, and Connection: close ends it after the
// response that announces it.
func TestKeepAliveThenConnectionClose(t *testing.T) {
	_, addr := start(t, hello, nil, nil)
	c, br := dial(t, addr)
	send(t, c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
	res, body := read(t, br, "GET")
	assert.Equal(t, "GET /1 ", body)
	assert.Equal(t, "7", res.Header.Get("Content-Length"))
	assert.NotEmpty(t, res.Header.Get("Date"))
	assert.False(t, res.Close)
	send(t, c, "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	_, body = read(t, br, "POST")
	assert.Equal(t, "POST /2 abc", body)
	res, body = read(t, br, "GET")
	assert.Equal(t, "GET /3 ", body)
	assert.True(t, res.Close, "the last response announces the close")
	_, err := br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "the connection is closed after it")
}

// A client that goes away while its request is served cancels the request's context, so that the
// gateway stops the upstream work (net/http's behaviour, kept without its per-request read abort).
func TestClientGoneCancelsRequest(t *testing.T) {
	cancelled := make(chan error, 1)
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(15 * time.Second):
			cancelled <- errors.New("not cancelled")
		}
	})
	_, addr := start(t, h, nil, nil)
	c, _ := dial(t, addr)
	send(t, c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	c.Close()
	assert.ErrorIs(t, <-cancelled, context.Canceled)
}

// The same once a request body has been read to its end.
func TestClientGoneAfterBodyCancelsRequest(t *testing.T) {
	cancelled := make(chan error, 1)
	read := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		read <- string(b)
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(15 * time.Second):
			cancelled <- errors.New("not cancelled")
		}
	})
	_, addr := start(t, h, nil, nil)
	c, _ := dial(t, addr)
	send(t, c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody")
	assert.Equal(t, "body", <-read)
	c.Close()
	assert.ErrorIs(t, <-cancelled, context.Canceled)
}

// Shutdown closes idle connections at once, lets the request in flight finish (its response says
// Connection: close) and returns once it has.
func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "done")
	})
	s, addr := start(t, h, nil, nil)
	idle, idleBr := dial(t, addr)
	send(t, idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	read(t, idleBr, "GET")
	busy, busyBr := dial(t, addr)
	send(t, busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	_, err := idleBr.ReadByte()
	assert.Error(t, err, "the idle connection is closed")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned with a request in flight: %v", err)
	default:
	}
	close(release)
	res, body := read(t, busyBr, "GET")
	assert.Equal(t, "done", body)
	assert.True(t, res.Close)
	assert.NoError(t, <-shut)
}

// Flush sends what the handler wrote so far (SSE): the client gets the first event while the
// handler still runs, chunked since the length is unknown.
func TestFlushStreams(t *testing.T) {
	next := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		require.NoError(t, http.NewResponseController(w).Flush())
		<-next
		io.WriteString(w, "data: 2\n\n")
	})
	_, addr := start(t, h, nil, nil)
	c, br := dial(t, addr)
	send(t, c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"chunked"}, res.TransferEncoding)
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: 1\n", line)
	close(next)
	rest, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Contains(t, string(rest), "data: 2")
}

// A handler that leaves the request body unread gets its response out, and the connection closes
// (the unread bytes must not be taken for a request).
func TestUnreadBodyClosesConnection(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "no") })
	_, addr := start(t, h, nil, nil)
	c, br := dial(t, addr)
	send(t, c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 60\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
	res, body := read(t, br, "POST")
	assert.Equal(t, "no", body)
	assert.True(t, res.Close)
	_, err := br.ReadByte()
	assert.Error(t, err, "closed: the body's bytes are never served as a request")
}

// A panicking handler closes the connection without a response, as with net/http.
func TestPanicClosesConnection(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	_, addr := start(t, h, nil, nil)
	c, br := dial(t, addr)
	send(t, c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	_, err := br.ReadByte()
	assert.Error(t, err)
}

// Requests outside the lean subset reach net/http with the bytes already read, even mid-connection:
// a WebSocket upgrade is hijacked there.
func TestUpgradeFallsBackToNetHTTP(t *testing.T) {
	fb := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			hello(w, r)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		require.NoError(t, err)
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhijacked:" + r.URL.Path)
		brw.Flush()
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, err := http.NewResponseController(w).Hijack()
		assert.ErrorIs(t, err, http.ErrNotSupported)
		hello(w, r)
	})
	_, addr := start(t, h, fb, nil)
	c, br := dial(t, addr)
	send(t, c, "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n")
	_, body := read(t, br, "GET")
	assert.Equal(t, "GET /plain ", body)
	send(t, c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
	rest, _ := io.ReadAll(br)
	assert.Equal(t, "hijacked:/ws", string(rest))
}

// A head over MaxHeaderBytes gets net/http's 431.
func TestHeadTooLarge(t *testing.T) {
	_, addr := start(t, hello, nil, func(s *Server) { s.MaxHeaderBytes = 1024 })
	c, br := dial(t, addr)
	send(t, c, "GET / HTTP/1.1\r\nHost: a\r\nX: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	// net/http's own limit is 1 MiB here: the fallback gets the head and answers for it.
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, res.StatusCode)
}

// Line breaks in a response header value cannot end the head (response splitting).
func TestHeaderValueCannotSplitResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", "a\r\nSet-Cookie: evil=1")
		w.Header()["Bad Name"] = []string{"x"}
	})
	_, addr := start(t, h, nil, nil)
	c, br := dial(t, addr)
	send(t, c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	res, _ := read(t, br, "GET")
	assert.Equal(t, "a  Set-Cookie: evil=1", res.Header.Get("X-Echo"))
	assert.Empty(t, res.Header.Values("Set-Cookie"))
	assert.Empty(t, res.Header.Values("Bad Name"))
}

// A client that stalls in the middle of a head is cut off by the header timeout.
func TestReadHeaderTimeout(t *testing.T) {
	_, addr := start(t, hello, nil, func(s *Server) { s.ReadHeaderTimeout = 50 * time.Millisecond })
	c, br := dial(t, addr)
	send(t, c, "GET / HTTP/1.1\r\nHost: a\r\n")
	_, err := br.ReadByte()
	assert.Error(t, err, "closed (by the fallback's own header timeout at the latest)")
}

// Response trailers declared by the handler go out after a chunked body.
func TestTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	})
	_, addr := start(t, h, nil, nil)
	c, br := dial(t, addr)
	send(t, c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	res, body := read(t, br, "GET")
	assert.Equal(t, "body", body)
	assert.Equal(t, "42", res.Trailer.Get("X-Sum"))
	assert.Equal(t, "yes", res.Trailer.Get("X-Late"))
}

// HEAD responses carry no body; 204 refuses one.
func TestNoBodyResponses(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/204" {
			w.WriteHeader(http.StatusNoContent)
			_, err := w.Write([]byte("x"))
			assert.ErrorIs(t, err, http.ErrBodyNotAllowed)
			return
		}
		io.WriteString(w, "hello")
	})
	_, addr := start(t, h, nil, nil)
	c, br := dial(t, addr)
	send(t, c, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
	res, body := read(t, br, "HEAD")
	assert.Equal(t, "", body)
	assert.Equal(t, "5", res.Header.Get("Content-Length"))
	res, _ = read(t, br, "GET")
	assert.Equal(t, http.StatusNoContent, res.StatusCode)
	_, body = read(t, br, "GET")
	assert.Equal(t, "hello", body)
}

// A write deadline a handler sets (http.ResponseController, the gateway's write idle timeout) does not
// outlive its response: the next response on the connection is written.
func TestWriteDeadlineClearedAfterResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/1" {
			require.NoError(t, http.NewResponseController(w).SetWriteDeadline(time.Now().Add(20*time.Millisecond)))
		}
		io.WriteString(w, r.URL.Path)
	})
	_, addr := start(t, h, nil, nil)
	c, br := dial(t, addr)
	send(t, c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
	_, body := read(t, br, "GET")
	assert.Equal(t, "/1", body)
	time.Sleep(50 * time.Millisecond) // past the first response's deadline (not a timing assertion)
	send(t, c, "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
	_, body = read(t, br, "GET")
	assert.Equal(t, "/2", body)
}
