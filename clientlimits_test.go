package agentgateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agw "github.com/agentgw/agentgateway"
)

// The bounds in these tests are short so that the tests are quick; what they assert is an order of
// events (the gateway answers before the client finishes; the upstream handler is released), never
// a duration.

// clUpstream records how each upstream request ended: "body ok N", "body error", "write error".
type clUpstream struct{ ended chan string }

func newCLUpstream() *clUpstream { return &clUpstream{ended: make(chan string, 16)} }

func (u *clUpstream) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-u.ended:
		return s
	case <-time.After(beHangGuard):
		t.Fatal("the upstream request never ended: the gateway still holds it")
		return ""
	}
}

// clFront is a gateway with the given client timeouts in front of h (an upstream server).
func clFront(t *testing.T, ct agw.ClientTimeouts, cfg agw.HTTPBackendConfig) *httptest.Server {
	t.Helper()
	gw := agw.New(agw.WithAccessLog(false), agw.WithClientTimeouts(ct))
	require.NoError(t, gw.Route("r").PathPrefix("/").To(beBackend(t, cfg)))
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return front
}

func clDial(t *testing.T, front *httptest.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(beHangGuard)))
	return conn, bufio.NewReader(conn)
}

// A client that trickles a body of declared length (1 byte every 50ms of a 10,000-byte body: it would
// take 8 minutes) is answered 408 long before it finishes, and the upstream request is released.
func TestSlowRequestBodyIsCut(t *testing.T) {
	for _, path := range beClientPaths {
		t.Run(path.name, func(t *testing.T) {
			up := newCLUpstream()
			srv := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				if err != nil {
					up.ended <- "body error"
					return
				}
				up.ended <- fmt.Sprintf("body ok %d", n)
			}))
			front := clFront(t, agw.ClientTimeouts{BodyTimeout: 300 * time.Millisecond, BodyMinRate: 1000},
				agw.HTTPBackendConfig{Endpoints: []string{srv.URL}, StdlibHTTP1: path.stdlib})
			conn, br := clDial(t, front)
			_, err := io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n")
			require.NoError(t, err)
			answered := make(chan *http.Response, 1)
			go func() {
				resp, err := http.ReadResponse(br, nil)
				if err == nil {
					answered <- resp
				}
				close(answered)
			}()
			var resp *http.Response
		trickle:
			for i := 0; i < 10000; i++ {
				select {
				case resp = <-answered:
					break trickle
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{'x'}); err != nil {
					resp = <-answered
					break
				}
			}
			require.NotNil(t, resp, "the gateway waited for the whole trickled body")
			assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
			assert.Equal(t, "body error", up.next(t), "the upstream request must be released")
		})
	}
}

// A body that arrives at a reasonable rate is never cut, however long the upload takes in total, and
// an upstream that takes longer than the body bound to answer (after reading the body) is not cut
// either: the bound covers only the time spent waiting for the client.
func TestBodyBoundsDoNotCutHonestRequests(t *testing.T) {
	ct := agw.ClientTimeouts{BodyTimeout: 200 * time.Millisecond, BodyMinRate: 1000, StreamIdleTimeout: time.Second}
	srv := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(500 * time.Millisecond) // a slow upstream: longer than every client bound
		_, _ = fmt.Fprintf(w, "got %d", n)
	}))
	front := clFront(t, ct, agw.HTTPBackendConfig{Endpoints: []string{srv.URL}})

	// 1 MiB at full speed, declared length.
	resp, err := http.Post(front.URL+"/a", "application/octet-stream", strings.NewReader(strings.Repeat("x", 1<<20)))
	require.NoError(t, err)
	assert.Equal(t, "got 1048576", beBody(t, resp))
	resp.Body.Close()

	// A chunked body in pieces with pauses well under the stream idle bound: 30 pieces of 1 KiB at
	// 100 ms (3 s in all, three times the bound), which is slower than the min rate allows a body of
	// declared length to be, but streamed bodies are bounded by their idleness only.
	pr, pw := io.Pipe()
	go func() {
		for range 30 {
			time.Sleep(100 * time.Millisecond)
			if _, err := pw.Write(make([]byte, 1024)); err != nil {
				return
			}
		}
		_ = pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, front.URL+"/b", pr)
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	assert.Equal(t, "got 30720", beBody(t, resp))
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
}

// A streamed (chunked) body that stops arriving is cut after the stream idle bound.
func TestStalledStreamedBodyIsCut(t *testing.T) {
	up := newCLUpstream()
	srv := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			up.ended <- "body error"
			return
		}
		up.ended <- "body ok"
	}))
	front := clFront(t, agw.ClientTimeouts{StreamIdleTimeout: 300 * time.Millisecond}, agw.HTTPBackendConfig{Endpoints: []string{srv.URL}})
	conn, br := clDial(t, front)
	_, err := io.WriteString(conn, "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil) // the client sends nothing more
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.Equal(t, "body error", up.next(t))
}

// A client that stops reading a large response is cut after the write idle bound, which releases the
// upstream (its writes fail once the gateway closes the upstream connection).
func TestClientThatStopsReadingReleasesUpstream(t *testing.T) {
	for _, path := range beClientPaths {
		t.Run(path.name, func(t *testing.T) {
			up := newCLUpstream()
			srv := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				chunk := make([]byte, 64<<10)
				for range 4096 { // 256 MiB: far more than the socket buffers hold
					if _, err := w.Write(chunk); err != nil {
						up.ended <- "write error"
						return
					}
				}
				up.ended <- "wrote everything"
			}))
			front := clFront(t, agw.ClientTimeouts{WriteIdleTimeout: 300 * time.Millisecond},
				agw.HTTPBackendConfig{Endpoints: []string{srv.URL}, StdlibHTTP1: path.stdlib})
			conn, br := clDial(t, front)
			_, err := io.WriteString(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			// Read nothing more.
			assert.Equal(t, "write error", up.next(t))
		})
	}
}

// After a response whose writes were bounded, the client's keep-alive connection is still usable
// for a later request, even one that comes after the bound: no stale deadline survives a request.
func TestWriteBoundDoesNotOutliveItsRequest(t *testing.T) {
	srv := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("y", 256<<10)))
	}))
	front := clFront(t, agw.ClientTimeouts{WriteIdleTimeout: time.Second, BodyTimeout: time.Second},
		agw.HTTPBackendConfig{Endpoints: []string{srv.URL}})
	conn, br := clDial(t, front)
	for i := range 2 {
		_, err := io.WriteString(conn, "POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "request %d", i+1)
		n, err := io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		assert.Equal(t, int64(256<<10), n)
		time.Sleep(1300 * time.Millisecond) // longer than both bounds
	}
}

// An upstream that sends its header and part of the body and then stalls has the response cut after
// the body idle bound: the client sees a truncated body instead of waiting forever.
func TestStalledUpstreamBodyIsCut(t *testing.T) {
	for _, path := range beClientPaths {
		t.Run(path.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				_, _ = w.Write([]byte("partial"))
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}))
			t.Cleanup(func() { close(release) })
			front := clFront(t, agw.ClientTimeouts{}, agw.HTTPBackendConfig{Endpoints: []string{srv.URL},
				StdlibHTTP1: path.stdlib, BodyIdleTimeout: 300 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), beHangGuard)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/slow", nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				// The header may have gone out before the cut (it is buffered with the first bytes).
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			require.Error(t, err, "a cut body must not look complete")
			assert.NoError(t, ctx.Err(), "the gateway, not the test's guard, cut the response")
		})
	}
}
