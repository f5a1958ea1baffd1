package mcp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/proxy"
)

// upstream is one session with one target. call and send take raw JSON-RPC messages and return raw
// ones: the gateway never decodes a payload it only routes.
type upstream interface {
	// call sends a request and returns its response. Messages the target sends while answering
	// (progress, logging, server→client requests) are passed to relay as they arrive.
	call(ctx context.Context, msg []byte, relay func([]byte)) ([]byte, error)
	// send sends a notification, or the client's response to a server→client request.
	send(ctx context.Context, msg []byte) error
	// listen passes server-initiated messages to fn until ctx ends or the upstream closes.
	listen(ctx context.Context, fn func([]byte)) error
	// alive reports whether the upstream can still be used (a process may have exited).
	alive() bool
	// setVersion records the protocol version the target negotiated.
	setVersion(v string)
	// close ends the upstream session (an HTTP DELETE, a process stopped).
	close()
	// release drops this federation's hold on the session without ending it where it can be resumed:
	// an HTTP session stays alive upstream so that the next configuration, or another replica with
	// the same key, continues it. Connection-bound sessions (stdio, in-process) cannot be resumed and
	// are closed.
	release()
}

// Errors of upstream sessions.
var (
	// ErrUpstreamSessionGone is returned when a target no longer knows the session (HTTP 404).
	ErrUpstreamSessionGone = errors.New("mcp: upstream session expired")
	// ErrTargetUnavailable wraps every failure to reach a target.
	ErrTargetUnavailable = errors.New("mcp: target unavailable")
)

// maxUpstreamMessage bounds a single message read from a target.
const maxUpstreamMessage = 64 << 20

type authKey struct{}

// withClientAuth records the client's Authorization header for targets that forward it.
func withClientAuth(ctx context.Context, v string) context.Context {
	if v == "" {
		return ctx
	}
	return context.WithValue(ctx, authKey{}, v)
}

// httpUpstream speaks streamable HTTP to a target directly over the federation's pooled client: a
// POST per message, answered with JSON or an SSE stream. The struct is the whole per-session state
// (an idle session costs a few dozen bytes per HTTP target).
type httpUpstream struct {
	t   *target
	sid string
	ver string
	// capture is set while initializing: the answer names the upstream session.
	capture bool
	// postHeader caches the headers of the session's POSTs (see headers).
	postHeader atomic.Pointer[sessionHeader]
}

func (u *httpUpstream) alive() bool         { return true }
func (u *httpUpstream) setVersion(v string) { u.ver = v }

// headers builds the headers of a request to the target. A POST's headers are the same for every
// message of the session unless something per request goes in (a forwarded Authorization, backend
// credentials) or something may change them on the way (a RoundTripper of the gateway's transport
// hook): otherwise they are built once and shared, read-only, by the session's requests.
func (u *httpUpstream) headers(ctx context.Context, post bool) http.Header {
	shared := post && !u.t.ForwardAuthorization && u.t.authH == nil && !u.t.tracing() && agentgateway.BackendCredentialsFrom(ctx) == nil
	if shared {
		if _, h1 := u.t.client(); h1 == nil {
			shared = false
		} else if c := u.postHeader.Load(); c != nil && c.sid == u.sid && c.ver == u.ver {
			return c.h
		}
	}
	h := u.buildHeaders(ctx, post)
	if shared && !u.capture { // not while initializing: a session only set up keeps its few bytes
		u.postHeader.Store(&sessionHeader{sid: u.sid, ver: u.ver, h: h})
	}
	return h
}

// sessionHeader is the shared header of a session's POSTs, for the session id and version it names.
type sessionHeader struct {
	sid, ver string
	h        http.Header
}

func (u *httpUpstream) buildHeaders(ctx context.Context, post bool) http.Header {
	h := make(http.Header, 6+len(u.t.Headers))
	for k, vs := range u.t.Headers {
		h[k] = vs
	}
	if post {
		h["Content-Type"] = []string{"application/json"}
		h["Accept"] = []string{"application/json, text/event-stream"}
	} else {
		h["Accept"] = []string{"text/event-stream"}
	}
	if u.sid != "" {
		h["Mcp-Session-Id"] = []string{u.sid}
	}
	if u.ver != "" {
		h["Mcp-Protocol-Version"] = []string{u.ver}
	}
	if u.t.ForwardAuthorization {
		if a, ok := ctx.Value(authKey{}).(string); ok {
			h["Authorization"] = []string{a}
		}
	}
	if u.t.tracing() {
		agentgateway.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
	}
	return h
}

// h1Client sends a plain-HTTP target's requests with the gateway's built-in HTTP/1.1 client
// (proxy.H1Transport): the calling goroutine writes the request and reads the response on a pooled
// connection. net/http's Transport hands every request to per-connection read and write goroutines;
// on a busy 2-core machine those hand-offs were most of the latency a gateway hop added. A request
// the built-in client does not send (a configured header value with control bytes, say) goes to the
// federation's net/http transport, which sends it or says why not.
type h1Client struct {
	rt  *proxy.H1Transport
	url *url.URL // shared read-only by every request
}

func newH1Client(u *url.URL, fallback http.RoundTripper) *h1Client {
	o := proxy.H1Options{DialTimeout: 10 * time.Second, MaxIdleConnsPerHost: 64}
	return &h1Client{rt: proxy.NewH1Transport(o, fallback), url: u}
}

// bytesBody is a request body over a message already in memory.
type bytesBody struct{ bytes.Reader }

func (*bytesBody) Close() error { return nil }

