package agentgateway

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// FuzzProxyHeader: no input makes the PROXY header reader panic or read past what it reports, and
// whatever it accepts names valid addresses; what follows the header is left for the route.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 40000 443\r\nGET / HTTP/1.1\r\n"), byte(2))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 5 6\r\n"), byte(2))
	f.Add([]byte("PROXY UNKNOWN whatever\r\n"), byte(1))
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), byte(1))
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), byte(1))
	f.Add([]byte("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), byte(1))
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"+string(bytes.Repeat([]byte(" "), 120))+"\r\n"), byte(1))
	f.Add(append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2), byte(0))
	f.Add(append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x04"), 1, 2, 3, 4), byte(0))          // short IPv6 block
	f.Add(append([]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"), "GET"...), byte(0))            // LOCAL
	f.Add(append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff"), 1, 2, 3, 4), byte(0))          // longer than the buffer
	f.Add(append([]byte("\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c"), make([]byte, 12)...), byte(0)) // version 3
	f.Add([]byte("GET / HTTP/1.1\r\n"), byte(3))
	f.Add([]byte("PRO"), byte(3))
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		p := ProxyProtocol{Version: ProxyVersion(mode % 3), Optional: mode&4 != 0}
		br := bufio.NewReaderSize(bytes.NewReader(data), peekBufferSize)
		h, err := readProxyHeader(br, p)
		if err != nil {
			if !errors.Is(err, ErrProxyHeader) {
				t.Fatalf("error %v does not wrap ErrProxyHeader", err)
			}
			return
		}
		rest, _ := br.Peek(br.Buffered())
		if !bytes.HasSuffix(data, rest) {
			t.Fatalf("the bytes after the header are not the input's tail")
		}
		if h == nil {
			if !p.Optional || br.Buffered() != len(data) && len(data) <= br.Size() {
				t.Fatalf("no header reported, but input consumed (optional %v)", p.Optional)
			}
			return
		}
		if !h.local && (!h.src.Addr().IsValid() || !h.dst.Addr().IsValid()) {
			t.Fatalf("accepted a header without addresses: %+v", h)
		}
	})
}

// FuzzClientHelloSNI: no input makes the ClientHello peek panic or consume bytes, and a server name
// it returns is printable; real ClientHellos from crypto/tls are read correctly.
func FuzzClientHelloSNI(f *testing.F) {
	for _, name := range []string{"a.example.com", "", "xn--bcher-kva.example"} {
		f.Add(clientHello(f, name))
	}
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0})                         // empty body
	f.Add([]byte{0x16, 3, 1, 0, 5, 1, 0, 0, 40, 3})                     // truncated across records
	f.Add([]byte{0x15, 3, 1, 0, 2, 2, 40})                              // an alert
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))                  // plain HTTP
	f.Add(append([]byte{0x16, 3, 1, 0xff, 0xff}, make([]byte, 100)...)) // a record longer than allowed
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), peekBufferSize)
		name, err := peekClientHello(br)
		if err != nil {
			if !errors.Is(err, ErrNotClientHello) {
				t.Fatalf("error %v does not wrap ErrNotClientHello", err)
			}
			return
		}
		if got, _ := br.Peek(br.Buffered()); !bytes.HasPrefix(data, got) || br.Buffered() == 0 {
			t.Fatalf("the peek consumed input")
		}
		for _, c := range []byte(name) {
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("server name %q has byte %#x", name, c)
			}
		}
	})
}

// clientHello records the first flight crypto/tls sends for serverName.
func clientHello(tb testing.TB, serverName string) []byte {
	tb.Helper()
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
		_ = c.Handshake()
		a.Close()
	}()
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := b.Read(buf)
		out = append(out, buf[:n]...)
		if _, perr := peekClientHello(bufio.NewReaderSize(bytes.NewReader(out), peekBufferSize)); perr == nil || err != nil {
			return out
		}
	}
}

func TestPeekClientHelloReadsCryptoTLS(t *testing.T) {
	for _, name := range []string{"a.example.com", "", "UPPER.example"} {
		hello := clientHello(t, name)
		got, err := peekClientHello(bufio.NewReaderSize(bytes.NewReader(hello), peekBufferSize))
		if err != nil || got != name {
			t.Fatalf("SNI of %q: got %q, %v", name, got, err)
		}
	}
}

func TestParseProxyHeaders(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "1.2.3.4:1"},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "error"},
		{"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "error"},
		{"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", "[::ffff:1.2.3.4]:1"},
		{"PROXY UNKNOWN\r\n", "local"},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "error"},
		{"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "error"},
	} {
		h, err := readProxyHeader(bufio.NewReader(bytes.NewReader([]byte(tc.in))), ProxyProtocol{Version: ProxyV1})
		got := "error"
		switch {
		case err == nil && h.local:
			got = "local"
		case err == nil:
			got = h.src.String()
		}
		if got != tc.want {
			t.Errorf("%q: got %s (%v), want %s", tc.in, got, err, tc.want)
		}
	}
	h, err := parseProxyV2(append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24"), append(netip.MustParseAddr("2001:db8::1").AsSlice(), append(netip.MustParseAddr("2001:db8::2").AsSlice(), 0, 7, 0, 8)...)...))
	if err != nil || h.src.String() != "[2001:db8::1]:7" || h.dst.String() != "[2001:db8::2]:8" {
		t.Fatalf("v2 IPv6: %+v %v", h, err)
	}
}
