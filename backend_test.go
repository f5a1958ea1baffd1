package agentgateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agw "github.com/agentgw/agentgateway"
)

// beHangGuard bounds every blocking wait in these tests; it is never an expected duration.
const beHangGuard = 10 * time.Second

func beUpstream(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func beBackend(t *testing.T, cfg agw.HTTPBackendConfig) *agw.HTTPBackend {
	t.Helper()
	b, err := agw.NewHTTPBackend(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// beFront serves backend through a Gateway with one route, and reports the State of every finished
// request on the returned channel.
type beFront struct {
	*httptest.Server
	states chan agw.State
}

func newBeFront(t *testing.T, backend http.Handler, policies ...agw.Policy) *beFront {
	t.Helper()
	f := &beFront{states: make(chan agw.State, 100)}
	capture := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() { // deferred: an aborted response unwinds through here
				if st := agw.StateFrom(r.Context()); st != nil {
					f.states <- *st
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
	gw := agw.New(agw.WithAccessLog(false))
	require.NoError(t, gw.Route("test").Use(append([]agw.Policy{agw.NewPolicy(0, capture)}, policies...)...).To(backend))
	f.Server = httptest.NewUnstartedServer(gw)
	f.Config.Protocols = new(http.Protocols) // HTTP/1.1 and h2c clients alike
	f.Config.Protocols.SetHTTP1(true)
	f.Config.Protocols.SetUnencryptedHTTP2(true)
	f.Start()
	t.Cleanup(f.Close)
	return f
}

// h2cClient speaks cleartext HTTP/2 to f.
func (f *beFront) h2cClient(t *testing.T) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (f *beFront) state(t *testing.T) agw.State {
	t.Helper()
	select {
	case st := <-f.states:
		return st
	case <-time.After(beHangGuard):
		t.Fatal("no request state")
		return agw.State{}
	}
}

func (f *beFront) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := f.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func (f *beFront) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.URL+path, nil)
	require.NoError(t, err)
	return f.do(t, req)
}

// beSeen is what the echo upstream saw.
type beSeen struct {
	Method, Path, RawPath, Query, Host, Body, Proto string
	Header                                          http.Header
	Trailer                                         http.Header
	ContentLength                                   int64
}

func beEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(beSeen{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, Query: r.URL.RawQuery, Host: r.Host,
			Body: string(body), Proto: r.Proto, Header: r.Header, Trailer: r.Trailer, ContentLength: r.ContentLength,
		})
	})
}

func beDecode(t *testing.T, body string) beSeen {
	t.Helper()
	var e beSeen
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	return e
}

func TestHTTPBackendForwardsRequest(t *testing.T) {
	up := beUpstream(t, beEcho())
	tests := []struct {
		name     string
		endpoint string
		method   string
		target   string
		body     io.Reader
		want     beSeen
	}{
		{name: "path and query", endpoint: up.URL, method: "GET", target: "/a/b?x=1&y=2",
			want: beSeen{Method: "GET", Path: "/a/b", Query: "x=1&y=2"}},
		{name: "bare host:port", endpoint: strings.TrimPrefix(up.URL, "http://"), method: "GET", target: "/",
			want: beSeen{Method: "GET", Path: "/"}},
		{name: "base path", endpoint: up.URL + "/base/", method: "GET", target: "/a/b?q",
			want: beSeen{Method: "GET", Path: "/base/a/b", Query: "q"}},
		{name: "base path and root", endpoint: up.URL + "/base", method: "GET", target: "/",
			want: beSeen{Method: "GET", Path: "/base/"}},
		{name: "escaped path kept", endpoint: up.URL + "/base", method: "GET", target: "/a%2Fb/c",
			want: beSeen{Method: "GET", Path: "/base/a/b/c", RawPath: "/base/a%2Fb/c"}},
		{name: "body with length", endpoint: up.URL, method: "POST", target: "/p", body: strings.NewReader("hello"),
			want: beSeen{Method: "POST", Path: "/p", Body: "hello", ContentLength: 5}},
		{name: "chunked body", endpoint: up.URL, method: "PUT", target: "/p", body: io.MultiReader(strings.NewReader("stre"), strings.NewReader("am")),
			want: beSeen{Method: "PUT", Path: "/p", Body: "stream", ContentLength: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{tt.endpoint}}))
			req, err := http.NewRequest(tt.method, f.URL+tt.target, tt.body)
			require.NoError(t, err)
			resp, body := f.do(t, req)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			got := beDecode(t, body)
			assert.Equal(t, tt.want.Method, got.Method)
			assert.Equal(t, tt.want.Path, got.Path)
			assert.Equal(t, tt.want.RawPath, got.RawPath)
			assert.Equal(t, tt.want.Query, got.Query)
			assert.Equal(t, tt.want.Body, got.Body)
			assert.Equal(t, tt.want.ContentLength, got.ContentLength)
			assert.Equal(t, "HTTP/1.1", got.Proto)
			st := f.state(t)
			assert.NoError(t, st.Err)
			assert.Equal(t, http.StatusOK, st.Status)
			assert.Equal(t, tt.endpoint, st.Backend, "backend named after its first endpoint")
		})
	}
}