// do sends one request. The response body streams from the connection until it is closed, which
// the caller must do; cancelling ctx aborts it.
func (c *h1Client) do(ctx context.Context, method string, h http.Header, body []byte, creds func(*http.Request)) (*http.Response, error) {
	req := http.Request{Method: method, URL: c.url, Host: c.url.Host, Header: h,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	switch {
	case len(body) > 0:
		b := new(bytesBody)
		b.Reset(body)
		req.Body, req.ContentLength = b, int64(len(body))
	case body != nil:
		req.Body = http.NoBody
	}
	if creds != nil {
		if len(body) > 0 {
			// A signing credential (aws) hashes the body without consuming it.
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		creds(&req)
	}
	return c.rt.RoundTrip(req.WithContext(ctx))
}

// closeIdle closes the client's idle connections.
func (c *h1Client) closeIdle() { c.rt.CloseIdleConnections() }

// roundTrip sends one request over the target's client: the synchronous HTTP/1.1 client for plain
// HTTP, net/http otherwise.
func (u *httpUpstream) roundTrip(ctx context.Context, method string, h http.Header, body []byte) (*http.Response, error) {
	creds, err := u.t.credentials(ctx)
	if err != nil {
		return nil, err
	}
	var resp *http.Response
	httpc, h1 := u.t.client()
	if h1 != nil {
		resp, err = h1.do(ctx, method, h, body, creds)
	} else {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, method, u.t.URL, rd)
		if err != nil {
			return nil, err
		}
		req.Header = h
		if creds != nil {
			creds(req)
		}
		resp, err = httpc.Do(req)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTargetUnavailable, u.t.Name, err)
	}
	if resp.StatusCode == http.StatusNotFound && u.sid != "" {
		drain(resp)
		return nil, fmt.Errorf("%w: %s", ErrUpstreamSessionGone, u.t.Name)
	}
	return resp, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func (u *httpUpstream) call(ctx context.Context, msg []byte, relay func([]byte)) ([]byte, error) {
	var final []byte
	sink := streamSink{deliver: func(b []byte) { final = b }}
	if relay != nil {
		sink.relay = func(_ string, b []byte) {
			if b != nil {
				relay(b)
			}
		}
	}
	if err := u.exchange(ctx, msg, &sink); err != nil {
		return nil, err
	}
	return final, nil
}

func (u *httpUpstream) send(ctx context.Context, msg []byte) error {
	resp, err := u.roundTrip(ctx, http.MethodPost, u.headers(ctx, true), msg)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: %s: HTTP %d", ErrTargetUnavailable, u.t.Name, resp.StatusCode)
	}
	return nil
}

func (u *httpUpstream) listen(ctx context.Context, fn func([]byte)) error {
	resp, err := u.roundTrip(ctx, http.MethodGet, u.headers(ctx, false), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil // the target has no GET stream (405): nothing to merge
	}
	_, err = readSSE(resp.Body, func(ev sseEvent) bool {
		if len(ev.data) > 0 {
			fn(ev.data)
		}
		return true
	})
	return err
}

func (u *httpUpstream) release() {}

func (u *httpUpstream) close() {
	if u.sid == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultCloseTimeout)
	defer cancel()
	if resp, err := u.roundTrip(ctx, http.MethodDelete, u.headers(ctx, false), nil); err == nil {
		drain(resp)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	id, event string
	data      []byte
	comment   bool // a comment line (": ..."), which carries nothing but keeps the stream alive
}

// readSSE reads events until fn returns false or the stream ends; it returns the last event id seen.
// Comment lines are reported as events with comment set.
func readSSE(r io.Reader, fn func(sseEvent) bool) (string, error) {
	br := getSSEReader(r)
	defer putSSEReader(br)
	return readSSEFrom(br, fn)
}

// readSSEFrom is readSSE over a buffered reader, which the caller may read on from.
func readSSEFrom(br *bufio.Reader, fn func(sseEvent) bool) (string, error) {
	var ev sseEvent
	var data []byte
	lastID := ""
	for {
		line, err := readLine(br)
		if err != nil {
			return lastID, err
		}
		if len(line) == 0 {
			if ev.id != "" {
				lastID = ev.id
			}
			if data != nil {
				ev.data = data
				if !fn(ev) {
					return lastID, nil
				}
			} else if ev.id != "" && !fn(ev) {
				return lastID, nil
			}
			ev, data = sseEvent{}, nil
			continue
		}
		if line[0] == ':' {
			// A comment: the keep-alive of an idle stream, reported so that it can be passed on.
			if !fn(sseEvent{comment: true}) {
				return lastID, nil
			}
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "data":
			if data != nil {
				data = append(data, '\n')
			}
			if len(data)+len(value) > maxUpstreamMessage {
				return lastID, errors.New("mcp: event too large")
			}
			data = append(data, value...)
		case "id":
			ev.id = string(value)
		case "event":
			ev.event = string(value)
		}
	}
}

func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = br.ReadSlice('\n')
			buf = append(buf, line...)
			if len(buf) > maxUpstreamMessage {
				return nil, errors.New("mcp: event too large")
			}
		}
		line = buf
	}
	if err != nil {
		if len(line) > 0 && err == io.EOF {
			return bytes.TrimRight(line, "\r\n"), nil
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// acceptsSSE and acceptsJSON read a client's Accept header.
func accepts(h string, typ string) bool {
	if h == "" {
		return true
	}
	for part := range strings.SplitSeq(h, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if mt == typ || mt == "*/*" || (strings.HasSuffix(mt, "/*") && strings.HasPrefix(typ, mt[:len(mt)-1])) {
			return true
		}
	}
	return false
}
