package agentgateway

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// portPlan is how one port's connections are served: what [Gateway.Run] binds (or, for an internal
// port, keeps ready for CONNECT re-entry) and what the first bytes of a connection decide.
type portPlan struct {
	internal bool
	connect  bool                   // a CONNECT tunnel port
	tcp      *l4Listener            // the port's TCP listener
	sni      *hostIndex[sniTarget]  // TLS and HTTPS listeners by server name, when the port has TLS listeners
	http     bool                   // the port has HTTP or HTTPS listeners
	https    bool                   // its HTTP listeners have TLS
	names    map[string]*l4Listener // the port's TCP and TLS listeners by name
}

// sniTarget is what a server name selects on a port with TLS listeners: a TLS listener (its TCP
// routes), or an HTTPS listener (served by the HTTP server).
type sniTarget struct {
	l4    *l4Listener
	https *compiledListener
}

type l4Listener struct {
	name   string
	port   int
	proto  ListenerProtocol
	tls    *tls.Config // a TLS listener that terminates; nil passes through
	routes *hostIndex[*l4Route]
}

type l4Route struct {
	name     string
	listener string
	backends []TCPBackend
	total    int
}

func sortWildcardsOf[T any](idx *hostIndex[T]) {
	slices.SortStableFunc(idx.wildcard, func(a, b wildcardEntry[T]) int {
		return cmp.Compare(len(b.suffix), len(a.suffix))
	})
}

func addToIndex[T any](c *compiler, idx *hostIndex[T], hosts []string, path string, v T) {
	c.addHosts(hosts, path, func(h string) {
		if _, dup := idx.exact[h]; !dup {
			idx.exact[h] = v
		}
	}, func(suffix string) {
		idx.wildcard = append(idx.wildcard, wildcardEntry[T]{suffix, v})
	}, func() {
		if !idx.hasAny {
			idx.any, idx.hasAny = v, true
		}
	})
}

// l4Plans compiles the TCP and TLS listeners and the port settings into one plan per port; ls are
// the compiled HTTP listeners (nil at the index of a TCP or TLS listener).
func (c *compiler) l4Plans(cfg Config, ls []*compiledListener, s *snapshot) map[int]*portPlan {
	plans := map[int]*portPlan{}
	plan := func(p int) *portPlan {
		pp := plans[p]
		if pp == nil {
			pp = &portPlan{names: map[string]*l4Listener{}}
			plans[p] = pp
		}
		return pp
	}
	for p := range s.byPort {
		plan(p).http = true
		plans[p].https = s.tlsByPort[p] != nil
	}
	seen := map[int]bool{}
	for i, pc := range cfg.Ports {
		path := fmt.Sprintf("ports[%d]", i)
		switch {
		case pc.Port < 1 || pc.Port > 65535:
			c.errf(path+".port", "port %d out of range", pc.Port)
			continue
		case seen[pc.Port]:
			c.errf(path+".port", "port %d is configured twice", pc.Port)
		}
		seen[pc.Port] = true
		pp := plan(pc.Port)
		pp.internal = pc.Internal
		switch pc.Tunnel {
		case TunnelDirect:
		case TunnelConnect:
			pp.connect = true
		default:
			c.errf(path+".tunnel", "unknown tunnel protocol %d", pc.Tunnel)
		}
	}
	for i := range cfg.Listeners {
		lc := &cfg.Listeners[i]
		path := fmt.Sprintf("listeners[%d]", i)
		if lc.Protocol == ProtocolHTTP {
			if len(lc.TCPRoutes) > 0 {
				c.errf(path+".tcpRoutes", "an HTTP listener has HTTP routes; TCP routes need protocol TCP or TLS")
			}
			continue
		}
		if lc.Protocol != ProtocolTCP && lc.Protocol != ProtocolTLS {
			c.errf(path+".protocol", "unknown protocol %d", lc.Protocol)
			continue
		}
		if len(lc.Routes) > 0 {
			c.errf(path+".routes", "a %s listener has TCP routes, not HTTP routes", lc.Protocol)
		}
		if lc.Port == 0 {
			c.errf(path+".port", "a %s listener needs a port", lc.Protocol)
			continue
		}
		pp := plan(lc.Port)
		l := c.l4Listener(lc, path)
		if _, dup := pp.names[lc.Name]; dup {
			c.errf(path+".name", "duplicate listener %q on port %d", lc.Name, lc.Port)
		}
		pp.names[lc.Name] = l
		switch lc.Protocol {
		case ProtocolTCP:
			if pp.tcp != nil || pp.http || pp.sni != nil {
				c.errf(path+".protocol", "port %d has other listeners; a TCP listener must be alone on its port", lc.Port)
			}
			if len(lc.Hostnames) > 0 {
				c.errf(path+".hostnames", "a TCP connection carries no hostname; use protocol TLS to route by SNI")
			}
			pp.tcp = l
		case ProtocolTLS:
			if pp.tcp != nil || (pp.http && !pp.https) {
				c.errf(path+".protocol", "port %d mixes TLS and plain listeners", lc.Port)
			}
			if pp.sni == nil {
				pp.sni = &hostIndex[sniTarget]{exact: map[string]sniTarget{}}
			}
		}
	}
	// One SNI index per port with TLS listeners, over its TLS and HTTPS listeners in definition order,
	// so that the most specific name wins whichever kind of listener it belongs to.
	for i := range cfg.Listeners {
		lc := &cfg.Listeners[i]
		pp := plans[lc.Port]
		if pp == nil || pp.sni == nil || lc.Port == 0 {
			continue
		}
		switch {
		case lc.Protocol == ProtocolTLS:
			addToIndex(c, pp.sni, lc.Hostnames, "", sniTarget{l4: pp.names[lc.Name]})
		case lc.Protocol == ProtocolHTTP && lc.TLS != nil && ls[i] != nil:
			addToIndex(c, pp.sni, lc.Hostnames, "", sniTarget{https: ls[i]})
		}
	}
	for _, pp := range plans {
		if pp.sni != nil {
			sortWildcardsOf(pp.sni)
		}
		if pp.connect && (pp.tcp != nil || pp.sni != nil || pp.http) {
			c.errf("ports", "a CONNECT tunnel port serves CONNECT only; it cannot have listeners")
		}
	}
	return plans
}

