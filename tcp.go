package agentgateway

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"time"
)

// ListenerProtocol is what a listener accepts on its port.
type ListenerProtocol int

const (
	// ProtocolHTTP serves HTTP routes: plain HTTP (and h2c), or HTTPS when the listener has TLS. It is
	// the zero value.
	ProtocolHTTP ListenerProtocol = iota
	// ProtocolTCP proxies each connection's bytes to a backend of the listener's TCP route. A TCP port
	// has one TCP listener and no other.
	ProtocolTCP
	// ProtocolTLS routes TLS connections by the server name of their ClientHello (SNI) to the TCP route
	// whose Hostnames match. Without TLS settings the connection is passed through undecrypted
	// (passthrough); with them the gateway terminates TLS and proxies the plaintext bytes. TLS and
	// HTTPS listeners may share a port: the SNI picks the listener.
	ProtocolTLS
)

func (p ListenerProtocol) String() string {
	switch p {
	case ProtocolTCP:
		return "TCP"
	case ProtocolTLS:
		return "TLS"
	}
	return "HTTP"
}

// TCPRouteConfig is one route of a TCP or TLS listener (Gateway API TCPRoute and TLSRoute,
// agentgateway's tcpRoutes): which connections it takes and the backends that receive their bytes.
type TCPRouteConfig struct {
	Name string
	// Hostnames selects TLS connections by SNI (exact or "*.example.com"); empty means any. A route on
	// a TCP listener cannot name hostnames: a plain TCP connection carries none.
	Hostnames []string
	// Backends receive the connections, split by weight when there are several.
	Backends []TCPBackend
}

// TCPBackend is one upstream of a TCP route.
type TCPBackend struct {
	// Name is recorded in the connection's log line; when empty it is Address.
	Name string
	// Address is the "host:port" dialled for each connection, unless Dial is set.
	Address string
	// Dial, if set, opens the upstream connection instead of dialling Address: a target computed per
	// connection (agentgateway's dynamic backends), or a path through a tunnel ([DialThroughConnect]).
	// It is called with a context bounded by the connect timeout ([WithTCPTimeouts]).
	Dial func(ctx context.Context, c *ConnInfo) (net.Conn, error)
	// TLS, if set, makes the gateway speak TLS to the backend (backendTLS); nil sends the bytes as they
	// are (for a passthrough TLS route: the client's own TLS session).
	TLS *tls.Config
	// Weight is the relative share of connections; 0 takes none. Every backend at 0 refuses the route's
	// connections.
	Weight int
}

// ConnInfo describes one downstream connection, as known before any HTTP is read: what network
// authorization ([WithNetworkAuthorization]) and TCP backends' Dial see.
type ConnInfo struct {
	// Source is the client: the TCP peer, or the address a PROXY protocol header announced.
	Source netip.AddrPort
	// Destination is the address the client connected to (the PROXY header's destination, or the
	// target of a CONNECT tunnel the connection came through).
	Destination netip.AddrPort
	// Port is the gateway port the connection is served on: the bound port, or for a connection that
	// came through a CONNECT tunnel, the port of its CONNECT target.
	Port int
	// Hostname is the TLS server name (SNI) when the gateway inspected a ClientHello, else the host of
	// the CONNECT target the connection came through, else "".
	Hostname string
	// Listener and Route name what serves the connection, once chosen (TCP and TLS listeners).
	Listener, Route string
}

// TunnelProtocol says how a port's connections are to be read before routing.
type TunnelProtocol int

const (
	// TunnelDirect serves the port's listeners directly (the default).
	TunnelDirect TunnelProtocol = iota
	// TunnelConnect terminates HTTP CONNECT on the port (an egress proxy): a CONNECT to host:port is
	// answered 200 and the tunnelled bytes are served by the listeners of port (a bound port, or an
	// Internal one) as if they had arrived there, with the CONNECT host as the connection's Hostname.
	// A CONNECT whose target no listener on that port would take is refused with 403; other methods
	// get 405.
	TunnelConnect
)

// PortConfig sets how a port is served, beyond what its listeners say. A port named only here is
// still bound (a CONNECT port needs no listener of its own).
type PortConfig struct {
	Port int
	// Internal ports are not bound: they serve only connections that a CONNECT tunnel re-enters with
	// that port as target (agentgateway's `mode: internal` binds).
	Internal bool
	// Tunnel is the port's tunnel protocol.
	Tunnel TunnelProtocol
}

// TCPTimeouts bound TCP and TLS routes' connections.
type TCPTimeouts struct {
	// Connect bounds dialling a backend (default 10s).
	Connect time.Duration
	// Idle closes a connection on which no byte moved in either direction for this long (default 1h;
	// negative: never).
	Idle time.Duration
}

// DefaultTCPTimeouts are the TCP route timeouts of a gateway without [WithTCPTimeouts].
var DefaultTCPTimeouts = TCPTimeouts{Connect: 10 * time.Second, Idle: time.Hour}

// WithTCPTimeouts sets the connect and idle timeouts of TCP and TLS routes; zero fields keep the
// defaults ([DefaultTCPTimeouts]).
func WithTCPTimeouts(t TCPTimeouts) Option {
	return func(o *options) {
		if t.Connect > 0 {
			o.tcp.Connect = t.Connect
		}
		if t.Idle != 0 {
			o.tcp.Idle = t.Idle
		}
	}
}
