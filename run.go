package agentgateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// WithBindAddress sets the host that [Gateway.Run] binds the listeners' ports on, e.g. "127.0.0.1";
// the default "" binds all interfaces.
func WithBindAddress(host string) Option { return func(o *options) { o.bindAddr = host } }

// WithListenFunc makes [Gateway.Run] obtain the socket for each configured port from listen instead of
// binding bindAddr:port, so that an embedder (a test harness, a socket-activation wrapper) decides where
// a configured port really listens; requests are still served as arriving on port.
func WithListenFunc(listen func(port int) (net.Listener, error)) Option {
	return func(o *options) { o.listen = listen }
}

func (g *Gateway) listen(port int) (net.Listener, error) {
	if g.opts.listen != nil {
		return g.opts.listen(port)
	}
	return net.Listen("tcp", net.JoinHostPort(g.opts.bindAddr, strconv.Itoa(port)))
}

// ErrRunning is returned by Start and Run while the gateway's ports are already being served.
var ErrRunning = errors.New("agentgateway: already running")

// runState is what Start serves: one server per bound port. All fields are guarded by Gateway.mu.
type runState struct {
	active bool
	ports  map[int]*boundPort
	wg     sync.WaitGroup // serving and draining goroutines
	done   chan struct{}  // closed once the ports of the last Start have drained
	err    error          // the drain's outcome, for Wait
}

type boundPort struct {
	port   int
	ln     *portListener
	srv    *http.Server
	cancel context.CancelFunc // the server's base context: cancels requests still open at the drain deadline
}

// Run serves the ports the listeners name until ctx is cancelled, then drains in-flight requests and
// streams for up to the drain timeout ([WithDrainTimeout]) and returns; nil after a clean drain. It is
// [Gateway.Start] followed by [Gateway.Wait].
//
// Every port a listener names is bound on the bind address ([WithBindAddress]) and served with HTTP/1.1,
// HTTP/2 over TLS and h2c, as [Gateway.NewServer] does; ports whose listeners have TLS serve HTTPS with
// the certificate the client's SNI selects. Listeners with Port 0 are not bound: they serve whatever
// Serve, ServeListener or an httptest server hands the gateway. A request on a bound port is served only
// by the listeners naming that port or by port-less ones.
//
// While Run serves, [Gateway.Apply] keeps the bound ports in step with the configuration, all or
// nothing: it binds the ports the new configuration adds before swapping the routing table, and if any
// of them cannot be bound it returns the error and changes nothing. Ports the new configuration no
// longer names stop accepting at once and are drained in the background. TLS settings apply to
// connections accepted after a change.
//
// [Gateway.Shutdown] does not stop Run: cancel its context.
func (g *Gateway) Run(ctx context.Context) error {
	if err := g.Start(ctx); err != nil {
		return err
	}
	return g.Wait()
}

