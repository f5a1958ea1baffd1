package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
	"unicode/utf8"
)

// This file reads the JSON-RPC envelope straight from the raw bytes: the gateway routes on the method,
// the id and one or two fields of params, and forwards everything else untouched. The scanner below
// never allocates; callers validate the message with json.Valid first, so it may assume well-formed
// input and only has to stay in bounds.

// span is a half-open byte range of a JSON value inside a message.
type span struct{ start, end int }

func (s span) ok() bool { return s.end > s.start }

func (s span) of(b []byte) []byte {
	if !s.ok() {
		return nil
	}
	return b[s.start:s.end]
}

// envelope is what the gateway needs to know about one JSON-RPC message.
type envelope struct {
	jsonrpc span
	id      span
	method  string
	params  span
	result  span
	err     span
}

func (e *envelope) isRequest() bool      { return e.method != "" && e.id.ok() }
func (e *envelope) isNotification() bool { return e.method != "" && !e.id.ok() }
func (e *envelope) isResponse() bool     { return e.method == "" && (e.result.ok() || e.err.ok()) }

// Errors of the JSON-RPC entry point; each maps to a JSON-RPC error code.
var (
	// ErrParse is returned for a body that is not JSON.
	ErrParse = errors.New("mcp: parse error")
	// ErrInvalidRequest is returned for JSON that is not a JSON-RPC 2.0 message.
	ErrInvalidRequest = errors.New("mcp: invalid request")
)

// parseEnvelope reads the top-level fields of one JSON-RPC message.
func parseEnvelope(b []byte) (envelope, error) {
	var e envelope
	if !json.Valid(b) {
		return e, ErrParse
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return e, ErrInvalidRequest // batches (arrays) are not supported since 2025-06-18
	}
	var method span
	err := eachField(b, i, func(key []byte, v span) bool {
		switch string(key) {
		case "jsonrpc":
			e.jsonrpc = v
		case "id":
			e.id = v
		case "method":
			method = v
		case "params":
			e.params = v
		case "result":
			e.result = v
		case "error":
			e.err = v
		}
		return true
	})
	if err != nil {
		return e, err
	}
	if string(e.jsonrpc.of(b)) != `"2.0"` {
		return e, ErrInvalidRequest
	}
	if e.id.ok() {
		switch c := b[e.id.start]; {
		case c == '"' || c == '-' || (c >= '0' && c <= '9'):
		case c == 'n': // null: treated as absent
			e.id = span{}
		default:
			return e, ErrInvalidRequest
		}
	}
	if method.ok() {
		if b[method.start] != '"' {
			return e, ErrInvalidRequest
		}
		e.method = stringValue(b, method)
		if e.method == "" {
			return e, ErrInvalidRequest
		}
		if e.params.ok() && b[e.params.start] != '{' {
			return e, ErrInvalidRequest
		}
	} else if !e.result.ok() && !e.err.ok() {
		return e, ErrInvalidRequest
	}
	return e, nil
}

// field returns the span of the value at the path of object keys below the value at v.
func field(b []byte, v span, path ...string) span {
	for _, k := range path {
		if !v.ok() || b[v.start] != '{' {
			return span{}
		}
		var found span
		_ = eachField(b, v.start, func(key []byte, fv span) bool {
			if string(key) == k {
				found = fv
				return false
			}
			return true
		})
		v = found
	}
	return v
}

// stringField returns the string at the path, "" when absent or not a string.
func stringField(b []byte, v span, path ...string) string {
	s := field(b, v, path...)
	if !s.ok() || b[s.start] != '"' {
		return ""
	}
	return stringValue(b, s)
}

// stringValue decodes the JSON string at s (no allocation beyond the result when there are no escapes).
func stringValue(b []byte, s span) string {
	raw := b[s.start:s.end]
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var out string
	if json.Unmarshal(raw, &out) != nil {
		return ""
	}
	return out
}

// eachField calls fn for each key of the object starting at b[i] == '{'; fn returns false to stop.
func eachField(b []byte, i int, fn func(key []byte, v span) bool) error {
	i++ // '{'
	for {
		i = skipWS(b, i)
		if i >= len(b) {
			return ErrParse
		}
		if b[i] == '}' {
			return nil
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
		if i >= len(b) || b[i] != '"' {
			return ErrParse
		}
		ks := i
		i = skipString(b, i)
		key := b[ks+1 : i-1]
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ':' {
			return ErrParse
		}
		i = skipWS(b, i+1)
		vs := i
		i = skipValue(b, i)
		if i < 0 {
			return ErrParse
		}
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(b[ks:ks+len(key)+2], &k) == nil {
				key = []byte(k)
			}
		}
		if !fn(key, span{vs, i}) {
			return nil
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	i++
	for i < len(b) {
		switch b[i] {
		case '\\':
			i += 2
		case '"':
			return i + 1
		default:
			i++
		}
	}
	return len(b)
}

// skipValue returns the index just past the value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// splice returns b with the bytes of s replaced by repl, in a new slice.
func splice(b []byte, s span, repl []byte) []byte {
	out := make([]byte, 0, len(b)-(s.end-s.start)+len(repl))
	out = append(out, b[:s.start]...)
	out = append(out, repl...)
	return append(out, b[s.end:]...)
}

// JSON-RPC error codes used by the gateway beyond the standard ones.
const (
	codeParse          = rpcmsg.CodeParseError
	codeInvalidRequest = rpcmsg.CodeInvalidRequest
	codeMethodNotFound = rpcmsg.CodeMethodNotFound
	codeInvalidParams  = rpcmsg.CodeInvalidParams
	codeInternal       = rpcmsg.CodeInternalError
	// codeResourceNotFound is what MCP servers answer for an unknown resource URI.
	codeResourceNotFound = -32002
)

// quoted encodes s as a JSON string.
func quoted(s string) []byte { return rpcmsg.AppendQuoted(nil, s) }
