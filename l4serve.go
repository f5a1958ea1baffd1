package agentgateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// connSet tracks the connections a port serves outside its HTTP server (TCP and TLS routes, and
// connections still being inspected), for the drain.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	// ctx is cancelled at the drain deadline, so that dials and handshakes in progress stop too.
	ctx    context.Context
	cancel context.CancelFunc
}

func newConnSet() connSet {
	ctx, cancel := context.WithCancel(context.Background())
	return connSet{ctx: ctx, cancel: cancel}
}

func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *connSet) done(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// drain waits for the connections to end until ctx is done, then closes those left.
func (s *connSet) drain(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// chanListener hands the HTTP server the connections serveConn has inspected and found to be HTTP.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// internalAddr is the address of an internal port, which has no socket.
type internalAddr int

func (a internalAddr) Network() string { return "internal" }
func (a internalAddr) String() string  { return "internal:" + strconv.Itoa(int(a)) }

// l4Conn is a downstream connection after inspection: bytes already read are replayed, and the
// addresses are those a PROXY header or a CONNECT tunnel gave it.
type l4Conn struct {
	net.Conn
	src, dst net.Addr
}

func (c *l4Conn) RemoteAddr() net.Addr {
	if c.src != nil {
		return c.src
	}
	return c.Conn.RemoteAddr()
}

func (c *l4Conn) LocalAddr() net.Addr {
	if c.dst != nil {
		return c.dst
	}
	return c.Conn.LocalAddr()
}

func (c *l4Conn) CloseWrite() error { return closeWrite(c.Conn) }

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case nil:
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// acceptLoop accepts the port's connections and serves each in its own goroutine, so that reading a
// PROXY header or a ClientHello never holds up the next accept.
func (g *Gateway) acceptLoop(bp *boundPort) {
	var backoff time.Duration
	for {
		c, err := bp.raw.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				_ = bp.http.Close()
				return
			}
			// Out of file descriptors and the like: wait and retry, as net/http does, rather than
			// stop serving the port.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			g.opts.logger.Warn("accepting a connection", "port", bp.port, "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if k := g.opts.keepAlive; k != nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetKeepAliveConfig(*k)
			}
		}
		go g.serveConn(bp, c, nil)
	}
}

// tunnelTarget is what a CONNECT tunnel tells about the connection it re-enters.
type tunnelTarget struct {
	host string
	port int
}

// serveConn inspects a connection as its port's plan says, authorizes it and serves it: to the port's
// HTTP server, a TCP route, or a TLS route.
func (g *Gateway) serveConn(bp *boundPort, c net.Conn, via *tunnelTarget) {
	if !bp.l4.add(c) {
		_ = c.Close()
		return
	}
	handedOff := false
	defer func() {
		bp.l4.done(c)
		if !handedOff {
			_ = c.Close()
		}
	}()
	s := g.snap.Load()
	pp := s.plans[bp.port]
	if pp == nil {
		return // the port was dropped by a reload; it is draining
	}
	info := &ConnInfo{Port: bp.port}
	conn := &l4Conn{Conn: c}
	var br *bufio.Reader
	// Bound the reading of what the gateway inspects (PROXY header, ClientHello) and the TLS handshake.
	deadline := time.Now().Add(g.handshakeTimeout())
	peek := pp.sni != nil || (pp.https && g.opts.netAuthz != nil)
	inspect := peek || (g.opts.proxy != nil && via == nil)
	if inspect {
		_ = c.SetReadDeadline(deadline)
	}
	if g.opts.proxy != nil && via == nil {
		br = bufio.NewReaderSize(c, peekBufferSize)
		h, err := readProxyHeader(br, *g.opts.proxy)
		if err != nil {
			g.opts.logger.Warn("closing connection", "port", bp.port, "peer", c.RemoteAddr().String(), "error", err)
			return
		}
		if h != nil && !h.local {
			conn.src, conn.dst = net.TCPAddrFromAddrPort(h.src), net.TCPAddrFromAddrPort(h.dst)
		}
	}
	info.Source, info.Destination = addrPortOf(conn.RemoteAddr()), addrPortOf(conn.LocalAddr())
	if via != nil {
		info.Hostname = via.host
		if a, err := netip.ParseAddr(via.host); err == nil {
			info.Destination = netip.AddrPortFrom(a, uint16(via.port))
		} else {
			info.Destination = netip.AddrPortFrom(netip.Addr{}, uint16(via.port))
		}
	}
	var target sniTarget
	if peek {
		if br == nil {
			br = bufio.NewReaderSize(c, peekBufferSize)
		}
		sni, err := peekClientHello(br)
		switch {
		case err != nil && pp.sni != nil:
			g.opts.logger.Warn("closing connection", "port", bp.port, "source", info.Source.String(), "error", err)
			return
		case sni != "":
			info.Hostname = sni
		}
		if pp.sni != nil {
			t, ok := pp.sni.lookup(serverName(info.Hostname))
			if !ok {
				g.opts.logger.Warn("closing connection: no listener for the server name", "port", bp.port, "source", info.Source.String(), "sni", info.Hostname)
				return
			}
			target = t
		}
	}
	if br != nil && br.Buffered() > 0 {
		conn.Conn = &prefixConn{Conn: c, prefix: mustPeek(br)}
	}
	if g.opts.netAuthz != nil && !g.opts.netAuthz(bp.l4.ctx, info) {
		g.opts.logger.Warn("connection denied by network authorization", "port", bp.port, "source", info.Source.String(), "destination", info.Destination.String(), "sni", info.Hostname)
		return
	}
	var l4 *l4Listener
	switch {
	case pp.connect || (pp.http && pp.sni == nil) || target.https != nil:
		if inspect {
			_ = c.SetReadDeadline(time.Time{})
		}
		hc := net.Conn(conn)
		if pp.https && !pp.connect {
			hs := &handshake{}
			tc := tls.Server(&handshakeConn{Conn: conn, hs: hs}, &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				return g.tlsForClient(bp.port, hello, hs)
			}})
			ctx, cancel := context.WithDeadline(bp.l4.ctx, deadline)
			err := tc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				g.opts.logger.Debug("TLS handshake failed", "port", bp.port, "source", info.Source.String(), "error", err)
				return
			}
			hc = tc
		}
		if bp.lean != nil && hc == net.Conn(conn) && !pp.connect {
			handedOff = true
			go bp.lean.ServeConn(hc)
			return
		}
		if bp.http.push(hc) {
			handedOff = true
		}
		return
	case pp.tcp != nil:
		l4 = pp.tcp
	case target.l4 != nil:
		l4 = target.l4
	default:
		return
	}
	info.Listener = l4.name
	route, ok := l4.routes.lookup(serverName(info.Hostname))
	if !ok {
		g.opts.logger.Warn("closing connection: no TCP route", "listener", l4.name, "source", info.Source.String(), "sni", info.Hostname)
		return
	}
	info.Route = route.name
	down := net.Conn(conn)
	if l4.tls != nil {
		tc := tls.Server(conn, l4.tls)
		ctx, cancel := context.WithDeadline(bp.l4.ctx, deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			g.opts.logger.Debug("TLS handshake failed", "listener", l4.name, "source", info.Source.String(), "error", err)
			return
		}
		down = tc
	}
	if inspect {
		_ = c.SetReadDeadline(time.Time{})
	}
	g.proxyTCP(bp, down, info, route)
}

