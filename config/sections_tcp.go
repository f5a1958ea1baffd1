package config

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
)

// TCPRouteSpec is the schema's LocalTCPRoute: one route of a TCP or TLS listener.
type TCPRouteSpec struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	RuleName  string `json:"ruleName"`
	// Hostnames select TLS connections by SNI.
	Hostnames []string          `json:"hostnames"`
	Policies  *TCPRoutePolicies `json:"policies"`
	Backends  []TCPBackendSpec  `json:"backends"`
}

// TCPRoutePolicies is the schema's TCPFilterOrPolicy.
type TCPRoutePolicies struct {
	BackendTLS *backendTLSSpec `json:"backendTLS"`
}

// TCPBackendSpec is the schema's LocalTCPRouteBackend: a weight, policies and exactly one of host,
// service, backend (a named `host` backend) and dynamic.
type TCPBackendSpec struct {
	Weight   *int                `json:"weight"`
	Policies *TCPBackendPolicies `json:"policies"`
	Host     string              `json:"host"`
	Service  *ServiceRef         `json:"service"`
	Backend  string              `json:"backend"`
	Dynamic  *DynamicTCPTarget   `json:"dynamic"`
}

// DynamicTCPTarget computes the dial target per connection: Target, a CEL expression over source.*
// and destination.* (address, port, hostname: the SNI or CONNECT host), or by default the
// connection's hostname on its destination port.
type DynamicTCPTarget struct {
	Target string `json:"target"`
}

// TCPBackendPolicies is the schema's LocalTCPBackendPolicies.
type TCPBackendPolicies struct {
	BackendTLS    *backendTLSSpec `json:"backendTLS"`
	BackendTunnel *TunnelSpec     `json:"backendTunnel"`
}

// TunnelSpec is the schema's Tunnel: reach the backend through an HTTP CONNECT proxy.
type TunnelSpec struct {
	Proxy    BackendRef `json:"proxy"`
	Policies Node       `json:"policies"`
}

// validateListenerProtocol checks a listener's protocol against what it carries (Load time).
func validateListenerProtocol(l ListenerSpec, lp string) []error {
	var errs []error
	proto := strings.ToUpper(l.Protocol)
	switch proto {
	case "", "HTTP":
	case "HTTPS":
		if l.TLS == nil || l.TLS.Cert == "" || l.TLS.Key == "" {
			errs = append(errs, agentgateway.Errorf(lp+".tls", "HTTPS needs tls.cert and tls.key"))
		}
	case "TCP":
		if l.TLS != nil {
			errs = append(errs, agentgateway.Errorf(lp+".tls", "a TCP listener does not terminate TLS; use protocol TLS"))
		}
	case "TLS":
		if l.TLS != nil && (l.TLS.Cert == "" || l.TLS.Key == "") {
			errs = append(errs, agentgateway.Errorf(lp+".tls", "TLS termination needs tls.cert and tls.key (omit tls to pass connections through)"))
		}
	case "HBONE":
		errs = append(errs, agentgateway.Errorf(lp+".protocol", "protocol HBONE is not supported (no mesh tunnel in this gateway)"))
	default:
		errs = append(errs, agentgateway.Errorf(lp+".protocol", "protocol %q is not supported (HTTP, HTTPS, TCP, TLS)", l.Protocol))
	}
	l4 := proto == "TCP" || proto == "TLS"
	if len(l.TCPRoutes) > 0 && !l4 {
		errs = append(errs, agentgateway.Errorf(lp+".tcpRoutes", "TCP routes need protocol TCP or TLS"))
	}
	if len(l.Routes) > 0 && l4 {
		errs = append(errs, agentgateway.Errorf(lp+".routes", "a %s listener takes tcpRoutes, not routes", proto))
	}
	if t := l.TLS; t != nil {
		if t.Mode != "" && t.Mode != "static" && t.Mode != "dynamicCa" {
			errs = append(errs, agentgateway.Errorf(lp+".tls.mode", "unknown mode %q (static, dynamicCa)", t.Mode))
		}
		if t.MinTLSVersion != "" && t.MinTlsVersion != "" {
			errs = append(errs, agentgateway.Errorf(lp+".tls", "set minTLSVersion or minTlsVersion, not both"))
		}
		if t.MaxTLSVersion != "" && t.MaxTlsVersion != "" {
			errs = append(errs, agentgateway.Errorf(lp+".tls", "set maxTLSVersion or maxTlsVersion, not both"))
		}
	}
	for k, r := range l.TCPRoutes {
		rp := fmt.Sprintf("%s.tcpRoutes[%d]", lp, k)
		if len(r.Backends) == 0 {
			errs = append(errs, agentgateway.Errorf(rp+".backends", "a TCP route needs backends"))
		}
		for m, b := range r.Backends {
			n := 0
			for _, set := range []bool{b.Host != "", b.Service != nil, b.Backend != "", b.Dynamic != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				errs = append(errs, agentgateway.Errorf(fmt.Sprintf("%s.backends[%d]", rp, m), "set exactly one of host, service, backend, dynamic"))
			}
		}
	}
	return errs
}