func TestHTTPBackendRequestHeaders(t *testing.T) {
	up := beUpstream(t, beEcho())
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}}))
	req, err := http.NewRequest(http.MethodGet, f.URL+"/h", nil)
	require.NoError(t, err)
	req.Host = "public.example.test"
	req.Header.Set("Connection", "X-Hop, keep-alive")
	req.Header.Set("X-Hop", "drop me")
	req.Header.Set("Keep-Alive", "300")
	req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
	req.Header.Set("Te", "trailers")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Proto", "https") // the peer is not trusted: overwritten
	req.Header.Add("X-Multi", "1")
	req.Header.Add("X-Multi", "2")
	resp, body := f.do(t, req)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	got := beDecode(t, body)

	assert.Equal(t, "public.example.test", got.Host, "inbound Host passes through")
	h := got.Header
	for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Upgrade"} {
		assert.Empty(t, h.Values(k), k)
	}
	assert.Equal(t, "trailers", h.Get("Te"))
	assert.Equal(t, []string{"203.0.113.7, 127.0.0.1"}, h.Values("X-Forwarded-For"))
	assert.Equal(t, "http", h.Get("X-Forwarded-Proto"))
	assert.Equal(t, "public.example.test", h.Get("X-Forwarded-Host"))
	assert.Equal(t, []string{"1", "2"}, h.Values("X-Multi"))
	assert.Equal(t, "Go-http-client/1.1", h.Get("User-Agent"))
	assert.Equal(t, "gzip", h.Get("Accept-Encoding"), "the client's")
}

func TestHTTPBackendTrustedProxyKeepsForwardedHeaders(t *testing.T) {
	up := beUpstream(t, beEcho())
	b := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}})
	gw := agw.New(agw.WithAccessLog(false), agw.WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8")))
	require.NoError(t, gw.Route("r").To(b))
	front := httptest.NewServer(gw)
	defer front.Close()
	for _, xff := range []string{"203.0.113.7", ""} {
		req, err := http.NewRequest(http.MethodGet, front.URL+"/", nil)
		require.NoError(t, err)
		req.Host = "internal.test"
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "public.example")
		resp, err := front.Client().Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		got := beDecode(t, string(raw))
		assert.Equal(t, "https", got.Header.Get("X-Forwarded-Proto"), "set by the trusted load balancer in front")
		assert.Equal(t, "public.example", got.Header.Get("X-Forwarded-Host"))
		assert.Equal(t, strings.TrimPrefix(xff+", 127.0.0.1", ", "), got.Header.Get("X-Forwarded-For"))
		assert.Equal(t, "internal.test", got.Host)
	}
}

func TestHTTPBackendDoesNotMutateInbound(t *testing.T) {
	up := beUpstream(t, beEcho())
	b := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL + "/base"}})
	req := httptest.NewRequest(http.MethodGet, "http://front.test/x?y=1", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	before := req.Header.Clone()
	url := *req.URL

	for range 2 { // a retry or mirror policy may serve the same request twice
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, req) // no Gateway: no State
		require.Equal(t, http.StatusOK, rec.Code)
		got := beDecode(t, rec.Body.String())
		assert.Equal(t, "198.51.100.1, 192.0.2.1", got.Header.Get("X-Forwarded-For"))
		assert.Equal(t, "front.test", got.Host)
		assert.Equal(t, "/base/x", got.Path)
		assert.Empty(t, got.Header.Values("User-Agent"), "no User-Agent of the proxy's own")
		assert.Empty(t, got.Header.Values("Accept-Encoding"), "no encoding asked for by the proxy")
	}
	assert.Equal(t, before, req.Header)
	assert.Equal(t, url, *req.URL)
	assert.Equal(t, "front.test", req.Host)
}

