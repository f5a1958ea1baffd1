package agentgateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// arrival records which port a request came in on. Run puts one in every connection's context, and
// PortHandler in every request's; other servers (Serve, httptest) are placed by their local address.
type arrival struct {
	port int
	run  bool       // accepted by Run: the port's TLS settings governed the connection
	tls  *handshake // for a TLS connection accepted by Run; nil for plain ones
}

type arrivalKey struct{}

// handshake remembers the listener whose TLS settings (certificate, client CA) a connection was
// accepted under, so its requests cannot reach another listener by naming a different Host.
type handshake struct {
	picked bool // set once the handshake chose a listener
	port   int
	name   string
}

// PortHandler returns a handler that serves requests as if they had arrived on port: only the listeners
// naming port and the port-less (Port 0) listeners can serve them. It lets a configuration whose
// listeners name ports be tested with httptest.NewServer(gw.PortHandler(8080)). TLS is not applied: the
// certificate choice and the SNI checks belong to the connections [Gateway.Run] accepts.
func (g *Gateway) PortHandler(port int) http.Handler {
	a := &arrival{port: port}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), arrivalKey{}, a)))
	})
}

// listenerFor finds the listener for r: among those naming the port r arrived on and the port-less
// ones, or, on a port no listener names, among the port-less ones only, so a port never serves
// another port's routes. refused reports a request on a TLS connection that Run accepted for a
// different listener (the client's SNI chose one certificate, its Host header another listener).
func (s *snapshot) listenerFor(r *http.Request) (l *compiledListener, host string, refused bool) {
	idx := s.anyPort
	ctx := r.Context()
	a, _ := ctx.Value(arrivalKey{}).(*arrival)
	port := 0
	if a != nil {
		port = a.port
	} else if la, ok := ctx.Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		port = la.Port
	}
	if pi, ok := s.byPort[port]; ok {
		idx = pi
	}
	host = hostOnly(r.Host)
	l, ok := idx.lookup(host)
	if !ok {
		return nil, host, false
	}
	if a != nil && a.run && s.tlsByPort[a.port] != nil {
		// A plain connection on a TLS port predates a reload that turned TLS on; a TLS connection must
		// stay with the listener whose certificate and client-certificate rules it was accepted under.
		if a.tls == nil || !a.tls.picked || a.tls.port != l.port || a.tls.name != l.name {
			return l, host, true
		}
	}
	return l, host, false
}

// misdirected answers requests that listenerFor refused; 421 tells clients to retry on a new connection.
var misdirected = &entry{plen: -1, route: &compiledRoute{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMisdirectedRequest, "misdirected request: the connection was made for another listener")
})}}

// serverName normalises a ClientHello's SNI like a Host header.
func serverName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// tlsForClient picks the TLS settings of the listener on port whose hostnames match the client's SNI:
// exact, then the longest wildcard, then a listener without hostnames. It is the GetConfigForClient of
// every TLS connection Run accepts, so it always reads the current table.
func (g *Gateway) tlsForClient(port int, hello *tls.ClientHelloInfo, hs *handshake) (*tls.Config, error) {
	idx := g.snap.Load().tlsByPort[port]
	if idx == nil {
		return nil, fmt.Errorf("agentgateway: port %d no longer serves TLS", port)
	}
	l, ok := idx.lookup(serverName(hello.ServerName))
	if !ok {
		return nil, fmt.Errorf("agentgateway: no listener on port %d for server name %q", port, hello.ServerName)
	}
	cfg := l.tls
	if cfg.GetConfigForClient != nil {
		// Go calls GetConfigForClient only on the config a connection starts with, which is ours.
		c, err := cfg.GetConfigForClient(hello)
		if err != nil {
			return nil, err
		}
		if c != nil {
			cfg = c
		}
	}
	hs.picked, hs.port, hs.name = true, l.port, l.name
	return cfg, nil
}

// tlsIndexes checks that the listeners sharing a port are all TLS or all plain, and indexes the TLS
// ones of each port by hostname for the certificate choice.
func (c *compiler) tlsIndexes(cfg Config, ls []*compiledListener) map[int]*hostIndex[*compiledListener] {
	out := map[int]*hostIndex[*compiledListener]{}
	plain := map[int]bool{}  // ports with a plain listener so far
	secure := map[int]bool{} // ports with a TLS listener so far
	for i := range cfg.Listeners {
		lc := &cfg.Listeners[i]
		path := fmt.Sprintf("listeners[%d]", i)
		if lc.Protocol != ProtocolHTTP {
			continue
		}
		if lc.TLS == nil {
			if secure[lc.Port] && lc.Port != 0 {
				c.errf(path+".tls", "port %d mixes plain and TLS listeners", lc.Port)
			}
			plain[lc.Port] = true
			continue
		}
		switch {
		case lc.Port == 0:
			c.errf(path+".tls", "TLS needs a port: Run binds only listeners that name one")
			continue
		case len(lc.TLS.Certificates) == 0 && lc.TLS.GetCertificate == nil && lc.TLS.GetConfigForClient == nil:
			c.errf(path+".tls", "no certificate (set Certificates, GetCertificate or GetConfigForClient)")
			continue
		}
		if plain[lc.Port] {
			c.errf(path+".tls", "port %d mixes plain and TLS listeners", lc.Port)
		}
		secure[lc.Port] = true
		tc := lc.TLS.Clone()
		if len(tc.NextProtos) == 0 {
			tc.NextProtos = []string{"h2", "http/1.1"}
		}
		if tc.MinVersion == 0 {
			tc.MinVersion = tls.VersionTLS12
		}
		ls[i].tls = tc
		idx := out[lc.Port]
		if idx == nil {
			idx = &hostIndex[*compiledListener]{exact: map[string]*compiledListener{}}
			out[lc.Port] = idx
		}
		l := ls[i]
		c.addHosts(lc.Hostnames, "", func(h string) {
			if _, dup := idx.exact[h]; !dup {
				idx.exact[h] = l
			}
		}, func(suffix string) {
			idx.wildcard = append(idx.wildcard, wildcardEntry[*compiledListener]{suffix, l})
		}, func() {
			if !idx.hasAny {
				idx.any, idx.hasAny = l, true
			}
		})
	}
	for _, idx := range out {
		sortWildcards(idx)
	}
	return out
}