func (c *compiler) l4Listener(lc *ListenerConfig, path string) *l4Listener {
	l := &l4Listener{name: lc.Name, port: lc.Port, proto: lc.Protocol, routes: &hostIndex[*l4Route]{exact: map[string]*l4Route{}}}
	c.addHosts(lc.Hostnames, path+".hostnames", func(string) {}, func(string) {}, func() {})
	if lc.TLS != nil {
		if lc.Protocol == ProtocolTCP {
			c.errf(path+".tls", "a TCP listener does not terminate TLS; use protocol TLS")
		} else if len(lc.TLS.Certificates) == 0 && lc.TLS.GetCertificate == nil && lc.TLS.GetConfigForClient == nil {
			c.errf(path+".tls", "no certificate (set Certificates, GetCertificate or GetConfigForClient)")
		} else {
			l.tls = lc.TLS.Clone()
			if l.tls.MinVersion == 0 {
				l.tls.MinVersion = tls.VersionTLS12
			}
		}
	}
	names := map[string]bool{}
	for i := range lc.TCPRoutes {
		rc := &lc.TCPRoutes[i]
		rpath := fmt.Sprintf("%s.tcpRoutes[%d]", path, i)
		if rc.Name != "" {
			if names[rc.Name] {
				c.errf(rpath+".name", "duplicate route name %q", rc.Name)
			}
			names[rc.Name] = true
		}
		if lc.Protocol == ProtocolTCP && len(rc.Hostnames) > 0 {
			c.errf(rpath+".hostnames", "a TCP connection carries no hostname; use protocol TLS to route by SNI")
		}
		r := &l4Route{name: rc.Name, listener: lc.Name}
		if len(rc.Backends) == 0 {
			c.errf(rpath+".backends", "a TCP route needs backends")
		}
		for j, b := range rc.Backends {
			bpath := fmt.Sprintf("%s.backends[%d]", rpath, j)
			switch {
			case b.Weight < 0:
				c.errf(bpath+".weight", "negative weight %d", b.Weight)
			case b.Dial == nil && b.Address == "":
				c.errf(bpath, "set Address or Dial")
			case b.Dial == nil:
				if _, p, err := net.SplitHostPort(b.Address); err != nil {
					c.errf(bpath+".address", "want host:port: %v", err)
				} else if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
					c.errf(bpath+".address", "invalid port %q", p)
				}
			}
			r.total += max(b.Weight, 0)
			if b.Name == "" {
				b.Name = b.Address
			}
			r.backends = append(r.backends, b)
		}
		addToIndex(c, l.routes, rc.Hostnames, rpath+".hostnames", r)
	}
	sortWildcardsOf(l.routes)
	return l
}

// connectAllowed reports whether a CONNECT to host:port has somewhere to go: a port that is served
// (bound or internal, not itself a CONNECT port) with a listener, and for a TLS listener a route,
// that would take host.
func (s *snapshot) connectAllowed(host string, port int) bool {
	pp := s.plans[port]
	if pp == nil || pp.connect {
		return false
	}
	host = serverName(host)
	switch {
	case pp.tcp != nil:
		return true
	case pp.sni != nil:
		t, ok := pp.sni.lookup(host)
		if !ok {
			return false
		}
		if t.l4 != nil {
			_, ok = t.l4.routes.lookup(host)
		}
		return ok
	case pp.https:
		_, ok := s.tlsByPort[port].lookup(host)
		return ok
	case pp.http:
		_, ok := s.byPort[port].lookup(host)
		return ok
	}
	return false
}

// pick chooses a backend by weight.
func (r *l4Route) pick(rnd func(int) int) (TCPBackend, bool) {
	if r.total <= 0 {
		return TCPBackend{}, false
	}
	n := 0
	if rnd != nil && r.total > 1 {
		n = rnd(r.total)
	}
	for _, b := range r.backends {
		if n < b.Weight {
			return b, true
		}
		n -= max(b.Weight, 0)
	}
	return r.backends[len(r.backends)-1], true
}

func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]")
	}
	return h
}
