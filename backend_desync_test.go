package agentgateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agw "github.com/agentgw/agentgateway"
)

// beHostileUpstream answers each request with its X-Id as the body. On /same it appends an unsolicited
// second response to the same write; on /late it writes one separately after the answer and then
// reports on wrote. It stops at cleanup.
func beHostileUpstream(t *testing.T, wrote chan<- struct{}) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	const evil = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					id := req.Header.Get("X-Id")
					resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(id), id)
					switch req.URL.Path {
					case "/same":
						_, err = io.WriteString(c, resp+evil)
					case "/late":
						if _, err = io.WriteString(c, resp); err == nil {
							_, err = io.WriteString(c, evil)
						}
						wrote <- struct{}{}
					default:
						_, err = io.WriteString(c, resp)
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// A hostile upstream that sends a response nobody asked for must not desync the pool: a pooled
// connection with unsolicited bytes is discarded (they are seen after the response, or by the
// liveness check when the connection is taken from the pool), so no clean request ever gets another
// request's response.
//
// Only the built-in HTTP/1.1 client (the default for plain-HTTP endpoints) guarantees it: net/http's
// Transport notices unsolicited bytes on an idle connection only when its read loop gets to them,
// which races with handing that connection to the next request (it failed about one run in ten here).
func TestHTTPBackendUnsolicitedResponseNeverReachesAnotherRequest(t *testing.T) {
	for _, p := range beClientPaths {
		if p.stdlib {
			continue
		}
		t.Run(p.name, func(t *testing.T) {
			wrote := make(chan struct{}, 1)
			be := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{beHostileUpstream(t, wrote)}, StdlibHTTP1: p.stdlib})
			front := newBeFront(t, be)
			paths := []string{"/clean", "/same", "/clean", "/late", "/clean", "/clean", "/late", "/same", "/same", "/clean"}
			for i := range 5 * len(paths) {
				path := paths[i%len(paths)]
				id := fmt.Sprintf("req-%d", i)
				req, err := http.NewRequest(http.MethodGet, front.URL+path, nil)
				require.NoError(t, err)
				req.Header.Set("X-Id", id)
				resp, body := front.do(t, req)
				<-front.states
				require.Equal(t, http.StatusOK, resp.StatusCode, "request %d %s", i, path)
				assert.Equal(t, id, body, "request %d %s got another response", i, path)
				if path == "/late" {
					beWait(t, wrote, "the unsolicited response")
				}
			}
		})
	}
}
