package llm

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// MaxSSEEvent bounds one server-sent event read from a provider (its data lines together); a
// longer event fails the stream instead of growing memory without end.
const MaxSSEEvent = 4 << 20

// ErrSSETooLarge reports an upstream event larger than MaxSSEEvent.
var ErrSSETooLarge = errors.New("llm: server-sent event too large")

// sseReader reads server-sent events (the text/event-stream format) as the providers send them:
// "event:" and "data:" fields, events ended by a blank line, comments (":") ignored, multi-line data
// joined with "\n", and CR, LF or CRLF line ends.
type sseReader struct {
	r     *bufio.Reader
	event []byte
	data  []byte
	raw   []byte // the event's bytes as read, for verbatim forwarding
	keep  bool   // record raw
}

func newSSEReader(r io.Reader, keepRaw bool) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 16<<10), keep: keepRaw}
}

// Next returns the next event's name and data (both valid until the next call). Events without a
// data field are skipped. It returns io.EOF at the end of input; a final event without its blank
// line is still returned first.
func (s *sseReader) Next() (event, data []byte, err error) {
	s.event, s.data, s.raw = s.event[:0], s.data[:0], s.raw[:0]
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && hasData {
				return s.event, s.data, nil
			}
			return nil, nil, err
		}
		if len(line) == 0 {
			if !hasData {
				// As the SSE spec has it, an event without data is not dispatched (comments,
				// keep-alives, blank lines between events).
				s.event, s.raw = s.event[:0], s.raw[:0]
				continue
			}
			return s.event, s.data, nil
		}
		if line[0] == ':' {
			continue
		}
		name, value, _ := bytes.Cut(line, []byte{':'})
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(name) {
		case "event":
			s.event = append(s.event[:0], value...)
		case "data":
			if hasData {
				s.data = append(s.data, '\n')
			}
			hasData = true
			s.data = append(s.data, value...)
		}
		if len(s.data)+len(s.event) > MaxSSEEvent {
			return nil, nil, ErrSSETooLarge
		}
	}
}

// Raw is the last event's bytes as read, ending with its blank line (only when keepRaw).
func (s *sseReader) Raw() []byte { return s.raw }

// readLine reads one line without its end; a line longer than MaxSSEEvent is an error.
func (s *sseReader) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(line)+len(chunk) > MaxSSEEvent {
			return nil, ErrSSETooLarge
		}
		if err == bufio.ErrBufferFull {
			line = append(line, chunk...)
			continue
		}
		if line != nil {
			chunk = append(line, chunk...)
		}
		if s.keep {
			s.raw = append(s.raw, chunk...)
		}
		if err != nil {
			if err == io.EOF && len(chunk) > 0 {
				return trimCR(chunk), nil
			}
			return nil, err
		}
		return trimCR(chunk[:len(chunk)-1]), nil
	}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// appendSSE appends one event: "event: name\n" (when name is set), "data: data\n\n".
func appendSSE(dst []byte, name string, data []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}
