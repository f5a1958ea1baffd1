package agentgateway_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agw "github.com/agentgw/agentgateway"
)

// The HTTP backend's two client paths: the built-in HTTP/1.1 client and net/http's Transport.
var beClientPaths = []struct {
	name   string
	stdlib bool
}{{"built-in client", false}, {"net/http transport", true}}

// beRecorder collects what an upstream saw, from any goroutine.
type beRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *beRecorder) add(s string) {
	r.mu.Lock()
	r.seen = append(r.seen, s)
	r.mu.Unlock()
}

func (r *beRecorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.seen, "\n")
}

// beH2CUpstream answers a request that asks for an h2c upgrade with 101 — or every request, when
// always — and then records every line the client sends through the tunnel. Other requests get
// "plain" and are recorded by path with their Connection, Upgrade and HTTP2-Settings fields.
func beH2CUpstream(t *testing.T, rec *beRecorder, always bool) *httptest.Server {
	return beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add("request " + r.URL.Path + " connection=" + r.Header.Get("Connection") + " upgrade=" +
			r.Header.Get("Upgrade") + " settings=" + r.Header.Get("Http2-Settings"))
		if !always && !strings.EqualFold(r.Header.Get("Upgrade"), "h2c") {
			_, _ = io.WriteString(w, "plain")
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
		_ = brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if line != "" {
				rec.add("tunnel " + strings.TrimSpace(line))
			}
			if err != nil {
				return
			}
		}
	}))
}

// beAllowedOnly is a Gateway whose one route sends /allowed to backend; everything else is 404.
func beAllowedOnly(t *testing.T, backend http.Handler) *httptest.Server {
	gw := agw.New(agw.WithAccessLog(false))
	require.NoError(t, gw.Route("allowed").PathPrefix("/allowed").To(backend))
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return front
}

// beRawExchange sends raw on a new connection to front and reads n responses (bodies included).
func beRawExchange(t *testing.T, front *httptest.Server, raw string, n int) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(beHangGuard)))
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "response %d", len(out)+1)
		if resp.StatusCode != http.StatusSwitchingProtocols {
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		out = append(out, resp)
		if resp.StatusCode == http.StatusSwitchingProtocols {
			break // the connection is a tunnel now: nothing more to read as HTTP
		}
	}
	return out
}

func beBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// The h2c request smuggling attack: a request the routes allow asks for an h2c upgrade; were it
// tunnelled, the requests that follow on the client's connection would reach the upstream unrouted.
func TestHTTPBackendH2CUpgradeCannotSmuggleRequests(t *testing.T) {
	const attack = "GET /allowed HTTP/1.1\r\nHost: front\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" +
		"GET /admin HTTP/1.1\r\nHost: front\r\n\r\n"
	for _, path := range beClientPaths {
		t.Run(path.name, func(t *testing.T) {
			rec := &beRecorder{}
			up := beH2CUpstream(t, rec, false)
			front := beAllowedOnly(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, StdlibHTTP1: path.stdlib}))

			resps := beRawExchange(t, front, attack, 2)
			require.Len(t, resps, 2, "the upgrade was tunnelled: %s", rec.all())
			assert.Equal(t, http.StatusOK, resps[0].StatusCode, "forwarded as a plain request")
			assert.Equal(t, "plain", beBody(t, resps[0]))
			assert.Equal(t, http.StatusNotFound, resps[1].StatusCode, "/admin is routed, and no route takes it")
			assert.Equal(t, "request /allowed connection= upgrade= settings=", rec.all(),
				"the upstream sees /allowed without the upgrade, and never /admin")
		})
	}
}

// An upstream that switches protocols on a request that was not forwarded as an upgrade gets no
// tunnel: 502, and the client's next request is routed as usual.
func TestHTTPBackendUnrequested101IsBadGateway(t *testing.T) {
	requests := map[string]string{
		"h2c asked for": "GET /allowed HTTP/1.1\r\nHost: front\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
		"no upgrade":    "GET /allowed HTTP/1.1\r\nHost: front\r\n\r\n",
	}
	for _, path := range beClientPaths {
		for name, first := range requests {
			t.Run(path.name+"/"+name, func(t *testing.T) {
				rec := &beRecorder{}
				up := beH2CUpstream(t, rec, true)
				front := beAllowedOnly(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, StdlibHTTP1: path.stdlib}))

				resps := beRawExchange(t, front, first+"GET /admin HTTP/1.1\r\nHost: front\r\n\r\n", 2)
				require.Len(t, resps, 2)
				assert.Equal(t, http.StatusBadGateway, resps[0].StatusCode)
				assert.Equal(t, http.StatusNotFound, resps[1].StatusCode)
				assert.NotContains(t, rec.all(), "admin")
			})
		}
	}
}

