package h1server

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// preBufSize is how much of a response body is held back while the handler runs so that a short
// response gets a Content-Length rather than chunked framing (net/http's chunking buffer size).
const preBufSize = 2048

// response is the http.ResponseWriter of one request.
type response struct {
	c           *conn
	req         *http.Request
	header      http.Header
	status      int
	wroteHeader bool  // the handler's final status is set
	committed   bool  // the head is in the write buffer
	cl          int64 // the handler's Content-Length, -1 if none
	written     int64
	chunked     bool
	noBody      bool // 1xx, 204, 304: no body
	head        bool // a HEAD request: the body is counted, not sent
	closeAfter  bool
	failed      bool // writing to the client failed
	done        bool // the handler returned
	trailers    []string
	// writeDeadline: the handler set one; it is cleared after the response, as net/http does.
	writeDeadline bool
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.wroteHeader || w.done {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An interim response goes out at once with the header map as it is (103 Early Hints).
		w.writeStatusLine(code)
		w.writeHeaderMap(nil)
		w.c.bw.WriteString("\r\n")
		w.flushWire()
		return
	}
	w.wroteHeader = true
	w.status = code
	if v := w.header.Get("Content-Length"); v != "" {
		if n, ok := parseLength(strings.TrimSpace(v)); ok {
			w.cl = n
		} else {
			w.header.Del("Content-Length") // as net/http does with an invalid one
		}
	}
	w.noBody = !bodyAllowed(code)
	w.head = w.req.Method == http.MethodHead
}