type beRoundTrip func(*http.Request) (*http.Response, error)

func (f beRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestHTTPBackendResponseHeaders(t *testing.T) {
	rt := beRoundTrip(func(r *http.Request) (*http.Response, error) {
		h := http.Header{
			"Connection":         {"X-Up-Hop"},
			"X-Up-Hop":           {"1"},
			"Keep-Alive":         {"timeout=5"},
			"Proxy-Authenticate": {"Basic"},
			"Transfer-Encoding":  {"chunked"},
			"X-Resp":             {"a", "b"},
			"Vary":               {"Accept"},
		}
		return &http.Response{StatusCode: http.StatusTeapot, Header: h, Body: io.NopCloser(strings.NewReader("tea")),
			ContentLength: 3, Request: r}, nil
	})
	b := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{"127.0.0.1:9"}, Transport: rt})
	rec := httptest.NewRecorder()
	rec.Header().Set("Vary", "Origin") // set by a policy in front (CORS) before the backend runs
	b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusTeapot, rec.Code)
	assert.Equal(t, "tea", rec.Body.String())
	h := rec.Header()
	assert.Equal(t, []string{"a", "b"}, h.Values("X-Resp"))
	assert.Equal(t, []string{"Origin", "Accept"}, h.Values("Vary"))
	for _, k := range []string{"Connection", "X-Up-Hop", "Keep-Alive", "Proxy-Authenticate", "Transfer-Encoding"} {
		assert.Empty(t, h.Values(k), k)
	}
}

func TestHTTPBackendTrailers(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2c"}[h2], func(t *testing.T) {
			up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				w.Header().Set("Trailer", "X-Checksum")
				_, _ = w.Write(body)
				w.Header().Set("X-Checksum", "sum:"+r.Trailer.Get("X-Req-Trailer")+":"+r.Proto)
			}))
			up.Config.Protocols = new(http.Protocols)
			up.Config.Protocols.SetHTTP1(true)
			up.Config.Protocols.SetUnencryptedHTTP2(true)
			up.Start()
			t.Cleanup(up.Close)
			f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, HTTP2: h2}))
			req, err := http.NewRequest(http.MethodPost, f.URL+"/t", nil)
			require.NoError(t, err)
			req.Trailer = http.Header{"X-Req-Trailer": nil}
			req.Body = &beTrailerBody{Reader: strings.NewReader("payload"), set: func() { req.Trailer.Set("X-Req-Trailer", "42") }}
			resp, body := f.do(t, req)
			assert.Equal(t, "payload", body)
			proto := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
			assert.Equal(t, "sum:42:"+proto, resp.Trailer.Get("X-Checksum"))
		})
	}
}

// beTrailerBody fills in the request trailer once the body is read, as a streaming client would.
type beTrailerBody struct {
	io.Reader
	set func()
}

func (b *beTrailerBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		b.set()
	}
	return n, err
}

func (b *beTrailerBody) Close() error { return nil }

func TestHTTPBackendStreamsEventByEvent(t *testing.T) {
	tests := []struct {
		name, contentType string
		flushInterval     time.Duration
		h2Client          bool
	}{
		{"sse", "text/event-stream", 0, false},
		{"sse to an h2c client", "text/event-stream", 0, true},
		{"sse with charset and a long flush interval", "text/event-stream; charset=utf-8", time.Hour, false},
		{"unknown length", "application/x-ndjson", 0, false},
		{"flush every write", "application/json", -1, false},
		{"periodic flush", "application/x-ndjson", 5 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readFirst := make(chan struct{})
			upstreamDone := make(chan struct{})
			up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(upstreamDone)
				w.Header().Set("Content-Type", tt.contentType)
				_, _ = io.WriteString(w, "data: 1\n\n")
				w.(http.Flusher).Flush()
				select { // event 2 is written only once the client has read event 1
				case <-readFirst:
				case <-r.Context().Done():
					return
				}
				_, _ = io.WriteString(w, "data: 2\n\n")
			}))
			f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, FlushInterval: tt.flushInterval}))
			ctx, cancel := context.WithTimeout(context.Background(), beHangGuard)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL+"/events", nil)
			require.NoError(t, err)
			client := f.Client()
			if tt.h2Client {
				client = f.h2cClient(t)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, map[bool]int{false: 1, true: 2}[tt.h2Client], resp.ProtoMajor)
			assert.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
			br := bufio.NewReader(resp.Body)
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "data: 1\n", line)
			select {
			case <-upstreamDone:
				t.Fatal("upstream finished before the client read event 1")
			default:
			}
			close(readFirst)
			rest, err := io.ReadAll(br)
			require.NoError(t, err)
			assert.Equal(t, "\ndata: 2\n\n", string(rest))
		})
	}
}

