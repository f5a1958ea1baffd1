//go:build !unix

package mcp

import "net"

// liveness is a no-op where a non-blocking peek is not available.
type liveness struct{}

func (l *liveness) init(net.Conn) {}
func (l *liveness) alive() bool   { return true }
