package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
)

// parseSimpleResponse parses the common response the fast path sees most — an HTTP/1.1 final
// response whose header is already buffered in br, with one Content-Length and nothing unusual —
// into resp with a handful of allocations (one string for the whole header, one slice for the values,
// the map). It consumes nothing and returns false for anything else (1xx, HEAD, 204, 304, chunked or
// close-delimited bodies, trailers, HTTP/1.0, obs-fold, bare LF, control or non-ASCII bytes, duplicate
// or invalid Content-Length, a header not yet fully buffered), which http.ReadResponse then reads
// from the same reader. Where it accepts, it agrees with http.ReadResponse (FuzzParseSimpleResponse
// checks that).
func parseSimpleResponse(br *bufio.Reader, method string, resp *http.Response) bool {
	if method == "HEAD" {
		return false
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return false
	}
	head := buf[:end+2] // every line with its CRLF
	// Status line: "HTTP/1.1 NNN[ reason]".
	nl := bytes.IndexByte(head, '\n')
	if nl < 13 || head[nl-1] != '\r' {
		return false
	}
	status := head[:nl-1]
	if string(status[:9]) != "HTTP/1.1 " || len(status) > 12 && status[12] != ' ' {
		return false
	}
	code := 0
	for _, b := range status[9:12] {
		if b < '0' || b > '9' {
			return false
		}
		code = code*10 + int(b-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return false
	}
	for _, b := range status {
		if b < ' ' && b != '\t' || b >= 0x7f {
			return false
		}
	}
	// Header lines: count them and check every byte before copying anything.
	fields := 0
	for i := nl + 1; i < len(head); {
		j := bytes.IndexByte(head[i:], '\n') + i
		if head[j-1] != '\r' || j-1 == i {
			return false
		}
		line := head[i : j-1]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false
		}
		for _, b := range line[:colon] {
			if !isTokenByte(b) {
				return false
			}
		}
		for _, b := range line[colon+1:] {
			if b < ' ' && b != '\t' || b >= 0x7f {
				return false
			}
		}
		fields++
		i = j + 1
	}

	s := string(head) // keys and values are substrings of this one allocation
	h := make(http.Header, fields)
	values := make([]string, fields)
	cl := int64(-1)
	closeConn := false
	i := strings.IndexByte(s, '\n') + 1
	for n := 0; i < len(s); n++ {
		j := strings.IndexByte(s[i:], '\n') + i
		line := s[i : j-1]
		i = j + 1
		colon := strings.IndexByte(line, ':')
		key := http.CanonicalHeaderKey(line[:colon])
		v := trimOWS(line[colon+1:])
		switch key {
		case "Transfer-Encoding", "Trailer", "Pragma":
			return false // chunked bodies, trailers and Cache-Control fix-ups: http.ReadResponse
		case "Content-Length":
			if cl >= 0 {
				return false
			}
			if cl = parseLength(v); cl < 0 {
				return false
			}
		case "Connection":
			closeConn = closeConn || listed([]string{v}, "close")
		}
		values[n] = v
		if vv, ok := h[key]; ok {
			h[key] = append(vv, v)
		} else {
			h[key] = values[n : n+1 : n+1]
		}
	}
	if cl < 0 {
		return false // close-delimited
	}
	if closeConn {
		delete(h, "Connection") // as net/http does
	}
	*resp = http.Response{
		Status:        s[9:strings.IndexByte(s, '\r')],
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: cl,
		Close:         closeConn,
	}
	_, _ = br.Discard(len(head) + 2)
	return true
}

var crlfcrlf = []byte("\r\n\r\n")

// parseLength parses a Content-Length value, or returns -1.
func parseLength(v string) int64 {
	if v == "" || len(v) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b < '0' || b > '9' {
			return -1
		}
		n = n*10 + int64(b-'0')
	}
	return n
}
