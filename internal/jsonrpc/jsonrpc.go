// Package jsonrpc builds the JSON-RPC 2.0 messages the gateway writes itself (errors, results and
// requests around raw payloads), for the protocol packages that route JSON-RPC without decoding it.
package jsonrpc

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The standard error codes (JSON-RPC 2.0 section 5.1).
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// Error returns an error response; id is the request's raw JSON id (empty: null).
func Error(id []byte, code int, msg string) []byte {
	out := make([]byte, 0, 64+len(msg)+len(id))
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	if len(id) == 0 {
		out = append(out, "null"...)
	} else {
		out = append(out, id...)
	}
	out = append(out, `,"error":{"code":`...)
	out = strconv.AppendInt(out, int64(code), 10)
	out = append(out, `,"message":`...)
	out = AppendQuoted(out, msg)
	return append(out, "}}"...)
}

// Result returns a response around an encoded result.
func Result(id, result []byte) []byte {
	out := make([]byte, 0, 40+len(id)+len(result))
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, id...)
	out = append(out, `,"result":`...)
	out = append(out, result...)
	return append(out, '}')
}

// Request returns a request around encoded params (nil params: none); a nil id makes a notification.
func Request(id []byte, method string, params []byte) []byte {
	out := make([]byte, 0, 48+len(method)+len(params))
	out = append(out, `{"jsonrpc":"2.0"`...)
	if id != nil {
		out = append(out, `,"id":`...)
		out = append(out, id...)
	}
	out = append(out, `,"method":`...)
	out = AppendQuoted(out, method)
	if params != nil {
		out = append(out, `,"params":`...)
		out = append(out, params...)
	}
	return append(out, '}')
}

// AppendQuoted appends s as a JSON string, without allocating when s needs no escaping.
func AppendQuoted(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s)
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
