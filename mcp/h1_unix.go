//go:build unix

package mcp

import (
	"net"
	"syscall"
)

// liveness checks an idle pooled connection with a non-blocking peek: one the target closed reads
// EOF, one it wrote to unasked is unusable too; only "nothing to read" means alive.
type liveness struct {
	raw syscall.RawConn
	buf [1]byte
	ok  bool
	fn  func(fd uintptr) bool
}

func (l *liveness) init(nc net.Conn) {
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			l.raw = raw
			l.fn = func(fd uintptr) bool {
				_, _, err := syscall.Recvfrom(int(fd), l.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
				l.ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
				return true
			}
		}
	}
}

func (l *liveness) alive() bool {
	if l.raw == nil {
		return true
	}
	if err := l.raw.Read(l.fn); err != nil {
		return false
	}
	return l.ok
}
