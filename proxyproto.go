package agentgateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrProxyHeader is wrapped by every PROXY protocol header problem: malformed, of a version the port
// does not accept, or missing where required.
var ErrProxyHeader = errors.New("agentgateway: bad PROXY protocol header")

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	proxyV1Max = 107 // the longest v1 line the spec allows, CRLF included
	proxyV1Sig = "PROXY "
)

// proxyHeader is what a PROXY header announced. local is set for a v2 LOCAL command and for v1
// UNKNOWN (and v2 families without addresses): the connection's own addresses stand.
type proxyHeader struct {
	src, dst netip.AddrPort
	local    bool
}

// readProxyHeader reads a PROXY header from br as p allows. It returns (nil, nil) when p is optional
// and the connection starts with something else; nothing of such a connection is consumed.
func readProxyHeader(br *bufio.Reader, p ProxyProtocol) (*proxyHeader, error) {
	// Compare byte by byte as they arrive, so a client that is not sending a header (an optional
	// port) is told apart after its first byte, without waiting for twelve.
	v1, v2 := p.Version != ProxyV2, p.Version != ProxyV1
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if err != nil {
			if p.Optional && n > 1 {
				return nil, nil // a short stream that began like a header: let the route see it
			}
			return nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
		}
		isV1 := v1 && n <= len(proxyV1Sig) && string(b) == proxyV1Sig[:n]
		isV2 := v2 && n <= len(proxyV2Sig) && bytes.Equal(b, proxyV2Sig[:n])
		switch {
		case isV1 && n == len(proxyV1Sig):
			return readProxyV1(br)
		case isV2 && n == len(proxyV2Sig):
			return readProxyV2(br)
		case isV1 || isV2:
			continue
		case p.Optional:
			return nil, nil
		default:
			return nil, fmt.Errorf("%w: the connection does not start with one (%s)", ErrProxyHeader, versionName(p.Version))
		}
	}
}

func versionName(v ProxyVersion) string {
	switch v {
	case ProxyV1:
		return "v1"
	case ProxyAll:
		return "v1 or v2"
	}
	return "v2"
}

func readProxyV1(br *bufio.Reader) (*proxyHeader, error) {
	var line []byte
	for n := len(proxyV1Sig) + 1; ; n++ {
		b, err := br.Peek(n)
		if err != nil {
			return nil, fmt.Errorf("%w: v1: %w", ErrProxyHeader, err)
		}
		if bytes.HasSuffix(b, []byte("\r\n")) {
			line = b
			break
		}
		if n >= proxyV1Max {
			return nil, fmt.Errorf("%w: v1: no CRLF within %d bytes", ErrProxyHeader, proxyV1Max)
		}
	}
	h, err := parseProxyV1(string(line[:len(line)-2]))
	if err != nil {
		return nil, err
	}
	_, _ = br.Discard(len(line))
	return h, nil
}

func parseProxyV1(line string) (*proxyHeader, error) {
	f := strings.Split(line, " ")
	if len(f) < 2 || f[0] != "PROXY" {
		return nil, fmt.Errorf("%w: v1: malformed line", ErrProxyHeader)
	}
	switch f[1] {
	case "UNKNOWN":
		return &proxyHeader{local: true}, nil // the rest of the line is to be ignored
	case "TCP4", "TCP6":
	default:
		return nil, fmt.Errorf("%w: v1: unknown protocol %q", ErrProxyHeader, f[1])
	}
	if len(f) != 6 {
		return nil, fmt.Errorf("%w: v1: want 6 fields, got %d", ErrProxyHeader, len(f))
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sp, err3 := parsePort(f[4])
	dp, err4 := parsePort(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("%w: v1: %w", ErrProxyHeader, err)
	}
	want4 := f[1] == "TCP4"
	if src.Zone() != "" || dst.Zone() != "" || src.Is4() != want4 || dst.Is4() != want4 {
		return nil, fmt.Errorf("%w: v1: addresses do not match %s", ErrProxyHeader, f[1])
	}
	return &proxyHeader{src: netip.AddrPortFrom(src, sp), dst: netip.AddrPortFrom(dst, dp)}, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || s[0] < '0' || s[0] > '9' || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}

func readProxyV2(br *bufio.Reader) (*proxyHeader, error) {
	hdr, err := br.Peek(16)
	if err != nil {
		return nil, fmt.Errorf("%w: v2: %w", ErrProxyHeader, err)
	}
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if br.Size() < 16+n {
		return nil, fmt.Errorf("%w: v2: header of %d bytes is too long", ErrProxyHeader, 16+n)
	}
	b, err := br.Peek(16 + n)
	if err != nil {
		return nil, fmt.Errorf("%w: v2: %w", ErrProxyHeader, err)
	}
	h, err := parseProxyV2(b)
	if err != nil {
		return nil, err
	}
	_, _ = br.Discard(16 + n)
	return h, nil
}

// parseProxyV2 parses one whole v2 header (signature, 4 fixed bytes, then the address block).
func parseProxyV2(b []byte) (*proxyHeader, error) {
	verCmd, fam := b[12], b[13]
	if verCmd>>4 != 2 {
		return nil, fmt.Errorf("%w: v2: version %d", ErrProxyHeader, verCmd>>4)
	}
	body := b[16:]
	switch verCmd & 0xf {
	case 0: // LOCAL: a health check by the balancer itself; the body is to be ignored
		return &proxyHeader{local: true}, nil
	case 1: // PROXY
	default:
		return nil, fmt.Errorf("%w: v2: unknown command %d", ErrProxyHeader, verCmd&0xf)
	}
	switch fam >> 4 {
	case 1: // AF_INET
		if len(body) < 12 {
			return nil, fmt.Errorf("%w: v2: IPv4 block of %d bytes", ErrProxyHeader, len(body))
		}
		src := netip.AddrFrom4([4]byte(body[0:4]))
		dst := netip.AddrFrom4([4]byte(body[4:8]))
		return &proxyHeader{
			src: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10])),
			dst: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:12])),
		}, nil
	case 2: // AF_INET6
		if len(body) < 36 {
			return nil, fmt.Errorf("%w: v2: IPv6 block of %d bytes", ErrProxyHeader, len(body))
		}
		src := netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		dst := netip.AddrFrom16([16]byte(body[16:32])).Unmap()
		return &proxyHeader{
			src: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:34])),
			dst: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[34:36])),
		}, nil
	case 0, 3: // AF_UNSPEC, AF_UNIX: no IP addresses to take
		return &proxyHeader{local: true}, nil
	}
	return nil, fmt.Errorf("%w: v2: unknown address family %d", ErrProxyHeader, fam>>4)
}
