//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// liveness tells whether an idle connection is still open, with one non-blocking peek: a connection
// the upstream closed reads EOF (or an error), one it wrote to unasked is unusable as well.
//
// It also sends a bodiless request and reads the first bytes of its response in one poller-driven
// sequence (send): check that a reused connection is still open, write, wait for readability, read.
// That saves the peek and the read that would find nothing yet (EAGAIN) on each request.
type liveness struct {
	raw  syscall.RawConn
	peek func(fd uintptr) bool // allocated once per connection
	buf  [1]byte
	ok   bool

	// The state of one send; sendFn is bound once per connection.
	sendFn  func(fd uintptr) bool
	req     []byte // the request bytes to write
	dst     []byte // where the response's first bytes go
	check   bool   // the connection was pooled: check it first
	wrote   bool   // the write was tried
	stale   bool   // the check found the connection closed, or bytes nobody asked for
	written int    // bytes of req written
	n       int    // bytes read into dst
	werr    error  // the write's errno
	rerr    error  // the read's errno (0 bytes and no error: EOF)
}

func (l *liveness) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	l.raw = raw
	l.peek = l.peekFD
	l.sendFn = l.sendFD
}

func (l *liveness) peekFD(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), l.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	l.ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true // never wait for readability
}

func (l *liveness) alive() bool {
	if l.raw == nil {
		return true
	}
	if err := l.raw.Read(l.peek); err != nil {
		return false
	}
	return l.ok
}

// canSend reports whether send is available on this connection.
func (l *liveness) canSend() bool { return l.raw != nil }

// send writes req and reads the first bytes of the answer into dst. With check, a read first makes
// sure that the connection is still open and silent (the peek's guarantee, at the last moment before
// the write): stale reports that it was not, and nothing was written. The poller's readiness is reset
// (RawConn.Read) before the write, so a response arriving after it is never missed. A write that
// does not complete at once (a full socket buffer) stops the sequence: written tells how far it got.
// err is the RawConn's own failure (a deadline, the connection closed by an abort).
func (l *liveness) send(req, dst []byte, check bool) (err error) {
	l.req, l.dst, l.check = req, dst, check
	l.wrote, l.stale, l.written, l.n, l.werr, l.rerr = false, false, 0, 0, nil, nil
	err = l.raw.Read(l.sendFn)
	l.req, l.dst = nil, nil
	return err
}

func (l *liveness) sendFD(fd uintptr) bool {
	if !l.wrote {
		l.wrote = true
		if l.check {
			if _, err := readFD(fd, l.dst); err != syscall.EAGAIN && err != syscall.EWOULDBLOCK {
				l.stale = true // bytes nobody asked for, EOF or an error: not usable
				return true
			}
		}
		for len(l.req) > l.written {
			n, err := syscall.Write(int(fd), l.req[l.written:])
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				if err != syscall.EAGAIN && err != syscall.EWOULDBLOCK {
					l.werr = err
				}
				return true // the caller writes the rest, or reports the error
			}
			l.written += n
		}
		return false // wait for the response
	}
	n, err := readFD(fd, l.dst)
	if err == syscall.EAGAIN || err == syscall.EWOULDBLOCK {
		return false // woken early: wait again
	}
	l.n, l.rerr = n, err
	return true
}

// result is the outcome of the last send.
func (l *liveness) result() (stale bool, written, n int, werr, rerr error) {
	return l.stale, l.written, l.n, l.werr, l.rerr
}

func readFD(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		if err == syscall.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}
