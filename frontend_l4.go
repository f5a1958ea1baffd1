package agentgateway

import (
	"context"
	"net"
	"time"
)

// ProxyVersion selects which PROXY protocol versions a port accepts.
type ProxyVersion int

const (
	// ProxyV2 accepts the binary version 2 header (agentgateway's default).
	ProxyV2 ProxyVersion = iota
	// ProxyV1 accepts the text version 1 header.
	ProxyV1
	// ProxyAll accepts either.
	ProxyAll
)

// ProxyProtocol makes the ports [Gateway.Run] binds read a PROXY protocol header (HAProxy's PROXY
// protocol, as a TCP load balancer in front of the gateway sends it) before anything else on each
// connection: the client address it announces becomes the connection's source — in the access log,
// State.Source, CEL's source.address, rate-limit keys and network authorization. A connection whose
// header is malformed, of a version not accepted, or missing in strict mode is closed.
type ProxyProtocol struct {
	Version ProxyVersion
	// Optional accepts connections without a header too (their TCP peer is the source); the default
	// (strict) requires one.
	Optional bool
}

// WithProxyProtocol turns PROXY protocol reading on for every port [Gateway.Run] binds
// (agentgateway's frontendPolicies.proxyProtocol).
func WithProxyProtocol(p ProxyProtocol) Option {
	return func(o *options) { o.proxy = &p }
}

// WithNetworkAuthorization makes every connection the gateway's ports accept pass allow before any
// byte of it is routed (agentgateway's frontendPolicies.networkAuthorization): allow sees the source
// (after a PROXY header), the destination and, for a TLS connection, the SNI; false closes the
// connection. It runs once per connection, and again for each connection a CONNECT tunnel re-enters.
func WithNetworkAuthorization(allow func(ctx context.Context, c *ConnInfo) bool) Option {
	return func(o *options) { o.netAuthz = allow }
}

// FrontendTLS tunes every TLS handshake the gateway terminates (agentgateway's frontendPolicies.tls);
// zero fields keep each listener's own settings.
type FrontendTLS struct {
	// HandshakeTimeout bounds the handshake (default 15s).
	HandshakeTimeout time.Duration
	MinVersion       uint16
	MaxVersion       uint16
	// CipherSuites restricts TLS 1.2 suites (Go does not allow choosing TLS 1.3 suites).
	CipherSuites []uint16
	// ALPN replaces the protocols offered by ALPN (default h2, http/1.1 for HTTPS listeners).
	ALPN []string
	// CurvePreferences restricts the key exchange groups.
	CurvePreferences []uint16
}

// DefaultTLSHandshakeTimeout bounds a downstream TLS handshake when [WithFrontendTLS] sets none.
const DefaultTLSHandshakeTimeout = 15 * time.Second

// WithFrontendTLS applies t to the TLS settings of every TLS and HTTPS listener.
func WithFrontendTLS(t FrontendTLS) Option { return func(o *options) { o.frontTLS = t } }

// WithTCPKeepAlive sets the TCP keepalive of the connections the gateway's ports accept
// (agentgateway's frontendPolicies.tcp.keepalives).
func WithTCPKeepAlive(k net.KeepAliveConfig) Option {
	return func(o *options) { o.keepAlive = &k }
}

// ConnectMode says what HTTP listeners do with CONNECT requests (agentgateway's
// frontendPolicies.connect.mode).
type ConnectMode int

const (
	// ConnectRoute routes CONNECT requests like any other (the default).
	ConnectRoute ConnectMode = iota
	// ConnectDeny answers CONNECT requests 405.
	ConnectDeny
	// ConnectTunnel terminates CONNECT requests as a [TunnelConnect] port does, on every HTTP port.
	ConnectTunnel
)

// WithConnectMode sets what the HTTP ports [Gateway.Run] binds do with CONNECT requests.
func WithConnectMode(m ConnectMode) Option { return func(o *options) { o.connectMode = m } }