func TestHTTPBackendUpgrade(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2c backend"}[h2], func(t *testing.T) {
			up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Upgrade") != "echo" {
					http.Error(w, "want upgrade", http.StatusBadRequest)
					return
				}
				conn, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade, X-Hop\r\nUpgrade: echo\r\n"+
					"X-Up: 1\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n")
				_ = brw.Flush()
				for { // echo lines until the client closes
					line, err := brw.ReadString('\n')
					if err != nil {
						return
					}
					_, _ = io.WriteString(brw, "echo "+line)
					_ = brw.Flush()
				}
			}))
			up.Config.Protocols = new(http.Protocols)
			up.Config.Protocols.SetHTTP1(true)
			up.Config.Protocols.SetUnencryptedHTTP2(true)
			up.Start()
			t.Cleanup(up.Close)
			f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, HTTP2: h2,
				Upgrades: []string{"websocket", "ECHO"}}))

			conn, err := net.Dial("tcp", f.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(beHangGuard)))
			// The first message travels with the request, before the 101 arrives.
			_, err = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: front\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nfirst\n")
			require.NoError(t, err)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			assert.Equal(t, "echo", resp.Header.Get("Upgrade"))
			assert.Equal(t, "1", resp.Header.Get("X-Up"))
			assert.Empty(t, resp.Header.Values("X-Hop"), "nominated by the upstream's Connection")
			assert.Empty(t, resp.Header.Values("Keep-Alive"))
			assert.Equal(t, "Upgrade", resp.Header.Get("Connection"))
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "echo first\n", line)
			_, err = io.WriteString(conn, "second\n")
			require.NoError(t, err)
			line, err = br.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "echo second\n", line)
			require.NoError(t, conn.Close())
			st := f.state(t) // the handler returns once the tunnel is closed
			assert.Equal(t, http.StatusSwitchingProtocols, st.Status)
		})
	}
}

func beProtoUpstream(t *testing.T, tlsOn, h2 bool) (*httptest.Server, *atomic.Int32) {
	var major atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		major.Store(int32(r.ProtoMajor))
		_, _ = io.WriteString(w, r.Proto)
	}))
	up.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed-verification test makes handshakes fail
	if tlsOn {
		up.EnableHTTP2 = h2
		up.StartTLS()
	} else {
		up.Config.Protocols = new(http.Protocols)
		up.Config.Protocols.SetHTTP1(true)
		up.Config.Protocols.SetUnencryptedHTTP2(h2)
		up.Start()
	}
	t.Cleanup(up.Close)
	return up, &major
}

func TestHTTPBackendProtocols(t *testing.T) {
	tests := []struct {
		name       string
		tls, http2 bool
		want       int32
	}{
		{"http/1.1", false, false, 1},
		{"h2c", false, true, 2},
		{"https http/1.1", true, false, 1},
		{"h2 over tls", true, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, major := beProtoUpstream(t, tt.tls, true)
			cfg := agw.HTTPBackendConfig{Endpoints: []string{up.URL}, HTTP2: tt.http2}
			if tt.tls {
				pool := x509.NewCertPool()
				pool.AddCert(up.Certificate())
				cfg.TLS = &tls.Config{RootCAs: pool, ServerName: "example.com"} // httptest's cert names example.com
			}
			f := newBeFront(t, beBackend(t, cfg))
			for range 3 {
				resp, body := f.get(t, "/proto")
				require.Equal(t, http.StatusOK, resp.StatusCode, body)
				assert.Equal(t, tt.want, major.Load())
			}
		})
	}
}