// Start binds every port of the current configuration, as [Gateway.Run] does, and serves them in the
// background until ctx is cancelled. It returns once the ports are bound, or with the error of the first
// that could not be (and nothing bound). [Gateway.Wait] waits for the drain that follows cancellation.
func (g *Gateway) Start(ctx context.Context) error {
	if err := g.flush(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.run.done != nil {
		select {
		case <-g.run.done:
		default:
			return ErrRunning
		}
	}
	g.run.ports = map[int]*boundPort{}
	serve, err := g.bind(g.snap.Load())
	if err != nil {
		return err
	}
	g.run.active, g.run.done, g.run.err = true, make(chan struct{}), nil
	serve()
	done := g.run.done
	go func() {
		<-ctx.Done()
		g.stop(done)
	}()
	return nil
}

// Wait blocks until the ports served by the last [Gateway.Start] have drained after its context was
// cancelled. It returns at once if Start was never called, and a context error if requests were still
// open at the drain deadline (they were then cancelled).
func (g *Gateway) Wait() error {
	g.mu.Lock()
	done := g.run.done
	g.mu.Unlock()
	if done == nil {
		return nil
	}
	<-done
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.run.err
}

// bindNew binds the ports s adds while Run serves (Gateway.mu held); the returned func, called after
// the swap, serves them and retires the ports s dropped.
func (g *Gateway) bindNew(s *snapshot) (func(), error) {
	if !g.run.active {
		return func() {}, nil
	}
	return g.bind(s)
}

func (g *Gateway) bind(s *snapshot) (func(), error) {
	ports := make([]int, 0, len(s.byPort))
	for p := range s.byPort {
		if _, ok := g.run.ports[p]; !ok {
			ports = append(ports, p)
		}
	}
	slices.Sort(ports)
	fresh := make([]*boundPort, 0, len(ports))
	for _, p := range ports {
		ln, err := g.listen(p)
		if err != nil {
			for _, bp := range fresh {
				_ = bp.ln.Close()
			}
			return nil, fmt.Errorf("agentgateway: binding port %d: %w", p, err)
		}
		fresh = append(fresh, &boundPort{port: p, ln: &portListener{Listener: ln, g: g, port: p}})
	}
	return func() {
		for _, bp := range fresh {
			g.run.ports[bp.port] = bp
			g.servePort(bp, s.tlsByPort[bp.port] != nil)
		}
		for p, bp := range g.run.ports {
			if _, ok := s.byPort[p]; !ok {
				delete(g.run.ports, p)
				_ = bp.ln.Close() // at once, so that a later Apply can bind the port again
				g.opts.logger.Info("port no longer configured; draining", "port", p)
				g.run.wg.Add(1)
				go func() {
					defer g.run.wg.Done()
					_ = g.drainPort(bp)
				}()
			}
		}
	}, nil
}

func (g *Gateway) servePort(bp *boundPort, secure bool) {
	srv := g.NewServer()
	// Run's servers are stopped by Run's context, not by Shutdown: take this one off Shutdown's list,
	// keeping its base context's cancel for the drain deadline.
	g.srvMu.Lock()
	bp.cancel = g.servers[srv]
	delete(g.servers, srv)
	g.srvMu.Unlock()
	connContext := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if connContext != nil {
			ctx = connContext(ctx, c)
		}
		a := &arrival{port: bp.port, run: true}
		if tc, ok := c.(*tls.Conn); ok {
			if hc, ok := tc.NetConn().(*handshakeConn); ok {
				a.tls = hc.hs
			}
		}
		return context.WithValue(ctx, arrivalKey{}, a)
	}
	// TLS comes from the listeners, per connection; a server-wide TLSConfig (WithServerConfig) would
	// stop net/http from setting up HTTP/2 for the TLS connections Accept hands it.
	srv.TLSConfig = nil
	bp.srv = srv
	g.run.wg.Add(1)
	go func() {
		defer g.run.wg.Done()
		err := srv.Serve(bp.ln)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			g.opts.logger.Error("serving", "port", bp.port, "error", err)
		}
	}()
	g.opts.logger.Info("listening", "addr", bp.ln.Addr().String(), "tls", secure)
}

// drainPort waits for the port's requests and streams to finish, up to the drain timeout, then cancels
// what is left and closes its connections.
func (g *Gateway) drainPort(bp *boundPort) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.drain)
	defer cancel()
	err := bp.srv.Shutdown(ctx)
	if err != nil {
		bp.cancel()
		_ = bp.srv.Close()
	}
	bp.cancel()
	return err
}

// stop ends a Start: every port stops accepting at once and drains.
func (g *Gateway) stop(done chan struct{}) {
	g.mu.Lock()
	ports := g.run.ports
	g.run.ports, g.run.active = nil, false
	for _, bp := range ports {
		_ = bp.ln.Close()
	}
	g.mu.Unlock()
	start := time.Now()
	errs := make(chan error, len(ports))
	for _, bp := range ports {
		g.run.wg.Add(1)
		go func() {
			defer g.run.wg.Done()
			errs <- g.drainPort(bp)
		}()
	}
	g.run.wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	g.opts.logger.Info("ports drained", "ports", len(ports), "took", time.Since(start).Round(time.Millisecond))
	g.mu.Lock()
	g.run.err = errors.Join(all...)
	close(done)
	g.mu.Unlock()
}

// portListener is a port Run bound. Each connection is wrapped in TLS when the port's listeners have
// TLS at the moment it is accepted, so a reload can turn TLS on or off without rebinding the port.
type portListener struct {
	net.Listener
	g    *Gateway
	port int
	once sync.Once
}

func (l *portListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.g.snap.Load().tlsByPort[l.port] == nil {
		return c, err
	}
	hc := &handshakeConn{Conn: c, hs: &handshake{}}
	return tls.Server(hc, &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		return l.g.tlsForClient(l.port, hello, hc.hs)
	}}), nil
}

// Close closes the socket once; http.Server closes it again on Shutdown.
func (l *portListener) Close() error {
	err := error(nil)
	l.once.Do(func() { err = l.Listener.Close() })
	return err
}

// handshakeConn carries, under a TLS connection, the listener its handshake chose, to the
// connection's context (see ConnContext in servePort).
type handshakeConn struct {
	net.Conn
	hs *handshake
}
