package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// errStale is h1Conn.send's finding that a pooled connection was closed (or written to unasked)
// while idle; nothing was sent on it.
var errStale = errors.New("pooled connection closed while idle")

// send writes the request held by connWriter and reads the first bytes of the response into p, as
// connReader's first read of the response. On a pooled connection it first checks, with the same
// non-blocking read that would otherwise find no response yet, that the connection is still open
// (errStale if not); see liveness.send. Errors read as those of the connection's own Write and Read.
func (c *h1Conn) send(p []byte) (int, error) {
	req := c.cw.held
	err := c.live.send(req, p, c.reused)
	stale, written, n, werr, rerr := c.live.result()
	c.cw.n += int64(written)
	if err != nil {
		// Before the write (a closed connection, an expired deadline) or while waiting for the
		// response (a deadline, an abort): the read failed.
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "raw-read" {
			e := *oe
			e.Op = "read"
			err = &e
		}
		return 0, err
	}
	if stale {
		return 0, errStale
	}
	if written < len(req) {
		before := c.cw.n
		if werr == nil {
			// The socket buffer is full: the rest goes out with the poller's help.
			_, werr = c.cw.Write(req[written:])
			if werr == nil {
				return c.nc.Read(p)
			}
		} else {
			werr = c.opError("write", werr)
		}
		if written == 0 && c.cw.n == before {
			return 0, werr // nothing left: the request may go again on another connection
		}
		// Part of the request left: the upstream may have answered early and stopped reading.
		c.broken = true
		c.sendErr = werr
		return c.nc.Read(p)
	}
	if rerr != nil {
		return 0, c.opError("read", rerr)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// opError wraps an errno as the connection's own methods do.
func (c *h1Conn) opError(op string, err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: err}
}
