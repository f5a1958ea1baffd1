package llm

import (
	"encoding/json"
	"strconv"

	"github.com/agentgw/agentgateway/internal/jsonscan"
)

// scanDec reads values of a document jsonscan.Scan accepted the way encoding/json would decode
// them into the wire structs: null leaves a value unset, a key matches a field ignoring case, and a
// value of the wrong type is an error. Instead of reporting that error it marks the decode bad: the
// hand-written decoders give up on such input and encoding/json decodes it again, producing its own
// error. (Scan refuses duplicate keys, which encoding/json resolves last-wins, and invalid UTF-8,
// which it replaces: those documents go to encoding/json too.)
type scanDec struct {
	b   []byte
	bad bool
}

func (d *scanDec) null(v jsonscan.Span) bool {
	return v.End-v.Start == 4 && d.b[v.Start] == 'n'
}

// str reads a string ("" for null).
func (d *scanDec) str(v jsonscan.Span) string {
	if d.null(v) {
		return ""
	}
	if !jsonscan.IsString(d.b, v) {
		d.bad = true
		return ""
	}
	if raw, ok := jsonscan.RawString(d.b, v); ok {
		return string(raw)
	}
	return jsonscan.Unquote(d.b, v)
}

// enum reads a string that is usually one of lits, returning the literal itself then: a role or a
// type is compared, not kept, and need not be allocated.
func (d *scanDec) enum(v jsonscan.Span, lits ...string) string {
	if raw, ok := jsonscan.RawString(d.b, v); ok {
		for _, l := range lits {
			if string(raw) == l {
				return l
			}
		}
	}
	return d.str(v)
}

// checkStr checks that v is a string or null without reading it.
func (d *scanDec) checkStr(v jsonscan.Span) {
	if !d.null(v) && !jsonscan.IsString(d.b, v) {
		d.bad = true
	}
}

// boolean reads a boolean; set is false for null.
func (d *scanDec) boolean(v jsonscan.Span) (val, set bool) {
	switch string(v.In(d.b)) {
	case "true":
		return true, true
	case "false":
		return false, true
	case "null":
		return false, false
	}
	d.bad = true
	return false, false
}

func (d *scanDec) isNumber(v jsonscan.Span) bool {
	c := d.b[v.Start]
	return c == '-' || c >= '0' && c <= '9'
}

// integer reads an int as encoding/json does (no fraction or exponent); set is false for null.
func (d *scanDec) integer(v jsonscan.Span) (n int, set bool) {
	if d.null(v) {
		return 0, false
	}
	if !d.isNumber(v) {
		d.bad = true
		return 0, false
	}
	i, err := strconv.ParseInt(string(v.In(d.b)), 10, strconv.IntSize)
	if err != nil {
		d.bad = true
		return 0, false
	}
	return int(i), true
}

// float reads a float64 (nil for null).
func (d *scanDec) float(v jsonscan.Span) *float64 {
	if d.null(v) {
		return nil
	}
	if !d.isNumber(v) {
		d.bad = true
		return nil
	}
	f, err := strconv.ParseFloat(string(v.In(d.b)), 64)
	if err != nil {
		d.bad = true
		return nil
	}
	return &f
}

// raw copies the value as a json.RawMessage gets it (null included).
func (d *scanDec) raw(v jsonscan.Span) json.RawMessage {
	return append(json.RawMessage(nil), v.In(d.b)...)
}

// object reports whether v is an object; null is not, and anything else marks the decode bad.
func (d *scanDec) object(v jsonscan.Span) bool {
	if jsonscan.IsObject(d.b, v) {
		return true
	}
	if !d.null(v) {
		d.bad = true
	}
	return false
}

// array calls fn for each element of the array at v; null has none, anything else marks the
// decode bad. n is the number of elements.
func (d *scanDec) array(v jsonscan.Span, fn func(i int, e jsonscan.Span)) (n int, isArray bool) {
	b := d.b
	if !v.Found() || d.null(v) {
		return 0, false
	}
	if b[v.Start] != '[' {
		d.bad = true
		return 0, false
	}
	i := skipSpace(b, v.Start+1)
	for i < v.End && b[i] != ']' {
		e := jsonscan.Skip(b, i)
		if e < 0 {
			d.bad = true
			return n, true
		}
		fn(n, jsonscan.Span{Start: i, End: e})
		n++
		if i = skipSpace(b, e); i < v.End && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return n, true
}

// count returns the number of elements of the array at v (0 when it is not one).
func (d *scanDec) count(v jsonscan.Span) int {
	if !v.Found() || d.b[v.Start] != '[' {
		return 0
	}
	b, n := d.b, 0
	i := skipSpace(b, v.Start+1)
	for i < v.End && b[i] != ']' {
		if i = jsonscan.Skip(b, i); i < 0 {
			return n
		}
		n++
		if i = skipSpace(b, i); i < v.End && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return n
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
