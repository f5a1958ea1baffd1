package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
)

// hopScanner follows the header blocks at the start of an HTTP/1.x response stream — informational
// responses, then the final one — and keeps the values of the final header's Connection field. When
// that field lists "close", http.ReadResponse (and parseSimpleResponse, which agrees with it) drops
// the whole field, and with it the names of the other fields it nominates as hop-by-hop (RFC 9110
// 7.6.1); the scanner keeps them so that the proxy can still strip those fields.
//
// It is fed the bytes as they are read, in pieces of any size, and ignores everything after the final
// header. It validates nothing: a stream that net/http rejects yields no response to consult.
type hopScanner struct {
	done  bool
	field bool     // past the status line of the current block
	kind  uint8    // what the current line is, once known
	n     int      // bytes of the current line seen so far, up to len(pre)
	pre   [11]byte // the start of a field line, to recognise "Connection:"
	code  int      // status code of the current block; -1 before its first digit
	phase uint8    // status line: 0 protocol, 1 spaces, 2-4 digits, 5 rest
	conn  bool     // the previous field line was a Connection line (for obs-fold continuations)
	vals  []byte   // the Connection values of the current block, comma-separated
}

const (
	lineUnknown uint8 = iota // field line whose name is not known yet
	lineConn                 // a Connection field line, or a continuation of one
	lineOther                // anything else: skipped to its end
)

// maxHopValues bounds the Connection values kept. A header nominating more than that is absurd; what
// is beyond is not stripped.
const maxHopValues = 8 << 10

var connectionColon = []byte("connection:")

// reset prepares s for a new response, keeping its buffer.
func (s *hopScanner) reset() {
	*s = hopScanner{vals: s.vals[:0], code: -1}
}

// feed scans the next bytes of the stream.
func (s *hopScanner) feed(p []byte) {
	for len(p) > 0 && !s.done {
		if !s.field {
			p = s.statusLine(p)
			continue
		}
		switch s.kind {
		case lineOther:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return
			}
			p = p[i+1:]
			s.endLine()
		case lineConn:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				s.appendValue(p)
				return
			}
			s.appendValue(p[:i])
			p = p[i+1:]
			s.endLine()
		default:
			b := p[0]
			p = p[1:]
			if b == '\n' {
				// A line shorter than "Connection:": another field, or the blank line that ends the block.
				if s.n == 0 || s.n == 1 && s.pre[0] == '\r' {
					s.endBlock()
				} else {
					s.endLine()
				}
				continue
			}
			if s.n == 0 && (b == ' ' || b == '\t') {
				// obs-fold: the line continues the previous field.
				if s.conn {
					s.kind = lineConn
					s.appendValue([]byte{' '})
				} else {
					s.kind = lineOther
				}
				continue
			}
			s.pre[s.n] = b
			s.n++
			if s.n == len(s.pre) {
				if bytes.EqualFold(s.pre[:], connectionColon) {
					s.kind = lineConn
					if len(s.vals) > 0 {
						s.appendValue([]byte{','})
					}
				} else {
					s.kind = lineOther
				}
			}
		}
	}
}

// statusLine reads the status code of the status line ("HTTP/1.1 200 OK": the digits after the first
// run of spaces, as http.ReadResponse reads them) and returns what follows the line.
func (s *hopScanner) statusLine(p []byte) []byte {
	for i, b := range p {
		if b == '\n' {
			s.field = true
			s.kind, s.n, s.conn = lineUnknown, 0, false
			return p[i+1:]
		}
		switch s.phase {
		case 0:
			if b == ' ' {
				s.phase = 1
			}
		case 1:
			if b == ' ' {
				continue
			}
			s.phase = 2
			fallthrough
		case 2, 3, 4:
			if b < '0' || b > '9' {
				s.phase = 5
				continue
			}
			if s.code < 0 {
				s.code = 0
			}
			s.code = s.code*10 + int(b-'0')
			s.phase++
		}
	}
	return nil
}

func (s *hopScanner) appendValue(p []byte) {
	if len(s.vals)+len(p) <= maxHopValues {
		s.vals = append(s.vals, p...)
	}
}

// endLine ends a field line that was not blank.
func (s *hopScanner) endLine() {
	s.conn = s.kind == lineConn
	if s.conn && len(s.vals) > 0 && s.vals[len(s.vals)-1] == '\r' {
		s.vals = s.vals[:len(s.vals)-1]
	}
	s.kind, s.n = lineUnknown, 0
}

// endBlock ends a header block: an informational response other than 101 is followed by another one.
func (s *hopScanner) endBlock() {
	if s.code >= 100 && s.code < 200 && s.code != http.StatusSwitchingProtocols {
		s.reset()
		return
	}
	s.done = true
}

// connection returns the Connection values of the final header as one list, or nil when it had none.
func (s *hopScanner) connection() []string {
	if len(s.vals) == 0 {
		return nil
	}
	return []string{string(s.vals)}
}

// lostConnection reports whether net/http may have dropped resp's Connection field because it listed
// "close": an HTTP/1.1 response that closes the connection and has no Connection field left. The
// caller then puts back what a hopScanner saw, so that the fields it nominates are stripped like any
// other hop-by-hop field.
func lostConnection(resp *http.Response) bool {
	if !resp.Close || resp.ProtoMajor != 1 || resp.ProtoMinor < 1 || resp.Header == nil {
		return false
	}
	_, ok := resp.Header["Connection"]
	return !ok
}

// WatchConn wraps an upstream connection that an http.Transport reads HTTP/1.1 responses from, so that
// a [Proxy] with [Options.WatchConns] can strip the hop-by-hop fields a response nominates in a
// Connection field that also lists "close", which net/http drops before the proxy sees it. Return it
// from the Transport's DialContext (plain HTTP) or DialTLSContext (after the TLS handshake); it costs
// a scan of each response header.
func WatchConn(c net.Conn) net.Conn {
	w := &watchConn{Conn: c}
	w.scan.reset()
	return w
}

// watchConn is a connection whose response headers a hopScanner follows. The Transport reads on its
// own goroutine while the proxy consults the scanner on the request's, hence the lock.
type watchConn struct {
	net.Conn
	mu   sync.Mutex
	scan hopScanner
}

func (c *watchConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.scan.done {
			c.scan.feed(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

// ReadFrom keeps io.Copy of a request body to the connection as direct as it was unwrapped.
func (c *watchConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// begin starts the scan of a new response: the Transport hands the connection to a request (trace
// GotConn) before writing it, so no byte of its response has been read yet.
func (c *watchConn) begin() {
	c.mu.Lock()
	c.scan.reset()
	c.mu.Unlock()
}

func (c *watchConn) connection() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scan.connection()
}