func TestHTTPBackendTLSVerifiesUpstream(t *testing.T) {
	up, _ := beProtoUpstream(t, true, false)
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}})) // system roots only
	resp, body := f.get(t, "/")
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, body)
	var certErr *tls.CertificateVerificationError
	assert.ErrorAs(t, f.state(t).Err, &certErr)
}

func TestHTTPBackendReusesConnections(t *testing.T) {
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 1000))
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}}))
	for range 20 {
		resp, body := f.get(t, "/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Len(t, body, 1000)
	}
	assert.EqualValues(t, 1, conns.Load(), "sequential requests share one pooled upstream connection")
}

func TestHTTPBackendClientDisconnectCancelsUpstream(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(beHangGuard):
		}
	}))
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}}))
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL+"/slow", nil)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		resp, err := f.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	beWait(t, started, "upstream request")
	cancel()
	beWait(t, cancelled, "upstream context cancellation")
	assert.ErrorIs(t, <-errc, context.Canceled)
	st := f.state(t)
	assert.ErrorIs(t, st.Err, context.Canceled)
	assert.Equal(t, 499, st.Status)
}

func beWait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(beHangGuard):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// beDeadAddr returns a loopback address nothing listens on.
func beDeadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// beBlocking answers only when released (at cleanup) or when the request is cancelled.
func beBlocking(t *testing.T) *httptest.Server {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); up.Close() })
	return up
}

func beTimeout(d time.Duration) agw.Policy {
	return agw.NewPolicy(agw.PhaseTimeout, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	})
}

func TestHTTPBackendErrors(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(t *testing.T) agw.HTTPBackendConfig
		policies []agw.Policy
		requests int // the last one is checked
		status   int
		msg      string
		errIs    error
	}{
		{
			name: "connection refused",
			cfg: func(t *testing.T) agw.HTTPBackendConfig {
				return agw.HTTPBackendConfig{Endpoints: []string{beDeadAddr(t)}}
			},
			requests: 1, status: http.StatusBadGateway, msg: "upstream connect error",
		},
		{
			name: "response header timeout",
			cfg: func(t *testing.T) agw.HTTPBackendConfig {
				return agw.HTTPBackendConfig{Endpoints: []string{beBlocking(t).URL}, ResponseHeaderTimeout: 20 * time.Millisecond}
			},
			requests: 1, status: http.StatusGatewayTimeout, msg: "upstream response timeout",
		},
		{
			name: "request deadline",
			cfg: func(t *testing.T) agw.HTTPBackendConfig {
				return agw.HTTPBackendConfig{Endpoints: []string{beBlocking(t).URL}}
			},
			policies: []agw.Policy{beTimeout(20 * time.Millisecond)},
			requests: 1, status: http.StatusGatewayTimeout, msg: "upstream request timeout", errIs: context.DeadlineExceeded,
		},
		{
			name: "single endpoint ejected",
			cfg: func(t *testing.T) agw.HTTPBackendConfig {
				return agw.HTTPBackendConfig{Endpoints: []string{beDeadAddr(t)}, EjectAfter: 1}
			},
			requests: 2, status: http.StatusServiceUnavailable, msg: "no healthy upstream",
		},
		{
			name: "every endpoint ejected",
			cfg: func(t *testing.T) agw.HTTPBackendConfig {
				return agw.HTTPBackendConfig{Endpoints: []string{beDeadAddr(t), beDeadAddr(t)}, EjectAfter: 1}
			},
			requests: 2, status: http.StatusServiceUnavailable, msg: "no healthy upstream",
		},
		{
			name: "upstream closes without answering",
			cfg: func(t *testing.T) agw.HTTPBackendConfig {
				return agw.HTTPBackendConfig{Endpoints: []string{beUpstream(t, beDrop()).URL}}
			},
			requests: 1, status: http.StatusBadGateway, msg: "upstream error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newBeFront(t, beBackend(t, tt.cfg(t)), tt.policies...)
			var (
				resp *http.Response
				body string
				st   agw.State
			)
			for range tt.requests {
				resp, body = f.get(t, "/")
				st = f.state(t)
			}
			assert.Equal(t, tt.status, resp.StatusCode, body)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Contains(t, body, tt.msg)
			require.Error(t, st.Err)
			assert.Equal(t, tt.status, st.Status)
			if tt.errIs != nil {
				assert.ErrorIs(t, st.Err, tt.errIs)
			}
		})
	}
}

