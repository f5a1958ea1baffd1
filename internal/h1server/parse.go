package h1server

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// verdict is what parseHead makes of the bytes at the start of a buffer.
type verdict int

const (
	needMore verdict = iota // no end of the head yet
	accepted                // a request of the subset served here
	fallback                // anything else: net/http decides (serves it, or rejects it as it always has)
)

// head is a parsed request head of the served subset.
type head struct {
	method, target string
	url            *url.URL
	header         http.Header
	host           string
	contentLength  int64 // 0 when absent
	close          bool  // Connection: close (http.Request.Close)
	wantsClose     bool  // the connection closes after the response: net/http also finds "close" between spaces in the first Connection value
}

// headEnd finds the end of the request head in b: the index just past the empty line. A bare LF
// ends it too (so that such a head reaches net/http at once rather than waiting for more bytes).
// It returns -1 when b holds no complete head yet.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		case i == len(b) || (i+1 == len(b) && b[i] == '\r'):
			return -1
		}
	}
}

// parseHead parses the request head in b[:n] (n from headEnd), or says fallback for anything outside
// the strict subset this server handles: request line "token SP /origin-form SP HTTP/1.1" with CRLF
// line ends, token header names with values free of control characters, no obs-fold, exactly one
// valid Host, at most one all-digit Content-Length and no Transfer-Encoding, and none of the features
// whose semantics stay with net/http (Expect, Upgrade, Connection: upgrade, Trailer, Pragma, CONNECT,
// the HTTP/2 preface). Whatever it accepts, http.ReadRequest parses to the same request.
func parseHead(b []byte, maxHeaders int) (head, verdict) {
	var h head
	// One string for the whole head: method, target and header values are substrings of it.
	s := string(b)
	line, rest, ok := cutCRLF(s)
	if !ok {
		return h, fallback
	}
	sp1 := indexByte(line, ' ')
	if sp1 <= 0 || !isToken(line[:sp1]) {
		return h, fallback
	}
	h.method = internMethod(line[:sp1])
	if h.method == "CONNECT" || h.method == "PRI" {
		return h, fallback
	}
	rl := line[sp1+1:]
	sp2 := indexByte(rl, ' ')
	if sp2 <= 0 || rl[sp2+1:] != "HTTP/1.1" || rl[0] != '/' {
		return h, fallback
	}
	h.target = rl[:sp2]
	for i := 0; i < len(h.target); i++ {
		if c := h.target[i]; c <= ' ' || c >= 0x7f {
			return h, fallback
		}
	}
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return h, fallback
	}
	h.url = u

	lines := 0
	for r := rest; r != "\r\n"; {
		_, next, ok := cutCRLF(r)
		if !ok {
			return h, fallback
		}
		r = next
		lines++
	}
	if lines > maxHeaders {
		return h, fallback
	}
	h.header = make(http.Header, lines)
	vals := make([]string, lines)
	hosts, cls := 0, 0
	for i := 0; rest != "\r\n"; i++ {
		l, next, _ := cutCRLF(rest)
		rest = next
		colon := indexByte(l, ':')
		if colon <= 0 || !isToken(l[:colon]) {
			return h, fallback
		}
		v := l[colon+1:]
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			v = v[:len(v)-1]
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return h, fallback
		}
		k := canonicalKey(l[:colon])
		switch k {
		case "Host":
			hosts++
			h.host = v
		case "Content-Length":
			cls++
			n, ok := parseLength(v)
			if !ok {
				return h, fallback
			}
			h.contentLength = n
		case "Connection":
			if httpguts.HeaderValuesContainsToken([]string{v}, "upgrade") {
				return h, fallback
			}
			if httpguts.HeaderValuesContainsToken([]string{v}, "close") {
				h.close = true
			}
			if len(h.header[k]) == 0 && spaceToken(v, "close") {
				h.wantsClose = true
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Trailer", "Pragma", "Http2-Settings":
			return h, fallback
		}
		vals[i] = v
		h.header[k] = append(h.header[k], vals[i:i+1:i+1]...)
	}
	if hosts != 1 || cls > 1 || !httpguts.ValidHostHeader(h.host) {
		return h, fallback
	}
	return h, accepted
}

// spaceToken reports whether tok is in v, case-insensitively, between the start or end of v, commas,
// spaces or tabs (net/http's looser reading of Connection for its close-after-reply decision).
func spaceToken(v, tok string) bool {
	boundary := func(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
	for i := 0; i+len(tok) <= len(v); i++ {
		if (i == 0 || boundary(v[i-1])) && (i+len(tok) == len(v) || boundary(v[i+len(tok)])) && strings.EqualFold(v[i:i+len(tok)], tok) {
			return true
		}
	}
	return false
}

// cutCRLF splits s at its first line end, which must be CRLF: a bare CR or LF is not served here.
func cutCRLF(s string) (line, rest string, ok bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				return s[:i], s[i+2:], true
			}
			return "", "", false
		case '\n':
			return "", "", false
		}
	}
	return "", "", false
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// parseLength accepts 1 to 18 decimal digits (well inside int64), as net/http's parser does for
// such values; anything else (signs, spaces, lists, huge values) goes to net/http.
func parseLength(v string) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenTable[s[i]] {
			return false
		}
	}
	return true
}

var methods = map[string]string{}

func init() {
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE"} {
		methods[m] = m
	}
	for _, k := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Content-Length", "Content-Type", "Cookie", "Host", "If-Modified-Since", "If-None-Match",
		"Origin", "Referer", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
		"X-Request-Id", "Traceparent", "Tracestate", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-Id",
		"Transfer-Encoding", "Expect", "Upgrade", "Trailer", "Pragma", "Http2-Settings", "Te", "Via", "Forwarded",
		"Range", "If-Match", "If-Range", "If-Unmodified-Since", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-Dest"} {
		keys[k] = k
	}
}

func internMethod(m string) string {
	if v, ok := methods[m]; ok {
		return v
	}
	return m
}

var keys = map[string]string{}

// canonicalKey is textproto.CanonicalMIMEHeaderKey for a token, without allocating for common keys.
func canonicalKey(k string) string {
	var buf [64]byte
	if len(k) > len(buf) {
		return http.CanonicalHeaderKey(k)
	}
	b := buf[:len(k)]
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	if v, ok := keys[string(b)]; ok {
		return v
	}
	return string(b)
}