// validateBindMode checks mode and tunnelProtocol.
func (b *BindSpec) validateMode(path string) []error {
	var errs []error
	switch b.Mode {
	case "", "standard", "internal":
	default:
		errs = append(errs, agentgateway.Errorf(path+".mode", "unknown mode %q (standard, internal)", b.Mode))
	}
	switch strings.ToLower(b.TunnelProtocol) {
	case "", "direct":
	case "connect":
		if b.Mode == "internal" {
			errs = append(errs, agentgateway.Errorf(path+".tunnelProtocol", "an internal bind cannot terminate CONNECT: it has no socket"))
		}
		if len(b.Listeners) > 0 {
			errs = append(errs, agentgateway.Errorf(path+".listeners", "a CONNECT bind serves CONNECT only: its tunnels are served by the bind of their target port, so leave listeners empty"))
		}
	default:
		errs = append(errs, agentgateway.Errorf(path+".tunnelProtocol", "tunnel protocol %q is not supported (direct, connect): no mesh tunnels in this gateway", b.TunnelProtocol))
	}
	return errs
}

// portConfig is the agentgateway.PortConfig of a bind, if it needs one.
func (b *BindSpec) portConfig(port int) (agentgateway.PortConfig, bool) {
	pc := agentgateway.PortConfig{Port: port, Internal: b.Mode == "internal"}
	if strings.EqualFold(b.TunnelProtocol, "connect") {
		pc.Tunnel = agentgateway.TunnelConnect
	}
	return pc, pc.Internal || pc.Tunnel != agentgateway.TunnelDirect
}

// l4Listener fills in a TCP or TLS listener.
func (l *loader) l4Listener(lc *agentgateway.ListenerConfig, ls ListenerSpec, path string) {
	lc.Protocol = agentgateway.ProtocolTCP
	if strings.EqualFold(ls.Protocol, "TLS") {
		lc.Protocol = agentgateway.ProtocolTLS
		if ls.TLS != nil {
			lc.TLS = l.serverTLS(*ls.TLS, path+".tls")
		}
	}
	for i, rs := range ls.TCPRoutes {
		lc.TCPRoutes = append(lc.TCPRoutes, l.tcpRoute(rs, fmt.Sprintf("%s.tcpRoutes[%d]", path, i), i))
	}
}

func (l *loader) tcpRoute(rs TCPRouteSpec, path string, idx int) agentgateway.TCPRouteConfig {
	name := rs.Name
	if name == "" {
		name = fmt.Sprintf("tcproute%d", idx)
	}
	rc := agentgateway.TCPRouteConfig{Name: name, Hostnames: rs.Hostnames}
	bc := l.bc.At(path)
	var routeTLS *tls.Config
	if rs.Policies != nil && rs.Policies.BackendTLS != nil {
		routeTLS = l.tcpBackendTLS(bc.At("policies.backendTLS"), *rs.Policies.BackendTLS)
	}
	for i, bs := range rs.Backends {
		b, err := l.tcpBackend(bc.At(fmt.Sprintf("backends[%d]", i)), bs, routeTLS)
		if err != nil {
			l.errs = append(l.errs, err)
			continue
		}
		rc.Backends = append(rc.Backends, b)
	}
	return rc
}

func (l *loader) tcpBackendTLS(bc *BuildContext, s backendTLSSpec) *tls.Config {
	p, err := buildBackendTLS(bc, s)
	if err != nil {
		l.errs = append(l.errs, err)
		return nil
	}
	cfg := p.(*policy.BackendTLS).Transport().TLSClientConfig.Clone()
	if len(s.ALPN) == 0 {
		cfg.NextProtos = nil // raw TCP: offer no application protocol unless told to
	}
	return cfg
}