// closer is an upstream that reads the request and drops the connection without a response.
func beDrop() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
}

func TestHTTPBackendInvalidTarget(t *testing.T) {
	b := agw.HTTP("ftp://example.com")
	require.Error(t, b.Validate())
	gw := agw.New(agw.WithAccessLog(false))
	err := gw.Route("bad").To(b)
	require.ErrorIs(t, err, agw.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "ftp")

	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)

	for _, cfg := range []agw.HTTPBackendConfig{
		{},
		{Endpoints: []string{"http://a:1", "https://b:2"}},
		{Endpoints: []string{"http://a:1"}, TLS: &tls.Config{}},
		{Endpoints: []string{"a:1", "a b"}},
	} {
		_, err := agw.NewHTTPBackend(cfg)
		assert.Error(t, err, "%+v", cfg.Endpoints)
	}
	var zero agw.HTTPBackend
	assert.Error(t, zero.Validate())
	rec = httptest.NewRecorder()
	zero.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)

	assert.NoError(t, agw.HTTP("127.0.0.1:8080").Validate())
	assert.Equal(t, "127.0.0.1:8080", agw.HTTP("127.0.0.1:8080").BackendName())
	named, err := agw.NewHTTPBackend(agw.HTTPBackendConfig{Name: "api", Endpoints: []string{"a:1"}})
	require.NoError(t, err)
	assert.Equal(t, "api", named.BackendName())
}

func TestHTTPBackendRetriesConnectFailureOnce(t *testing.T) {
	up := beUpstream(t, beEcho())
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{
		Endpoints:  []string{beDeadAddr(t), up.URL},
		EjectAfter: -1, // keep the dead endpoint in rotation so that every pick of it is retried
	}))
	for i := range 30 {
		req, err := http.NewRequest(http.MethodPost, f.URL+"/r", strings.NewReader("body"))
		require.NoError(t, err)
		resp, body := f.do(t, req)
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d: %s", i, body)
		assert.Equal(t, "body", beDecode(t, body).Body)
		assert.NoError(t, f.state(t).Err)
	}
}

func TestHTTPBackendNeverRetriesDeliveredRequest(t *testing.T) {
	var hits atomic.Int32
	count := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); h.ServeHTTP(w, r) })
	}
	a, b := beUpstream(t, count(beDrop())), beUpstream(t, count(beDrop()))
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{a.URL, b.URL}}))
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		hits.Store(0)
		req, err := http.NewRequest(method, f.URL+"/once", strings.NewReader("x"))
		require.NoError(t, err)
		resp, _ := f.do(t, req)
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
		assert.EqualValues(t, 1, hits.Load(), method)
		f.state(t)
	}
}

func TestHTTPBackendEjectsFailingEndpoint(t *testing.T) {
	var badHits, goodHits atomic.Int32
	bad := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		badHits.Add(1)
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	good := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { goodHits.Add(1) }))
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{
		Endpoints: []string{bad.URL, good.URL}, EjectAfter: 2, EjectFor: time.Hour,
	}))
	statuses := map[int]int{}
	for range 60 {
		resp, _ := f.get(t, "/")
		statuses[resp.StatusCode]++
		f.state(t)
	}
	assert.EqualValues(t, 2, badHits.Load(), "ejected after two 5xx in a row")
	assert.Equal(t, map[int]int{500: 2, 200: 58}, statuses, "an upstream 5xx is forwarded as is")
	assert.EqualValues(t, 58, goodHits.Load())
}

