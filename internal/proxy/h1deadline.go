package proxy

import "time"

// SetReadDeadline bounds the reads of the rest of a response body: a caller that has what it needs
// (the response event of an SSE stream, say) reads on to the end so that the connection is reused,
// but not for ever. A read past the deadline fails, and the connection is then closed rather than
// pooled. The zero time removes the bound; do that before Close when the body was read to its end.
func (b *h1Body) SetReadDeadline(t time.Time) error {
	if b.c == nil {
		return errBodyClosed
	}
	return b.c.nc.SetReadDeadline(t)
}
