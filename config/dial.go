package config

import (
	"context"
	"math/rand/v2"
	"net"

	agentgateway "github.com/agentgw/agentgateway"
)

// DialFunc opens a connection to addr ("host:port"), as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// SetDialer makes the host and service backends the file builds (HTTP and TCP) connect through dial
// instead of the host network: a data plane whose endpoints are reached some other way (a test
// cluster's in-process pods, a sidecar's sockets). Nil restores direct connections. HTTP backends
// then run on net/http's client, which takes a dial function, not the built-in HTTP/1.1 one.
func (f *File) SetDialer(dial DialFunc) { f.dial = dial }

// applyDial hands the file's dialer (SetDialer) to an HTTP backend that does not dial otherwise.
func applyDial(bc *BuildContext, cfg *agentgateway.HTTPBackendConfig) {
	if d := bc.res.dial; d != nil && cfg.Dial == nil && cfg.Transport == nil {
		cfg.Dial = d
	}
}

// catalogTCPDial connects a TCP route's service backend to one of the healthy endpoints of a
// service the file's `services` define (ok false for other names, which resolve by DNS), at random
// as the HTTP backends balance; with none the connection is refused.
func catalogTCPDial(bc *BuildContext, ref ServiceRef) (dial func(context.Context, *agentgateway.ConnInfo) (net.Conn, error), ok bool, err error) {
	c := bc.res.services
	if c == nil {
		return nil, false, nil
	}
	eps, _, ok, err := c.endpoints(ref.Name, ref.Port)
	if !ok || err != nil {
		return nil, ok, err
	}
	d := bc.res.dial
	if d == nil {
		var nd net.Dialer
		d = nd.DialContext
	}
	return func(ctx context.Context, _ *agentgateway.ConnInfo) (net.Conn, error) {
		if len(eps) == 0 {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errNoEndpoints{ref.Name}}
		}
		return d(ctx, "tcp", eps[rand.IntN(len(eps))])
	}, true, nil
}

type errNoEndpoints struct{ service string }

func (e errNoEndpoints) Error() string { return "service " + e.service + " has no healthy endpoints" }
