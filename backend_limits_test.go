package agentgateway_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agw "github.com/agentgw/agentgateway"
)

// beHeaderUpstream answers /big with a header of n fields of size bytes each, and counts connections
// by the RemoteAddr of the requests it sees.
func beHeaderUpstream(t *testing.T, n, size int, conns *atomic.Int32) string {
	seen := map[string]bool{}
	var mu = make(chan struct{}, 1)
	return beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu <- struct{}{}
		if !seen[r.RemoteAddr] {
			seen[r.RemoteAddr] = true
			conns.Add(1)
		}
		<-mu
		if r.URL.Path == "/big" {
			for i := range n {
				w.Header().Set(fmt.Sprintf("X-F%d", i), strings.Repeat("v", size))
			}
		}
		_, _ = w.Write([]byte("ok"))
	})).URL
}

// An upstream response header over the limits is answered 502 on both client paths, and the
// connection it came on is not reused.
func TestHTTPBackendResponseHeaderLimits(t *testing.T) {
	cases := []struct {
		name         string
		fields, size int
		cfg          agw.HTTPBackendConfig
	}{
		{"default size (64 KiB)", 3, 30 << 10, agw.HTTPBackendConfig{}},
		{"default count (100)", 101, 1, agw.HTTPBackendConfig{}},
		{"configured size", 4, 1 << 10, agw.HTTPBackendConfig{MaxResponseHeaderBytes: 2 << 10}},
		{"configured count", 11, 1, agw.HTTPBackendConfig{MaxResponseHeaders: 10}},
	}
	for _, p := range beClientPaths {
		for _, c := range cases {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				var conns atomic.Int32
				cfg := c.cfg
				cfg.Endpoints = []string{beHeaderUpstream(t, c.fields, c.size, &conns)}
				cfg.StdlibHTTP1 = p.stdlib
				front := newBeFront(t, beBackend(t, cfg))
				resp, _ := front.get(t, "/small")
				require.Equal(t, http.StatusOK, resp.StatusCode)
				resp, body := front.get(t, "/big")
				assert.Equal(t, http.StatusBadGateway, resp.StatusCode, body)
				resp, _ = front.get(t, "/small")
				require.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, int32(2), conns.Load(), "the connection of the oversized response is discarded")
			})
		}
	}
	// Raised limits let the same headers through.
	var conns atomic.Int32
	be := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{beHeaderUpstream(t, 101, 1, &conns)}, MaxResponseHeaders: -1})
	resp, _ := newBeFront(t, be).get(t, "/big")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// A client body that cannot be read (a malformed chunk size) is the client's fault: 400, not 502,
// on both client paths. The built-in client, which had sent nothing yet, keeps its upstream
// connection; a body that breaks off after part of it was sent costs the connection, still with 400.
func TestHTTPBackendMalformedClientBody(t *testing.T) {
	cases := []struct{ name, body string }{
		{"bad first chunk size", "zz\r\nabc\r\n0\r\n\r\n"},
		{"bad later chunk size", "3\r\nabc\r\nzz\r\n0\r\n\r\n"},
	}
	for _, p := range beClientPaths {
		for _, c := range cases {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				var conns, complete atomic.Int32
				seen := map[string]bool{}
				mu := make(chan struct{}, 1)
				up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu <- struct{}{}
					if !seen[r.RemoteAddr] {
						seen[r.RemoteAddr] = true
						conns.Add(1)
					}
					<-mu
					if _, err := io.ReadAll(r.Body); err == nil {
						complete.Add(1)
					}
					_, _ = io.WriteString(w, "ok")
				}))
				front := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, StdlibHTTP1: p.stdlib}))
				resp, _ := front.get(t, "/before")
				require.Equal(t, http.StatusOK, resp.StatusCode)
				<-front.states
				out := beRawExchange(t, front.Server, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+c.body, 1)
				assert.Equal(t, http.StatusBadRequest, out[0].StatusCode, beBody(t, out[0]))
				st := front.state(t)
				require.ErrorIs(t, st.Err, agw.ErrMalformedRequestBody)
				resp, _ = front.get(t, "/after")
				require.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, int32(2), complete.Load(), "only the clean requests reached the upstream whole")
				if !p.stdlib && c.name == "bad first chunk size" {
					assert.Equal(t, int32(1), conns.Load(), "the clean upstream connection is kept")
				}
			})
		}
	}
}