func TestHTTPBackendBalancesByInflight(t *testing.T) {
	// One endpoint holds a request open; with two endpoints, power of two choices then sends every
	// other request to the idle one.
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var slowHits, fastHits atomic.Int32
	slow := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slowHits.Add(1) == 1 {
			entered <- struct{}{}
			<-release
		}
	}))
	fast := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fastHits.Add(1) }))
	b := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{slow.URL, fast.URL}})
	f := newBeFront(t, b)
	var wg sync.WaitGroup
	var blocked bool
	// Send requests until one sticks in the slow endpoint.
	for !blocked {
		wg.Add(1)
		done := make(chan struct{})
		go func() {
			defer wg.Done()
			defer close(done)
			resp, err := f.Client().Get(f.URL + "/")
			if err == nil {
				resp.Body.Close()
			}
		}()
		select {
		case <-entered:
			blocked = true
		case <-done:
		case <-time.After(beHangGuard):
			t.Fatal("no request reached the slow endpoint")
		}
	}
	before := slowHits.Load()
	for range 20 {
		resp, _ := f.get(t, "/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Equal(t, before, slowHits.Load(), "the busy endpoint gets nothing while the other is idle")
	close(release)
	wg.Wait()
}

func TestHTTPBackendUpstreamTransportOverride(t *testing.T) {
	var upstreamHits atomic.Int32
	up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { upstreamHits.Add(1) }))
	var seen atomic.Value
	override := beRoundTrip(func(r *http.Request) (*http.Response, error) {
		seen.Store(r.URL.String() + " host=" + r.Host + " auth=" + r.Header.Get("Authorization"))
		return &http.Response{StatusCode: http.StatusAccepted, Header: http.Header{"X-Via": {"override"}},
			Body: http.NoBody, Request: r}, nil
	})
	auth := func(next http.Handler) http.Handler { // what a backendAuth policy does
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(agw.WithUpstreamTransport(r.Context(), beRoundTrip(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.Header.Set("Authorization", "Bearer t")
				return override(r)
			}))))
		})
	}
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}}), agw.NewPolicy(agw.PhaseBackend, auth))
	resp, _ := f.get(t, "/o?x=1")
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, "override", resp.Header.Get("X-Via"))
	assert.Equal(t, up.URL+"/o?x=1 host="+strings.TrimPrefix(f.URL, "http://")+" auth=Bearer t", seen.Load())
	assert.Zero(t, upstreamHits.Load())
	assert.Nil(t, agw.UpstreamTransportFrom(context.Background()))
}

func TestHTTPBackendAbortsTruncatedResponse(t *testing.T) {
	up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "0123456789")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}}))
	resp, err := f.Client().Get(f.URL + "/")
	if err == nil { // the status line may or may not have left the gateway's buffer
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	assert.Error(t, err, "the client must not take a truncated body for a complete one")
	assert.ErrorIs(t, f.state(t).Err, io.ErrUnexpectedEOF)
}

func TestHTTPBackendClose(t *testing.T) {
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	b := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}})
	f := newBeFront(t, b)
	f.get(t, "/")
	require.NoError(t, b.Close())
	resp, _ := f.get(t, "/") // still usable, on a new connection
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 2, conns.Load())
}

func TestHTTPBackendDeadlineMidStreamAborts(t *testing.T) {
	up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // never finishes on its own
	}))
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}}), beTimeout(50*time.Millisecond))
	resp, err := f.Client().Get(f.URL + "/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	assert.Equal(t, "data: 1\n\n", string(body))
	assert.Error(t, err, "a stream cut by the deadline must not end like a complete response")
	assert.ErrorIs(t, f.state(t).Err, context.DeadlineExceeded)
}

func TestHTTPBackendUpgradeMismatch(t *testing.T) {
	up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
		_ = brw.Flush()
		_, _ = brw.ReadByte() // until the gateway hangs up
	}))
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}, Upgrades: []string{"echo"}}))
	req, err := http.NewRequest(http.MethodGet, f.URL+"/ws", nil)
	require.NoError(t, err)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, body := f.do(t, req)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, body)
	st := f.state(t)
	require.Error(t, st.Err)
	assert.Contains(t, st.Err.Error(), `upgrade mismatch: requested "echo", got "other"`)
}

func TestHTTPBackendRecoversFromEjection(t *testing.T) {
	addr := beDeadAddr(t)
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{addr}, EjectAfter: 1, EjectFor: time.Hour}))
	resp, _ := f.get(t, "/")
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	resp, _ = f.get(t, "/")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "ejected, still tried, still down")

	ln, err := net.Listen("tcp", addr) // the upstream comes back on the same address
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	up := &httptest.Server{Listener: ln, Config: &http.Server{Handler: beEcho()}}
	up.Start()
	defer up.Close()
	for range 3 {
		resp, body := f.get(t, "/back")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "an ejected backend is never failed closed")
		assert.Equal(t, "/back", beDecode(t, body).Path)
	}
}

