//go:build !unix

package proxy

import "net"

// liveness is a no-op where a non-blocking peek is not available: a stale connection is then caught
// by the retry of idempotent requests.
type liveness struct{}

func (l *liveness) init(net.Conn) {}

func (l *liveness) alive() bool { return true }
