package gwapi

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"

	"golang.org/x/net/http2"
)

// transports are the upstream transports shared by every backend of a controller when a custom dialer
// is set (one for HTTP/1.1, one for h2c), so that a retranslation does not drop pooled connections.
type transports struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	once sync.Once
	h1   http.RoundTripper
	h2c  http.RoundTripper

	mu       sync.Mutex
	keys     map[string][]byte           // MCP session keys by backend
	policies map[string]compiledPolicies // AgentgatewayPolicy schema fields by policy (policy_schema.go)
}

func newTransports(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *transports {
	return &transports{dial: dial}
}

// get returns nil without a custom dialer: the backend then uses its own pooled transport.
func (t *transports) get(h2c bool) http.RoundTripper {
	if t == nil || t.dial == nil {
		return nil
	}
	t.once.Do(func() {
		t.h1 = &http.Transport{DialContext: t.dial, MaxIdleConnsPerHost: 16, ForceAttemptHTTP2: false}
		t.h2c = &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return t.dial(ctx, network, addr)
		}}
	})
	if h2c {
		return t.h2c
	}
	return t.h1
}

// close drops idle pooled connections and closes compiled policies.
func (t *transports) close() {
	t.closePolicies()
	if t == nil || t.h1 == nil {
		return
	}
	t.h1.(*http.Transport).CloseIdleConnections()
	t.h2c.(*http2.Transport).CloseIdleConnections()
}