func TestHTTPBackendExpectContinue(t *testing.T) {
	up := beUpstream(t, beEcho())
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}}))
	tr := &http.Transport{ExpectContinueTimeout: beHangGuard} // the body waits for "100 Continue"
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, f.URL+"/upload", strings.NewReader("big body"))
	require.NoError(t, err)
	req.Header.Set("Expect", "100-continue")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	got := beDecode(t, string(raw))
	assert.Equal(t, "big body", got.Body)
	assert.Equal(t, "100-continue", got.Header.Get("Expect"))
}

func TestHTTPBackendStreamsRequestBody(t *testing.T) {
	gotFirst := make(chan struct{})
	up := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "part1" {
			http.Error(w, "bad first part", http.StatusBadRequest)
			return
		}
		close(gotFirst) // the client sends part 2 only after this
		rest, _ := io.ReadAll(r.Body)
		_, _ = w.Write(append(buf, rest...))
	}))
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}}))
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, "part1")
		select {
		case <-gotFirst:
			_, _ = io.WriteString(pw, "part2")
			_ = pw.Close()
		case <-time.After(beHangGuard):
			_ = pw.CloseWithError(errors.New("upstream never saw part 1"))
		}
	}()
	req, err := http.NewRequest(http.MethodPost, f.URL+"/upload", pr)
	require.NoError(t, err)
	resp, body := f.do(t, req)
	assert.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "part1part2", body)
}

func TestHTTPBackendConcurrentLoad(t *testing.T) {
	var n atomic.Int32
	flappy := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	ok1 := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ok2 := beUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	f := newBeFront(t, beBackend(t, agw.HTTPBackendConfig{
		Endpoints:  []string{flappy.URL, ok1.URL, ok2.URL, beDeadAddr(t)},
		EjectAfter: 2, EjectFor: time.Millisecond, // eject and readmit all the time
	}))
	done := make(chan struct{})
	drained := make(chan struct{})
	go func() { // keep the state channel drained while the load runs
		defer close(drained)
		for {
			select {
			case <-f.states:
			case <-done:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var bad atomic.Int32
	for range 8 {
		wg.Go(func() {
			for range 40 {
				resp, err := f.Client().Get(f.URL + "/")
				if err != nil {
					bad.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK, http.StatusServiceUnavailable, http.StatusBadGateway:
				default:
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	<-drained
	assert.Zero(t, bad.Load())
}

// An endpoint update takes effect for the next request without rebuilding the configuration, and a
// request already on the old endpoint finishes there.
func TestHTTPBackendSetEndpoints(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "a")
	}))
	defer a.Close()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "b") }))
	defer b.Close()
	be := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{a.URL}})
	f := newBeFront(t, be)

	_, body := f.get(t, "/x")
	require.Equal(t, "a", body)
	slow := make(chan string, 1)
	go func() { _, body := f.get(t, "/slow"); slow <- body }()
	<-started

	require.NoError(t, be.SetEndpoints([]string{b.URL}))
	require.Equal(t, []string{b.URL}, be.Endpoints())
	_, body = f.get(t, "/x")
	require.Equal(t, "b", body, "the next request goes to the new endpoint")
	close(release)
	require.Equal(t, "a", <-slow, "the request in flight finished on the old one")

	require.Error(t, be.SetEndpoints([]string{"https://127.0.0.1:1"}), "the scheme cannot change")
	require.Error(t, be.SetEndpoints(nil))
	_, body = f.get(t, "/x")
	require.Equal(t, "b", body, "a refused update changes nothing")
}

// The gateway's transport hook sees every request an HTTP backend forwards (trace propagation,
// client metrics), unless the backend brought its own Transport.
func TestHTTPBackendUsesTheGatewayTransportHook(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("Traceparent"))
	}))
	defer up.Close()
	var hooked atomic.Int32
	gw := agw.New(agw.WithAccessLog(false), agw.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper {
		return beRoundTrip(func(r *http.Request) (*http.Response, error) {
			hooked.Add(1)
			r = r.Clone(r.Context())
			r.Header.Set("Traceparent", "00-hooked")
			return rt.RoundTrip(r)
		})
	}))
	be := beBackend(t, agw.HTTPBackendConfig{Endpoints: []string{up.URL}})
	require.NoError(t, gw.Route("r").To(be))
	srv := httptest.NewServer(gw)
	defer srv.Close()
	for range 3 {
		resp, err := http.Get(srv.URL + "/x")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "00-hooked", string(b))
	}
	require.EqualValues(t, 3, hooked.Load())
}
