package agentgateway

import (
	"context"
	"net"
	"net/http"

	"github.com/agentgw/agentgateway/internal/h1server"
)

// WithHTTP1Server makes the cleartext HTTP ports that [Gateway.Run] binds serve HTTP/1.1 with a lean
// server loop (internal/h1server) instead of net/http's, for less CPU per request. It serves the
// plain requests of proxy traffic and hands a connection to net/http, with the bytes already read,
// at the first request that is anything else (Upgrade/WebSocket, h2c, CONNECT, Expect, chunked or
// HTTP/1.0 requests, malformed or oversized heads), so those behave exactly as without it. TLS ports
// stay on net/http (HTTP/2). Default off.
func WithHTTP1Server(on bool) Option { return func(o *options) { o.h1server = on } }

// newLeanServer makes the lean HTTP/1.1 server of a bound port, with srv's handler, limits and
// contexts; connections it does not serve go to srv through the port's listener.
func (g *Gateway) newLeanServer(bp *boundPort, srv *http.Server) *h1server.Server {
	base := context.Background()
	if srv.BaseContext != nil {
		base = srv.BaseContext(bp.http)
	}
	return &h1server.Server{
		Handler: srv.Handler,
		Fallback: func(c net.Conn) {
			if !bp.http.push(c) {
				_ = c.Close()
			}
		},
		ReadHeaderTimeout: srv.ReadHeaderTimeout,
		IdleTimeout:       srv.IdleTimeout,
		MaxHeaderBytes:    srv.MaxHeaderBytes,
		BaseContext:       base,
		ConnContext:       srv.ConnContext,
		Logger:            g.opts.logger,
	}
}
