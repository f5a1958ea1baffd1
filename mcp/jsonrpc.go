package mcp

import (
	"errors"
	"fmt"

	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
	"github.com/agentgw/agentgateway/internal/jsonscan"
)

// This file reads the JSON-RPC envelope straight from the raw bytes: the gateway routes on the method,
// the id and one or two fields of params, and forwards everything else untouched. jsonscan validates
// the whole message in the same pass and refuses objects with duplicate keys (at any depth, compared
// after unescaping and ignoring case), so every target reads the forwarded bytes as the gateway did.
// A client message with a duplicate key is an Invalid Request (-32600, HTTP 400) wherever the key is:
// the message as a whole has no single meaning, so no part of it is routed. Messages from targets go
// through the same scanner; one with a duplicate key is treated like any malformed upstream message.

// span is a half-open byte range of a JSON value inside a message.
type span struct{ start, end int }

func (s span) ok() bool { return s.end > s.start }

func (s span) of(b []byte) []byte {
	if !s.ok() {
		return nil
	}
	return b[s.start:s.end]
}

func toSpan(s jsonscan.Span) span  { return span{s.Start, s.End} }
func (s span) scan() jsonscan.Span { return jsonscan.Span{Start: s.start, End: s.end} }

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
	// ErrInvalidRequest is returned for JSON that is not a JSON-RPC 2.0 message, including JSON
	// with duplicate object keys or nested too deeply (then it also wraps jsonscan's error).
	ErrInvalidRequest = errors.New("mcp: invalid request")
)

// methodNames interns the method names of the protocol, so reading one does not allocate.
var methodNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"initialize", "ping", "tools/list", "tools/call", "prompts/list", "prompts/get", "resources/list",
		"resources/templates/list", "resources/read", "resources/subscribe", "resources/unsubscribe",
		"completion/complete", "logging/setLevel", "sampling/createMessage", "elicitation/create", "roots/list",
		"notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/message",
		"notifications/roots/list_changed", "notifications/tools/list_changed", "notifications/prompts/list_changed",
		"notifications/resources/list_changed", "notifications/resources/updated",
	} {
		m[n] = n
	}
	return m
}()

// parseEnvelope validates one JSON-RPC message and reads its top-level fields.
func parseEnvelope(b []byte) (envelope, error) {
	var e envelope
	var method span
	top, err := jsonscan.Scan(b, func(k jsonscan.Key, v jsonscan.Span) {
		switch {
		case k.Matches("jsonrpc"):
			e.jsonrpc = toSpan(v)
		case k.Matches("id"):
			e.id = toSpan(v)
		case k.Matches("method"):
			method = toSpan(v)
		case k.Matches("params"):
			e.params = toSpan(v)
		case k.Matches("result"):
			e.result = toSpan(v)
		case k.Matches("error"):
			e.err = toSpan(v)
		}
	})
	if err != nil {
		e = envelope{}
		if errors.Is(err, jsonscan.ErrSyntax) {
			return e, fmt.Errorf("%w: %w", ErrParse, err)
		}
		return e, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if b[top.Start] != '{' {
		return envelope{}, ErrInvalidRequest // batches (arrays) are not supported since 2025-06-18
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
		if raw, ok := jsonscan.RawString(b, method.scan()); ok {
			if m, known := methodNames[string(raw)]; known {
				e.method = m
			}
		}
		if e.method == "" {
			e.method = stringValue(b, method)
		}
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

// field returns the span of the value at the path of object keys below the value at v. b must have
// been validated by parseEnvelope (or be JSON the gateway or go-sdk encoded).
func field(b []byte, v span, path ...string) span {
	return toSpan(jsonscan.Field(b, v.scan(), path...))
}

// stringField returns the string at the path, "" when absent or not a string.
func stringField(b []byte, v span, path ...string) string {
	return stringValue(b, field(b, v, path...))
}

// stringValue decodes the JSON string at s ("" when absent or not a string).
func stringValue(b []byte, s span) string { return jsonscan.Unquote(b, s.scan()) }

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