func (g *Gateway) handshakeTimeout() time.Duration {
	if d := g.opts.frontTLS.HandshakeTimeout; d > 0 {
		return d
	}
	return DefaultTLSHandshakeTimeout
}

// tuneTLS applies WithFrontendTLS to the TLS settings of a new snapshot's listeners (copies that
// compile made), once, before the snapshot serves.
func (g *Gateway) tuneTLS(s *snapshot) {
	for _, idx := range s.tlsByPort {
		seen := map[*compiledListener]bool{}
		each := func(l *compiledListener) {
			if !seen[l] && l.tls != nil {
				seen[l] = true
				g.frontTLSConfig(l.tls)
			}
		}
		for _, l := range idx.exact {
			each(l)
		}
		for _, w := range idx.wildcard {
			each(w.v)
		}
		if idx.hasAny {
			each(idx.any)
		}
	}
	for _, pp := range s.plans {
		for _, l := range pp.names {
			if l.tls != nil {
				g.frontTLSConfig(l.tls)
			}
		}
	}
}

// frontTLSConfig applies WithFrontendTLS to c in place. A listener's own settings win: the frontend
// only raises its minimum version, only lowers its maximum, and fills suites and groups it left unset.
func (g *Gateway) frontTLSConfig(c *tls.Config) {
	f := &g.opts.frontTLS
	if f.MinVersion > c.MinVersion {
		c.MinVersion = f.MinVersion
	}
	if f.MaxVersion != 0 && (c.MaxVersion == 0 || f.MaxVersion < c.MaxVersion) {
		c.MaxVersion = f.MaxVersion
	}
	if len(f.CipherSuites) > 0 && len(c.CipherSuites) == 0 {
		c.CipherSuites = f.CipherSuites
	}
	if len(f.ALPN) > 0 { // listeners have no ALPN setting of their own (theirs is a default)
		c.NextProtos = f.ALPN
	}
	if len(f.CurvePreferences) > 0 && len(c.CurvePreferences) == 0 {
		c.CurvePreferences = make([]tls.CurveID, len(f.CurvePreferences))
		for i, v := range f.CurvePreferences {
			c.CurvePreferences[i] = tls.CurveID(v)
		}
	}
}

