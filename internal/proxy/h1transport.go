package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// ErrH1Ineligible is returned by an [H1Transport] without a fallback for a request the built-in
// client does not send (see [H1Transport.RoundTrip]).
var ErrH1Ineligible = errors.New("proxy: request not eligible for the built-in HTTP/1.1 client")

// H1Transport is an [http.RoundTripper] over the built-in HTTP/1.1 client (see [H1Options]) for
// callers other than [Proxy], with one keep-alive pool per URL host. It is safe for concurrent use.
//
// It sends the request as given: no proxy from the environment, no Accept-Encoding: gzip and no
// transparent decompression, no redirects (an http.Client does those). The response body streams
// from the connection as it is read; cancelling the request's context aborts the exchange, a body
// being read included. Closing the body returns the connection to the pool when the body was read to
// its end, and closes it otherwise.
type H1Transport struct {
	c        *h1Client
	fallback http.RoundTripper

	mu    sync.RWMutex
	pools map[string]*h1Pool // by URL host
}

// NewH1Transport returns a transport that sends the requests the built-in client is eligible for
// and passes the others to fallback. With a nil fallback those fail with [ErrH1Ineligible].
func NewH1Transport(o H1Options, fallback http.RoundTripper) *H1Transport {
	return &H1Transport{c: newH1Client(o), fallback: fallback, pools: make(map[string]*h1Pool)}
}

// RoundTrip sends req. The built-in client takes plain-http URLs whose method, host, target and header
// are plainly valid, without user info in the URL, trailers, Transfer-Encoding, Expect or Close, and
// whose body, if any, has a known length or ContentLength -1 (sent chunked). Every other request goes
// to the fallback, which sends it or reports why it cannot. As the RoundTripper contract asks, req.Body is
// closed, errors included, and req is not modified.
func (t *H1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !transportEligible(req) {
		if t.fallback != nil {
			return t.fallback.RoundTrip(req)
		}
		if req.Body != nil {
			_ = req.Body.Close()
		}
		if req.URL == nil {
			return nil, fmt.Errorf("%w: %s without a URL", ErrH1Ineligible, req.Method)
		}
		return nil, fmt.Errorf("%w: %s %s", ErrH1Ineligible, req.Method, req.URL.Redacted())
	}
	var body *bodyReader
	if req.Body != nil && req.Body != http.NoBody {
		body = &bodyReader{rc: req.Body}
	}
	resp, err := t.pool(req.URL.Host).roundTrip(req, body, 0)
	// The whole body is written (or abandoned) once the response header is read.
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return resp, err
}

// pool returns the pool of host, creating it on first use.
func (t *H1Transport) pool(host string) *h1Pool {
	t.mu.RLock()
	p := t.pools[host]
	t.mu.RUnlock()
	if p != nil {
		return p
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p = t.pools[host]; p == nil {
		p = newH1Pool(t.c, host)
		t.pools[host] = p
	}
	return p
}

// CloseIdleConnections closes the idle connections of every pool, and those of the fallback when it
// has such a method. The transport stays usable.
func (t *H1Transport) CloseIdleConnections() {
	t.mu.RLock()
	for _, p := range t.pools {
		p.closeIdle()
	}
	t.mu.RUnlock()
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// transportEligible adds to h1Eligible what Proxy guarantees by construction and a caller's request
// may lack.
func transportEligible(req *http.Request) bool {
	u := req.URL
	if u == nil || u.Scheme != "http" || u.Host == "" || u.User != nil || u.Opaque != "" ||
		!validHost(u.Host) || strings.HasSuffix(u.Host, ":") {
		return false
	}
	if req.Close || len(req.TransferEncoding) > 0 {
		return false
	}
	if req.Body == nil || req.Body == http.NoBody {
		if req.ContentLength != 0 {
			return false // net/http reports the mismatch
		}
	} else if req.ContentLength == 0 {
		return false // unknown length, which net/http probes by reading
	}
	return h1Eligible(req)
}
