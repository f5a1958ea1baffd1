package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/agentgw/agentgateway/internal/jsonscan"
)

// Routing reads a few top-level members of a request (model, stream flag) and forwards the rest
// untouched, so the members are found with the gateway's JSON scanner instead of decoding the body:
// one pass, no allocation. The scanner also refuses duplicate keys, so the model the gateway routes
// and accounts on is the model every provider reads ("model" twice is a 400, not a bypass).

// topSpans holds the spans of the top-level members Peek and Usage read.
type topSpans struct {
	model, stream, streamOptions, usage jsonscan.Span
}

// scanTop validates body and finds its top-level members; body must be a JSON object.
func scanTop(body []byte) (topSpans, error) {
	var t topSpans
	top, err := jsonscan.Scan(body, func(k jsonscan.Key, v jsonscan.Span) {
		switch {
		case k.Matches("model"):
			t.model = v
		case k.Matches("stream"):
			t.stream = v
		case k.Matches("stream_options"):
			t.streamOptions = v
		case k.Matches("usage"):
			t.usage = v
		}
	})
	if err != nil {
		return t, err
	}
	if !jsonscan.IsObject(body, top) {
		return t, errors.New("the body is not a JSON object")
	}
	return t, nil
}

// isNull reports whether the member at s is absent or JSON null.
func isNull(body []byte, s jsonscan.Span) bool {
	return !s.Found() || string(s.In(body)) == "null"
}

// scanString reads an optional string member: "" when absent or null.
func scanString(body []byte, s jsonscan.Span, name string) (string, error) {
	if isNull(body, s) {
		return "", nil
	}
	if !jsonscan.IsString(body, s) {
		return "", fmt.Errorf("%s: want a string", name)
	}
	if raw, ok := jsonscan.RawString(body, s); ok {
		return string(raw), nil
	}
	return jsonscan.Unquote(body, s), nil
}

// scanBool reads an optional boolean member: false when absent or null.
func scanBool(body []byte, s jsonscan.Span, name string) (bool, error) {
	if isNull(body, s) {
		return false, nil
	}
	switch string(s.In(body)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s: want a boolean", name)
}

// peekRequest reads the model and stream flag of a request; missing is the Format's own answer to a
// request without a model.
func peekRequest(body []byte, missing func() *Error) (Peek, topSpans, error) {
	t, err := scanTop(body)
	if err != nil {
		return Peek{}, t, malformed(err)
	}
	model, err := scanString(body, t.model, "model")
	if err != nil {
		return Peek{}, t, malformed(err)
	}
	if model == "" {
		return Peek{}, t, missing()
	}
	stream, err := scanBool(body, t.stream, "stream")
	if err != nil {
		return Peek{}, t, malformed(err)
	}
	return Peek{Model: model, Stream: stream}, t, nil
}

// usageOf reads a response's model and its usage member, decoding only the usage object. A
// response the scanner refuses (a provider may repeat a key) is decoded as a whole instead.
func usageOf[U any](body []byte, conv func(*U) Usage) (string, Usage) {
	t, err := scanTop(body)
	if err != nil {
		var in struct {
			Model string `json:"model"`
			Usage *U     `json:"usage"`
		}
		_ = json.Unmarshal(body, &in)
		return in.Model, conv(in.Usage)
	}
	model, _ := scanString(body, t.model, "model")
	if isNull(body, t.usage) {
		return model, conv(nil)
	}
	var u U
	if json.Unmarshal(t.usage.In(body), &u) != nil {
		return model, conv(nil)
	}
	return model, conv(&u)
}

// readBody reads a request body of at most limit bytes (one more byte tells the caller it was
// longer), into one buffer sized from Content-Length when the client sent it: io.ReadAll would grow
// its buffer several times for a few kilobytes.
func readBody(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength <= 0 || contentLength > limit {
		return io.ReadAll(io.LimitReader(r, limit+1))
	}
	b := make([]byte, 0, contentLength+1) // +1: a body longer than declared is seen, not cut
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			return b, nil
		case err != nil:
			return b, err
		case len(b) == cap(b):
			rest, err := io.ReadAll(io.LimitReader(r, limit+1-int64(len(b))))
			return append(b, rest...), err
		}
	}
}