func TestHTTPBackendUpgradeAllowList(t *testing.T) {
	up := beUpstream(t, beEcho()) // answers upgrade requests like any other: what it saw
	tests := []struct {
		name     string
		allowed  []string
		upgrade  string
		want     string // the Upgrade the upstream sees; "" for a plain request
		wantConn string
	}{
		{"websocket by default", nil, "websocket", "websocket", "Upgrade"},
		{"any case", nil, "WebSocket", "WebSocket", "Upgrade"},
		{"a version of an allowed protocol", nil, "websocket/13", "websocket/13", "Upgrade"},
		{"h2c is stripped", nil, "h2c", "", ""},
		{"not listed", nil, "echo", "", ""},
		{"only the allowed tokens", nil, "h2c, echo,  websocket", "websocket", "Upgrade"},
		{"configured protocol", []string{"Echo"}, "echo", "echo", "Upgrade"},
		{"configured list replaces the default", []string{"echo"}, "websocket", "", ""},
		{"empty list: no upgrades", []string{}, "websocket", "", ""},
		{"configured version only", []string{"foo/2"}, "foo/1, foo/2", "foo/2", "Upgrade"},
	}
	for _, tt := range tests {
		for _, path := range beClientPaths {
			t.Run(tt.name+"/"+path.name, func(t *testing.T) {
				f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, Upgrades: tt.allowed,
					StdlibHTTP1: path.stdlib}))
				req, err := http.NewRequest(http.MethodGet, f.URL+"/ws", nil)
				require.NoError(t, err)
				req.Header.Set("Connection", "keep-alive, Upgrade")
				req.Header.Set("Upgrade", tt.upgrade)
				resp, body := f.do(t, req)
				require.Equal(t, http.StatusOK, resp.StatusCode, body)
				got := beDecode(t, body)
				assert.Equal(t, tt.want, got.Header.Get("Upgrade"))
				assert.Equal(t, tt.wantConn, got.Header.Get("Connection"))
			})
		}
	}
}

func TestHTTPBackendRejectsInvalidUpgrades(t *testing.T) {
	for _, list := range [][]string{{"h2c"}, {"websocket", "H2C/1"}} {
		_, err := agw.NewHTTPBackend(agw.HTTPBackendConfig{Endpoints: []string{"127.0.0.1:9"}, Upgrades: list})
		assert.ErrorIs(t, err, agw.ErrH2CUpgrade, "%q", list)
	}
	for _, list := range [][]string{{""}, {"web socket"}, {"websocket/"}, {"a/b/c"}} {
		_, err := agw.NewHTTPBackend(agw.HTTPBackendConfig{Endpoints: []string{"127.0.0.1:9"}, Upgrades: list})
		assert.ErrorContains(t, err, "is not a protocol token", "%q", list)
	}
}

// beRawResponder answers every request with raw, written on the hijacked connection, which it then
// closes.
func beRawResponder(raw string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(brw, raw)
		_ = brw.Flush()
	})
}

// beClientPathsTLS adds the Transport path over TLS, where the backend does the handshake itself so
// that it can read the responses' Connection fields.
var beClientPathsTLS = []struct {
	name        string
	stdlib, tls bool
}{{"built-in client", false, false}, {"net/http transport", true, false}, {"net/http transport over tls", false, true}}

func beRawUpstream(t *testing.T, h http.Handler, tlsOn bool) agw.HTTPBackendConfig {
	if !tlsOn {
		return agw.HTTPBackendConfig{Endpoints: []string{beUpstream(t, h).URL}}
	}
	up := httptest.NewTLSServer(h)
	t.Cleanup(up.Close)
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	return agw.HTTPBackendConfig{Endpoints: []string{up.URL}, TLS: &tls.Config{RootCAs: pool, ServerName: "example.com"}}
}

