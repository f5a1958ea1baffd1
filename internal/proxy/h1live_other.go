//go:build !unix

package proxy

import (
	"errors"
	"net"
)

// liveness is a no-op where a non-blocking peek is not available: a stale connection is then caught
// by the retry of idempotent requests.
type liveness struct{}

func (l *liveness) init(net.Conn) {}

func (l *liveness) alive() bool { return true }

// canSend is false: requests are written and read with the connection's own methods.
func (l *liveness) canSend() bool { return false }

func (l *liveness) send(req, dst []byte, check bool) error {
	return errors.New("proxy: send not supported")
}

func (l *liveness) result() (stale bool, written, n int, werr, rerr error) { return }
