//go:build unix

package h1server

import (
	"io"
	"net"
	"syscall"
)

// rawReader reads a TCP connection through its RawConn, waiting for readability before the first
// read: where the client is known to have sent nothing yet (the next request while a handler runs),
// this saves the read that would return EAGAIN before the goroutine parks, one syscall a request.
type rawReader struct {
	raw   syscall.RawConn
	fn    func(fd uintptr) bool // allocated once per connection
	p     []byte
	n     int
	err   error
	tried bool
}

// newRawReader returns nil when c is not a plain TCP connection (or one that says what it wraps
// with NetConn, without bytes of its own to replay).
func newRawReader(c net.Conn) *rawReader {
	for {
		if u, ok := c.(interface{ NetConn() net.Conn }); ok {
			c = u.NetConn()
			continue
		}
		break
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawReader{raw: raw}
	r.fn = r.read
	return r
}

func (r *rawReader) read(fd uintptr) bool {
	if !r.tried {
		r.tried = true
		return false // wait for readability first
	}
	n, err := syscall.Read(int(fd), r.p)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return false
	case err != nil:
		r.n, r.err = 0, err
	case n == 0:
		r.n, r.err = 0, io.EOF
	default:
		r.n, r.err = n, nil
	}
	return true
}

// Read reads into p once the connection is readable.
func (r *rawReader) Read(p []byte) (int, error) {
	r.p, r.tried = p, false
	if err := r.raw.Read(r.fn); err != nil {
		r.p = nil
		return 0, err
	}
	r.p = nil
	return r.n, r.err
}