// proxyTCP connects down to a backend of route and copies bytes both ways until both sides have
// finished (each direction's end is passed on as a half-close), the idle timeout passes, or the
// port's drain deadline closes the connection.
func (g *Gateway) proxyTCP(bp *boundPort, down net.Conn, info *ConnInfo, route *l4Route) {
	start := time.Now()
	b, ok := route.pick(g.opts.rnd)
	if !ok {
		g.opts.logger.Warn("closing connection: every backend of the TCP route has weight 0", "route", route.name)
		return
	}
	ctx, cancel := context.WithTimeout(bp.l4.ctx, g.opts.tcp.Connect)
	up, err := g.dialTCP(ctx, b, info)
	cancel()
	if err != nil {
		g.opts.logger.Warn("TCP backend unreachable", "listener", info.Listener, "route", route.name, "backend", b.Name, "source", info.Source.String(), "error", err)
		return
	}
	defer up.Close()
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var closeOnce sync.Once
	closeBoth := func() { closeOnce.Do(func() { _ = down.Close(); _ = up.Close() }) }
	if idle := g.opts.tcp.Idle; idle > 0 {
		var t *time.Timer
		t = time.AfterFunc(idle, func() {
			if left := idle - time.Since(time.Unix(0, last.Load())); left > 0 {
				t.Reset(left)
				return
			}
			closeBoth()
		})
		defer t.Stop()
	}
	var in, out atomic.Int64
	var wg sync.WaitGroup
	copyHalf := func(dst, src net.Conn, n *atomic.Int64) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			k, err := src.Read(buf)
			if k > 0 {
				last.Store(time.Now().UnixNano())
				if _, werr := dst.Write(buf[:k]); werr != nil {
					closeBoth()
					return
				}
				n.Add(int64(k))
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					_ = closeWrite(dst) // pass the half-close on; the other direction may go on
				} else {
					closeBoth()
				}
				return
			}
		}
	}
	wg.Add(2)
	go copyHalf(up, down, &in)
	go copyHalf(down, up, &out)
	wg.Wait()
	closeBoth()
	// One line per TCP connection, whatever logs HTTP requests (the built-in access log or an observer):
	// nothing else records L4 traffic.
	g.opts.logger.Info("tcp connection", "listener", info.Listener, "route", route.name, "backend", b.Name,
		"src.addr", info.Source.String(), "dst.addr", info.Destination.String(), "sni", info.Hostname,
		"bytes_in", in.Load(), "bytes_out", out.Load(), "duration", time.Since(start).Round(time.Millisecond))
}

func (g *Gateway) dialTCP(ctx context.Context, b TCPBackend, info *ConnInfo) (net.Conn, error) {
	var up net.Conn
	var err error
	if b.Dial != nil {
		up, err = b.Dial(ctx, info)
	} else {
		var d net.Dialer
		up, err = d.DialContext(ctx, "tcp", b.Address)
	}
	if err != nil || b.TLS == nil {
		return up, err
	}
	cfg := b.TLS
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		// Verify the name the backend was dialled by: its address, or for a computed target the
		// connection's own server name.
		cfg = cfg.Clone()
		cfg.ServerName = hostOf(b.Address)
		if b.Address == "" {
			cfg.ServerName = info.Hostname
		}
	}
	tc := tls.Client(up, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = up.Close()
		return nil, err
	}
	return tc, nil
}

// serveRunHTTP is the handler of the HTTP servers Run starts: CONNECT handling as the port and
// WithConnectMode say, then next (the gateway, or what WithServerConfig made of it).
func (g *Gateway) serveRunHTTP(port int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pp := g.snap.Load().plans[port]
		if pp != nil && pp.connect {
			g.serveConnect(w, r)
			return
		}
		if r.Method == http.MethodConnect {
			switch g.opts.connectMode {
			case ConnectDeny:
				writeError(w, http.StatusMethodNotAllowed, "CONNECT is not allowed")
				return
			case ConnectTunnel:
				g.serveConnect(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// serveConnect terminates an HTTP CONNECT: if a served port would take the target, it answers 200
// and serves the tunnelled bytes on that port as a connection of its own.
func (g *Gateway) serveConnect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		w.Header().Set("Allow", http.MethodConnect)
		writeError(w, http.StatusMethodNotAllowed, "this port serves CONNECT only")
		return
	}
	host, ps, err := net.SplitHostPort(r.Host)
	port, perr := strconv.Atoi(ps)
	if err != nil || perr != nil || host == "" || port < 1 || port > 65535 {
		writeError(w, http.StatusBadRequest, "CONNECT needs a host:port target")
		return
	}
	if !g.snap.Load().connectAllowed(host, port) {
		g.opts.logger.Info("CONNECT refused: no listener takes the target", "target", r.Host, "source", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "CONNECT target not allowed")
		return
	}
	g.run.look.RLock()
	bp := g.run.ports[port]
	g.run.look.RUnlock()
	if bp == nil {
		writeError(w, http.StatusForbidden, "CONNECT target not allowed")
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok || r.ProtoMajor != 1 {
		writeError(w, http.StatusHTTPVersionNotSupported, "CONNECT is served over HTTP/1.1")
		return
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = c.Close()
		return
	}
	if n := rw.Reader.Buffered(); n > 0 {
		c = &prefixConn{Conn: c, prefix: mustPeek(rw.Reader)}
	}
	g.serveConn(bp, c, &tunnelTarget{host: host, port: port})
}
