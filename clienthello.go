package agentgateway

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNotClientHello is wrapped when a connection on a TLS listener's port does not start with a TLS
// ClientHello the gateway can read.
var ErrNotClientHello = errors.New("agentgateway: not a TLS ClientHello")

// peekBufferSize is the buffer of a connection whose first bytes the gateway inspects: a PROXY header
// and a ClientHello of up to one full TLS record.
const peekBufferSize = 16 + 16384 + 5 + 512

// peekClientHello returns the server name of the ClientHello at the head of br without consuming
// anything, so the bytes can be replayed to a backend (passthrough) or to crypto/tls (termination).
// The ClientHello may span several records, as long as they fit br's buffer.
func peekClientHello(br *bufio.Reader) (string, error) {
	var msg []byte
	off := 0
	for {
		hdr, err := br.Peek(off + 5)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrNotClientHello, err)
		}
		rec := hdr[off:]
		if rec[0] != 0x16 || rec[1] != 3 {
			return "", fmt.Errorf("%w: record type %d version %d.%d", ErrNotClientHello, rec[0], rec[1], rec[2])
		}
		n := int(binary.BigEndian.Uint16(rec[3:5]))
		if n == 0 || n > 16384+2048 {
			return "", fmt.Errorf("%w: record of %d bytes", ErrNotClientHello, n)
		}
		if off+5+n > br.Size() {
			return "", fmt.Errorf("%w: ClientHello larger than %d bytes", ErrNotClientHello, br.Size())
		}
		all, err := br.Peek(off + 5 + n)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrNotClientHello, err)
		}
		msg = append(msg, all[off+5:]...)
		off += 5 + n
		if len(msg) >= 4 {
			if msg[0] != 1 {
				return "", fmt.Errorf("%w: handshake type %d", ErrNotClientHello, msg[0])
			}
			want := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if len(msg) >= want {
				return parseClientHello(msg[4:want])
			}
		}
	}
}

// parseClientHello reads the server_name extension of a ClientHello body (RFC 8446 4.1.2, RFC 6066
// 3); "" when there is none.
func parseClientHello(b []byte) (string, error) {
	s := cursor{b: b}
	s.skip(2 + 32)  // legacy_version, random
	s.skip(s.u8())  // legacy_session_id
	s.skip(s.u16()) // cipher_suites
	s.skip(s.u8())  // legacy_compression_methods
	if s.err == nil && len(s.b) == 0 {
		return "", nil // no extensions at all
	}
	exts := cursor{b: s.bytes(s.u16())}
	if s.err != nil {
		return "", fmt.Errorf("%w: truncated", ErrNotClientHello)
	}
	for len(exts.b) > 0 && exts.err == nil {
		typ := exts.u16()
		data := cursor{b: exts.bytes(exts.u16())}
		if exts.err != nil || typ != 0 {
			continue
		}
		list := cursor{b: data.bytes(data.u16())}
		for len(list.b) > 0 && list.err == nil {
			kind := list.u8()
			name := list.bytes(list.u16())
			if list.err == nil && kind == 0 {
				if len(name) == 0 || len(name) > 255 {
					return "", fmt.Errorf("%w: server name of %d bytes", ErrNotClientHello, len(name))
				}
				for _, c := range name {
					if c <= ' ' || c >= 0x7f {
						return "", fmt.Errorf("%w: server name with byte %#x", ErrNotClientHello, c)
					}
				}
				return string(name), nil
			}
		}
		if list.err != nil || data.err != nil {
			return "", fmt.Errorf("%w: malformed server_name extension", ErrNotClientHello)
		}
	}
	if exts.err != nil {
		return "", fmt.Errorf("%w: malformed extensions", ErrNotClientHello)
	}
	return "", nil
}

// cursor reads big-endian fields; reading past the end sets err and yields zeros.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) need(n int) bool {
	if c.err != nil || n > len(c.b) {
		c.err = errors.New("short")
		c.b = nil
		return false
	}
	return true
}

func (c *cursor) u8() int {
	if !c.need(1) {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v
}

func (c *cursor) u16() int {
	if !c.need(2) {
		return 0
	}
	v := int(binary.BigEndian.Uint16(c.b))
	c.b = c.b[2:]
	return v
}

func (c *cursor) skip(n int) { c.bytes(n) }

func (c *cursor) bytes(n int) []byte {
	if !c.need(n) {
		return nil
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}