func bodyAllowed(code int) bool {
	return !(code >= 100 && code < 200) && code != http.StatusNoContent && code != http.StatusNotModified
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.done {
		return 0, http.ErrHijacked // as net/http: writes after the handler returned are refused
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if len(w.c.pre)+len(p) <= preBufSize {
			w.c.pre = append(w.c.pre, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	return w.writeBody(p)
}

func (w *response) writeBody(p []byte) (int, error) {
	if w.head {
		return len(p), nil // HEAD: the body is eaten
	}
	if len(p) == 0 || w.failed {
		if w.failed {
			return 0, net.ErrClosed
		}
		return 0, nil
	}
	bw := w.c.bw
	if w.chunked {
		var hx [16]byte
		bw.Write(strconv.AppendInt(hx[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		w.failed = true
	}
	return n, err
}

// commit writes the response head to the buffer, deciding the framing: a Content-Length when the
// handler set one or has returned (the whole body is in pre), else chunked.
func (w *response) commit(final bool) {
	w.committed = true
	h := w.header
	var extra [3]string
	ne := 0
	if !w.noBody && w.cl < 0 && !(w.head && (!final || len(w.c.pre) == 0)) {
		// (HEAD: a Content-Length only for what a handler that finished wrote, as net/http does.)
		if final && len(h["Trailer"]) == 0 && !hasTrailerPrefix(h) {
			w.cl = int64(len(w.c.pre))
			extra[ne] = "Content-Length: " + strconv.Itoa(len(w.c.pre))
			ne++
		} else {
			w.chunked = true
			extra[ne] = "Transfer-Encoding: chunked"
			ne++
		}
	}
	if _, ok := h["Content-Type"]; !ok && len(w.c.pre) > 0 && bodyAllowed(w.status) {
		extra[ne] = "Content-Type: " + http.DetectContentType(w.c.pre)
		ne++
	}
	if !w.closeAfter && (w.c.s.shutdown.Load() || httpguts.HeaderValuesContainsToken(h["Connection"], "close")) {
		w.closeAfter = true
	}
	if w.closeAfter && !httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		extra[ne] = "Connection: close"
		ne++
	}
	w.writeStatusLine(w.status)
	w.writeHeaderMap(extra[:ne])
	if _, ok := h["Date"]; !ok {
		w.c.bw.WriteString("Date: ")
		w.c.bw.WriteString(httpDate())
		w.c.bw.WriteString("\r\n")
	}
	w.c.bw.WriteString("\r\n")
	if w.chunked {
		for _, v := range h["Trailer"] {
			for _, k := range strings.Split(v, ",") {
				if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
					w.trailers = append(w.trailers, k)
				}
			}
		}
	}
	if len(w.c.pre) > 0 {
		pre := w.c.pre
		w.c.pre = w.c.pre[:0]
		w.writeBody(pre)
	}
}

func hasTrailerPrefix(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

var statusLines [600]string

func init() {
	for code := 100; code < len(statusLines); code++ {
		if t := http.StatusText(code); t != "" {
			statusLines[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + t + "\r\n"
		}
	}
}

func (w *response) writeStatusLine(code int) {
	if code < len(statusLines) && statusLines[code] != "" {
		w.c.bw.WriteString(statusLines[code])
		return
	}
	w.c.bw.WriteString("HTTP/1.1 " + strconv.Itoa(code) + " status code " + strconv.Itoa(code) + "\r\n")
}

// writeHeaderMap writes the handler's header fields (and extra lines), dropping those net/http
// drops (invalid names, Transfer-Encoding the server decides, trailer keys) and turning line breaks
// in values into spaces so that a value can never end the head.
func (w *response) writeHeaderMap(extra []string) {
	bw := w.c.bw
	for k, vs := range w.header {
		if k == "Transfer-Encoding" || strings.HasPrefix(k, http.TrailerPrefix) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeValue(bw, v)
			bw.WriteString("\r\n")
		}
	}
	for _, l := range extra {
		bw.WriteString(l)
		bw.WriteString("\r\n")
	}
}

type stringWriter interface {
	WriteString(string) (int, error)
	WriteByte(byte) error
}

func writeValue(bw stringWriter, v string) {
	v = strings.TrimSpace(v)
	if strings.IndexAny(v, "\r\n") < 0 {
		bw.WriteString(v)
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		bw.WriteByte(c)
	}
}

// finish completes the response after the handler returned.
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.done = true
	if !w.committed {
		w.commit(true)
	}
	if w.chunked && !w.failed {
		bw := w.c.bw
		bw.WriteString("0\r\n")
		for k, vs := range w.header {
			name, isTrailer := strings.CutPrefix(k, http.TrailerPrefix)
			if !isTrailer {
				for _, t := range w.trailers {
					if t == k {
						isTrailer = true
					}
				}
			}
			if !isTrailer || !httpguts.ValidHeaderFieldName(name) {
				continue
			}
			for _, v := range vs {
				bw.WriteString(name)
				bw.WriteString(": ")
				writeValue(bw, v)
				bw.WriteString("\r\n")
			}
		}
		bw.WriteString("\r\n")
	}
	if w.cl >= 0 && w.written != w.cl && !w.noBody && !w.head {
		w.closeAfter = true // short body: the client cannot find the next response
	}
	w.flushWire()
}

func (w *response) flushWire() {
	if w.failed {
		return
	}
	if err := w.c.bw.Flush(); err != nil {
		w.failed = true
	}
}

// Flush sends the head and what the handler wrote so far (http.Flusher).
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush reporting the write's error (http.ResponseController).
func (w *response) FlushError() error {
	if w.done {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	w.flushWire()
	if w.failed {
		return net.ErrClosed
	}
	return nil
}

// SetReadDeadline sets the connection's read deadline (http.ResponseController).
func (w *response) SetReadDeadline(t time.Time) error { return w.c.rwc.SetReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline (http.ResponseController).
func (w *response) SetWriteDeadline(t time.Time) error {
	w.writeDeadline = true
	return w.c.rwc.SetWriteDeadline(t)
}

// EnableFullDuplex is a no-op: the request body may always be read while the response is written.
func (w *response) EnableFullDuplex() error { return nil }

type cachedDate struct {
	sec int64
	s   string
}

var dateCache atomic.Pointer[cachedDate]

// httpDate is the Date header value, formatted once a second.
func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &cachedDate{sec: now.Unix(), s: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}

// replayConn is a connection whose first reads return bytes already read from it.
type replayConn struct {
	net.Conn
	rest []byte
}

func newReplayConn(c net.Conn, rest []byte) net.Conn {
	if len(rest) == 0 {
		return c
	}
	return &replayConn{Conn: c, rest: rest}
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes when the connection underneath can (net/http uses it on errors).
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
