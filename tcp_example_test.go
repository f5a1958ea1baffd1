package agentgateway_test

import (
	"context"
	"net"

	agentgateway "github.com/agentgw/agentgateway"
)

// A TCP listener proxying to two weighted backends, a TLS passthrough listener routing by SNI, and an
// egress proxy port whose CONNECT tunnels re-enter the internal port 443.
func ExampleTCPRouteConfig() {
	gw := agentgateway.New()
	err := gw.Apply(agentgateway.Config{
		Ports: []agentgateway.PortConfig{
			{Port: 3128, Tunnel: agentgateway.TunnelConnect},
			{Port: 443, Internal: true},
		},
		Listeners: []agentgateway.ListenerConfig{
			{Name: "postgres", Port: 5432, Protocol: agentgateway.ProtocolTCP, TCPRoutes: []agentgateway.TCPRouteConfig{{
				Name: "db",
				Backends: []agentgateway.TCPBackend{
					{Address: "db-a.internal:5432", Weight: 9},
					{Address: "db-b.internal:5432", Weight: 1},
				},
			}}},
			{Name: "passthrough", Port: 8443, Protocol: agentgateway.ProtocolTLS, TCPRoutes: []agentgateway.TCPRouteConfig{
				{Name: "a", Hostnames: []string{"a.example.com"}, Backends: []agentgateway.TCPBackend{{Address: "10.0.0.1:443", Weight: 1}}},
				{Name: "rest", Backends: []agentgateway.TCPBackend{{Address: "10.0.0.2:443", Weight: 1}}},
			}},
			{Name: "egress", Port: 443, Protocol: agentgateway.ProtocolTLS, Hostnames: []string{"*.pypi.org", "pypi.org"}, TCPRoutes: []agentgateway.TCPRouteConfig{{
				Name: "pypi",
				Backends: []agentgateway.TCPBackend{{Weight: 1, Dial: func(ctx context.Context, c *agentgateway.ConnInfo) (net.Conn, error) {
					var d net.Dialer // the SNI on the port the client asked for
					return d.DialContext(ctx, "tcp", net.JoinHostPort(c.Hostname, "443"))
				}}},
			}}},
		},
	})
	if err != nil {
		panic(err)
	}
	_ = gw.Run // serve with gw.Run(ctx)
}
