package llm

import (
	"io"
	"net/http"
)

// Format is one client-facing API (OpenAI Chat Completions, Anthropic Messages, ...): how a client's
// request is read and how answers, stream events and errors are written back to it. A Format is
// stateless and safe for concurrent use; per-stream state lives in its [StreamEncoder].
//
// Adding a client API is one file: a type implementing Format, registered in the router's path table.
type Format interface {
	// Name is the wire name: "openai" (chat completions) or "anthropic" (messages). A Provider whose
	// Wire is the same name receives the client's bytes with only the model rewritten (the fast path).
	Name() string
	// Peek reads what routing needs (model, stream flag) from a request body without decoding the
	// rest; a body that is not a JSON object of this format is an *Error of kind ErrInvalidRequest.
	Peek(body []byte) (Peek, error)
	// DecodeRequest decodes a whole request into the internal form (errors are *Error, kind
	// ErrInvalidRequest).
	DecodeRequest(body []byte) (*Request, error)
	// EncodeResponse encodes a complete response.
	EncodeResponse(resp *Response) ([]byte, error)
	// NewStreamEncoder returns the encoder of one streamed response; req is the client's request
	// (for IncludeUsage and the model name).
	NewStreamEncoder(req *Request) StreamEncoder
	// ErrorBody encodes e as this format's error object (the body of a non-streamed error answer).
	ErrorBody(e *Error) []byte
}

// StreamEncoder encodes the events of one streamed response as this format's server-sent events.
type StreamEncoder interface {
	// Encode appends the SSE frames for ev to dst and returns it. It may buffer (Anthropic's
	// message_delta waits for the usage that OpenAI sends after the finish reason) and flushes at
	// EventEnd and EventError; after EventError the stream is over.
	Encode(dst []byte, ev *Event) []byte
}

// Peek is what a Format reads from a request before routing it.
type Peek struct {
	Model  string
	Stream bool
	// IncludeUsage is an OpenAI client's stream_options.include_usage.
	IncludeUsage bool
}

// Provider is one upstream API (OpenAI chat completions, Anthropic messages, ...): how a request is
// sent to it and how its answers, streams and errors are read. A Provider is stateless and safe for
// concurrent use.
//
// Adding an upstream API is one file: a type implementing Provider (and, if it has a client-facing
// twin, the same type implementing Format for the fast path).
type Provider interface {
	// Name is gen_ai.provider.name ("openai", "anthropic", or a configured name).
	Name() string
	// Wire is the Format name whose requests this provider accepts unchanged ("" for none).
	Wire() string
	// DefaultBase is the default scheme://host and path prefix, e.g. "https://api.openai.com/v1".
	DefaultBase() string
	// Path is the path after the prefix for an operation ("/chat/completions"), "" if unsupported.
	Path(op Operation) string
	// EncodeRequest encodes req (whose Model is already the upstream model) for this provider.
	EncodeRequest(req *Request) ([]byte, error)
	// SetHeaders sets the provider's fixed headers and its credential (key may be "").
	SetHeaders(h http.Header, key string)
	// DecodeResponse decodes a complete response body.
	DecodeResponse(body []byte) (*Response, error)
	// NewStreamDecoder reads the provider's event stream from r.
	NewStreamDecoder(r io.Reader) StreamDecoder
	// DecodeError reads an error answer (status >= 400) into an *Error keeping status and message.
	DecodeError(status int, body []byte) *Error
	// Usage reads the model and usage of a native response body (the fast path, which forwards the
	// bytes unchanged).
	Usage(body []byte) (model string, u Usage)
}

// StreamDecoder yields the events of one upstream stream.
type StreamDecoder interface {
	// Next returns the next event; io.EOF after EventEnd. A stream cut short yields an EventError
	// (kind ErrAPI) before io.EOF; a read failure is returned as the error.
	Next() (Event, error)
}

// Operation is what a request asks for; it becomes State.LLM.Operation.
type Operation string

// Operations of the client-facing APIs.
const (
	OpChat        Operation = "chat"
	OpCountTokens Operation = "count_tokens"
	OpModels      Operation = "models"
)
