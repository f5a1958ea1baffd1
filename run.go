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

	"github.com/agentgw/agentgateway/internal/h1server"
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
	look   sync.RWMutex   // also held (write) while ports changes, so CONNECT can look a port up without mu
	wg     sync.WaitGroup // serving and draining goroutines
	done   chan struct{}  // closed once the ports of the last Start have drained
	err    error          // the drain's outcome, for Wait
}

type boundPort struct {
	port     int
	internal bool         // not bound: served only by CONNECT re-entry
	raw      net.Listener // the socket; nil for an internal port
	ln       *portListener
	http     *chanListener // what srv serves: the connections serveConn found to be HTTP
	l4       connSet       // connections served outside srv (TCP and TLS routes, being inspected)
	srv      *http.Server
	lean     *h1server.Server   // serves the port's cleartext HTTP/1.1 connections (WithHTTP1Server)
	cancel   context.CancelFunc // the server's base context: cancels requests still open at the drain deadline
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
	ports := make([]int, 0, len(s.plans))
	for p, pp := range s.plans {
		if bp, ok := g.run.ports[p]; !ok || bp.internal != pp.internal {
			ports = append(ports, p)
		}
	}
	slices.Sort(ports)
	fresh := make([]*boundPort, 0, len(ports))
	for _, p := range ports {
		bp := &boundPort{port: p, internal: s.plans[p].internal, l4: newConnSet()}
		if !bp.internal {
			ln, err := g.listen(p)
			if err != nil {
				for _, bp := range fresh {
					_ = bp.ln.Close()
				}
				return nil, fmt.Errorf("agentgateway: binding port %d: %w", p, err)
			}
			bp.raw = ln
		}
		bp.ln = &portListener{bp: bp}
		fresh = append(fresh, bp)
	}
	return func() {
		g.run.look.Lock()
		defer g.run.look.Unlock()
		for p, bp := range g.run.ports {
			if pp, ok := s.plans[p]; !ok || pp.internal != bp.internal {
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
		for _, bp := range fresh {
			g.run.ports[bp.port] = bp
			g.servePort(bp, s.tlsByPort[bp.port] != nil)
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
	srv.Handler = g.serveRunHTTP(bp.port, srv.Handler)
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
	var addr net.Addr = internalAddr(bp.port)
	if bp.raw != nil {
		addr = bp.raw.Addr()
	}
	bp.http = newChanListener(addr)
	if g.opts.h1server && !secure {
		bp.lean = g.newLeanServer(bp, srv)
	}
	g.run.wg.Add(1)
	go func() {
		defer g.run.wg.Done()
		err := srv.Serve(bp.http)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			g.opts.logger.Error("serving", "port", bp.port, "error", err)
		}
	}()
	if bp.raw != nil {
		g.run.wg.Add(1)
		go func() {
			defer g.run.wg.Done()
			g.acceptLoop(bp)
		}()
		g.opts.logger.Info("listening", "addr", addr.String(), "tls", secure)
	}
}

// drainPort waits for the port's requests and streams to finish, up to the drain timeout, then cancels
// what is left and closes its connections.
func (g *Gateway) drainPort(bp *boundPort) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.drain)
	defer cancel()
	l4 := make(chan error, 1)
	go func() { l4 <- bp.l4.drain(ctx) }()
	lean := make(chan error, 1)
	go func() {
		if bp.lean == nil {
			lean <- nil
			return
		}
		err := bp.lean.Shutdown(ctx)
		if err != nil {
			bp.cancel()
			_ = bp.lean.Close()
		}
		lean <- err
	}()
	err := errors.Join(bp.srv.Shutdown(ctx), <-lean)
	if err != nil {
		bp.cancel()
		_ = bp.srv.Close()
	}
	bp.cancel()
	return errors.Join(err, <-l4)
}

// stop ends a Start: every port stops accepting at once and drains.
func (g *Gateway) stop(done chan struct{}) {
	g.mu.Lock()
	g.run.look.Lock()
	ports := g.run.ports
	g.run.ports, g.run.active = nil, false
	g.run.look.Unlock()
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

// portListener closes a bound port once: its socket (stopping the accept loop) and the HTTP server's
// listener.
type portListener struct {
	bp   *boundPort
	once sync.Once
}

func (l *portListener) Close() error {
	err := error(nil)
	l.once.Do(func() {
		if l.bp.raw != nil {
			err = l.bp.raw.Close()
		}
		if l.bp.http != nil {
			_ = l.bp.http.Close()
		}
	})
	return err
}

// handshakeConn carries, under a TLS connection, the listener its handshake chose, to the
// connection's context (see ConnContext in servePort).
type handshakeConn struct {
	net.Conn
	hs *handshake
}
