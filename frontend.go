package agentgateway

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/agentgw/agentgateway/internal/proxy"
)

// WithMaxRequestHeaders bounds the number of header field lines of a request (agentgateway's
// frontendPolicies.http.http1MaxHeaders): a request with more is answered 431 before any route runs.
// 0 means no bound beyond the server's MaxHeaderBytes.
func WithMaxRequestHeaders(n int) Option { return func(o *options) { o.maxReqHeaders = max(n, 0) } }

// WithMaxConnectionDuration closes client connections that have been open longer than d, gracefully:
// the response to the first request after d carries Connection: close (HTTP/1.1 closes after it;
// HTTP/2 sends GOAWAY and finishes the streams in flight), so that long-lived clients rebalance across
// replicas (agentgateway's frontendPolicies.http.maxConnectionDuration). It applies to the servers the
// gateway makes (Run, Start, NewServer); 0 means no bound.
func WithMaxConnectionDuration(d time.Duration) Option {
	return func(o *options) { o.maxConnAge = max(d, 0) }
}

type connStartKey struct{}

// connContext records when a connection was accepted, for WithMaxConnectionDuration.
func connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connStartKey{}, time.Now())
}

// frontendLimits applies the connection and header bounds; false means it answered the request.
func (g *Gateway) frontendLimits(w http.ResponseWriter, r *http.Request) bool {
	if n := g.opts.maxReqHeaders; n > 0 && proxy.TooManyFields(r.Header, n) {
		writeError(w, http.StatusRequestHeaderFieldsTooLarge, "too many request header fields")
		return false
	}
	if d := g.opts.maxConnAge; d > 0 {
		if t, ok := r.Context().Value(connStartKey{}).(time.Time); ok && time.Since(t) > d {
			w.Header().Set("Connection", "close")
		}
	}
	return true
}