func (l *loader) tcpBackend(bc *BuildContext, bs TCPBackendSpec, routeTLS *tls.Config) (agentgateway.TCPBackend, error) {
	b := agentgateway.TCPBackend{Weight: 1, TLS: routeTLS}
	if bs.Weight != nil {
		b.Weight = *bs.Weight
	}
	switch {
	case bs.Host != "":
		b.Address = bs.Host
	case bs.Service != nil:
		if dial, ok, err := catalogTCPDial(bc.At("service"), *bs.Service); ok { // a service of the file's `services`
			if err != nil {
				return b, bc.Errorf("service", "%w", err)
			}
			b.Name, b.Dial = bs.Service.Name, dial
			break
		}
		hp, err := bc.Service("service", *bs.Service)
		if err != nil {
			return b, err
		}
		b.Address = hp
	case bs.Backend != "":
		nb, err := bc.namedBackend("backend", bs.Backend)
		if err != nil {
			return b, err
		}
		if nb.spec.Kind != "host" {
			return b, bc.Errorf("backend", "backend %q is a %s backend; a TCP route needs a host backend", bs.Backend, nb.spec.Kind)
		}
		host, err := Decode[string](nb.spec.Spec)
		if err != nil {
			return b, err
		}
		b.Address = host
	case bs.Dynamic != nil:
		dial, err := dynamicTarget(bc.At("dynamic.target"), bs.Dynamic.Target)
		if err != nil {
			return b, err
		}
		b.Name = "dynamic"
		b.Dial = func(ctx context.Context, c *agentgateway.ConnInfo) (net.Conn, error) {
			target, err := dial(ctx, c)
			if err != nil {
				return nil, err
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", target)
		}
	}
	if b.Address != "" {
		if _, p, err := net.SplitHostPort(b.Address); err != nil {
			return b, bc.Errorf("host", "want host:port: %v", err)
		} else if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return b, bc.Errorf("host", "invalid port %q", p)
		}
	}
	if d := bc.res.dial; d != nil && b.Address != "" && b.Dial == nil && (bs.Policies == nil || bs.Policies.BackendTunnel == nil) {
		addr := b.Address // the file's dialer (SetDialer) connects it
		b.Dial = func(ctx context.Context, _ *agentgateway.ConnInfo) (net.Conn, error) { return d(ctx, "tcp", addr) }
	}
	if p := bs.Policies; p != nil {
		if p.BackendTLS != nil {
			b.TLS = l.tcpBackendTLS(bc.At("policies.backendTLS"), *p.BackendTLS)
		}
		if t := p.BackendTunnel; t != nil {
			if err := l.tunnel(bc.At("policies.backendTunnel"), t, &b); err != nil {
				return b, err
			}
		}
	}
	return b, nil
}

// tunnel makes b dial through the CONNECT proxy of t.
func (l *loader) tunnel(bc *BuildContext, t *TunnelSpec, b *agentgateway.TCPBackend) error {
	proxy, err := tunnelProxy(bc, t)
	if err != nil {
		return err
	}
	direct, addr := b.Dial, b.Address
	if direct != nil {
		return bc.Errorf("", "a dynamic backend cannot be tunnelled")
	}
	b.Dial = func(ctx context.Context, _ *agentgateway.ConnInfo) (net.Conn, error) {
		return agentgateway.DialThroughConnect(ctx, proxy, addr, nil)
	}
	return nil
}

// tunnelProxy is the host:port of a backendTunnel's HTTP CONNECT proxy.
func tunnelProxy(bc *BuildContext, t *TunnelSpec) (string, error) {
	if !t.Policies.IsZero() {
		return "", bc.Errorf("policies", "policies for the tunnel proxy are not supported")
	}
	var proxy string
	switch r := t.Proxy; {
	case r.Host != "" && r.Service == nil && r.Backend == "":
		proxy = r.Host
	case r.Service != nil && r.Host == "" && r.Backend == "":
		hp, err := bc.Service("proxy.service", *r.Service)
		if err != nil {
			return "", err
		}
		proxy = hp
	default:
		return "", bc.Errorf("proxy", "set exactly one of host, service")
	}
	if _, _, err := net.SplitHostPort(proxy); err != nil {
		return "", bc.Errorf("proxy.host", "want host:port: %v", err)
	}
	return proxy, nil
}

var connVars = []celgo.EnvOption{celgo.Variable("destination", celgo.MapType(celgo.StringType, celgo.DynType))}

// connActivation exposes a connection to CEL: source.address/port and destination.address/port/
// hostname.
func connActivation(c *agentgateway.ConnInfo) *cel.Activation {
	dst := map[string]any{"port": int64(c.Destination.Port()), "hostname": c.Hostname, "address": ""}
	if c.Destination.Addr().IsValid() {
		dst["address"] = c.Destination.Addr().String()
	}
	a := cel.NewActivation(nil, &agentgateway.State{Source: c.Source})
	a.Extra = map[string]any{"destination": dst}
	return a
}

// dynamicTarget compiles a dynamic TCP backend's target: expr, or the connection's hostname on its
// destination port.
func dynamicTarget(bc *BuildContext, expr string) (func(context.Context, *agentgateway.ConnInfo) (string, error), error) {
	if expr == "" {
		return func(_ context.Context, c *agentgateway.ConnInfo) (string, error) {
			if c.Hostname == "" {
				return "", fmt.Errorf("config: dynamic TCP backend: the connection has no hostname (no SNI) to dial")
			}
			return net.JoinHostPort(c.Hostname, strconv.Itoa(int(c.Destination.Port()))), nil
		}, nil
	}
	p, err := cel.CompileWith(expr, celgo.StringType, connVars...)
	if err != nil {
		return nil, bc.Errorf("", "%w", err)
	}
	return func(ctx context.Context, c *agentgateway.ConnInfo) (string, error) {
		return p.EvalString(ctx, connActivation(c))
	}, nil
}
