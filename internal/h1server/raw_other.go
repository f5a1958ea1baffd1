//go:build !unix

package h1server

import "net"

type rawReader struct{}

func newRawReader(net.Conn) *rawReader { return nil }

func (*rawReader) Read([]byte) (int, error) { panic("unreachable") }