// RFC 9110 7.6.1: the fields a Connection field nominates are hop-by-hop, whatever else it lists.
// net/http drops the whole field of a message that lists "close", so nothing else remembers them.
func TestHTTPBackendStripsConnectionNominatedFields(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		for _, path := range beClientPaths {
			for _, conn := range []string{"close, X-Secret", "X-Secret, keep-alive", "keep-alive, x-secret, close"} {
				t.Run(path.name+"/"+conn, func(t *testing.T) {
					up := beUpstream(t, beEcho())
					front := beAllowedOnly(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, StdlibHTTP1: path.stdlib}))
					resps := beRawExchange(t, front, "GET /allowed HTTP/1.1\r\nHost: front\r\nConnection: "+conn+
						"\r\nX-Secret: s\r\nX-Kept: k\r\n\r\n", 1)
					require.Equal(t, http.StatusOK, resps[0].StatusCode)
					got := beDecode(t, beBody(t, resps[0]))
					assert.Empty(t, got.Header.Values("X-Secret"))
					assert.Equal(t, "k", got.Header.Get("X-Kept"))
				})
			}
		}
	})
	responses := map[string]string{
		"content-length": "HTTP/1.1 200 OK\r\nConnection: close, X-Up-Secret\r\nX-Up-Secret: s\r\nX-Kept: k\r\n" +
			"Content-Length: 2\r\n\r\nok",
		"chunked": "HTTP/1.1 200 OK\r\nX-Up-Secret: s\r\nconnection: X-Up-Secret\r\nConnection: close\r\nX-Kept: k\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"after an informational response": "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nConnection: X-Up-Secret,close\r\nX-Up-Secret: s\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\nok",
		"close-delimited": "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close, X-Up-Secret\r\nKeep-Alive: timeout=5\r\n" +
			"X-Up-Secret: s\r\nX-Kept: k\r\n\r\nok",
		"keep-alive": "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Up-Secret\r\nX-Up-Secret: s\r\nX-Kept: k\r\n" +
			"Content-Length: 2\r\n\r\nok",
	}
	for _, path := range beClientPathsTLS {
		for name, raw := range responses {
			t.Run("response/"+path.name+"/"+name, func(t *testing.T) {
				cfg := beRawUpstream(t, beRawResponder(raw), path.tls)
				cfg.StdlibHTTP1 = path.stdlib
				f := newBeFront(t, beBackend(t, cfg))
				resp, body := f.get(t, "/")
				require.Equal(t, http.StatusOK, resp.StatusCode, body)
				assert.Equal(t, "ok", body)
				assert.Empty(t, resp.Header.Values("X-Up-Secret"))
				assert.Empty(t, resp.Header.Values("Keep-Alive"))
				assert.Equal(t, "k", resp.Header.Get("X-Kept"))
			})
		}
	}
}

// An upstream status below 100 (which net/http reads, but cannot write) is a bad gateway, not a panic.
func TestHTTPBackendInvalidStatus(t *testing.T) {
	for _, path := range beClientPaths {
		t.Run(path.name, func(t *testing.T) {
			up := beUpstream(t, beRawResponder("HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok"))
			f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, StdlibHTTP1: path.stdlib}))
			resp, body := f.get(t, "/")
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode, body)
			assert.ErrorContains(t, f.state(t).Err, "invalid upstream status: 99")
		})
	}
}

// A response without Content-Type reaches the client without one: net/http must not sniff one from
// the body (an HTML page from an API would then be rendered, X-Content-Type-Options or not).
func TestHTTPBackendDoesNotSniffContentType(t *testing.T) {
	const page = "<!DOCTYPE html><html><script>alert(1)</script></html>"
	up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // the upstream's server must not sniff either
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = io.WriteString(w, page)
	}))
	for _, path := range beClientPaths {
		for _, h2 := range []bool{false, true} {
			t.Run(path.name+map[bool]string{false: "", true: "/h2c client"}[h2], func(t *testing.T) {
				f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, StdlibHTTP1: path.stdlib}))
				client := f.Client()
				if h2 {
					client = f.h2cClient(t)
				}
				resp, err := client.Get(f.URL + "/page")
				require.NoError(t, err)
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				assert.Equal(t, page, string(body))
				_, typed := resp.Header["Content-Type"]
				assert.False(t, typed, "Content-Type: %q", resp.Header.Get("Content-Type"))
				assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			})
		}
	}
}
