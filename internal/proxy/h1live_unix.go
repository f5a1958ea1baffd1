//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// liveness tells whether an idle connection is still open, with one non-blocking peek: a connection
// the upstream closed reads EOF (or an error), one it wrote to unasked is unusable as well.
type liveness struct {
	raw  syscall.RawConn
	peek func(fd uintptr) bool // allocated once per connection
	buf  [1]byte
	ok   bool
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
