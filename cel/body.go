package cel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	celgo "github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// DefaultMaxBodyBytes bounds the request body buffered for `request.body` (agentgateway's default
// maxBufferSize).
const DefaultMaxBodyBytes = 2 << 20

// RequestBody is the name [Program.Uses] reports for expressions that read `request.body`.
const RequestBody = "request.body"

// ErrBodyTooLarge is wrapped by the error of an expression reading `request.body` when the body is
// larger than the limit; the body is then forwarded unchanged and unbuffered.
var ErrBodyTooLarge = errors.New("request body too large to buffer")

type maxBodyKey struct{}

// WithMaxBodyBytes returns ctx with n as the bound of the body buffered for `request.body` of requests
// carrying it, where the caller sets none of its own (the gateway's frontendPolicies.http.maxBufferSize).
func WithMaxBodyBytes(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, maxBodyKey{}, n)
}

// maxBodyBytes is the bound for r when the caller gave none: r's context's, else DefaultMaxBodyBytes.
func maxBodyBytes(r *http.Request) int64 {
	if n, ok := r.Context().Value(maxBodyKey{}).(int64); ok && n > 0 {
		return n
	}
	return DefaultMaxBodyBytes
}

// replayBody is a buffered request body: the upstream reads the same bytes.
type replayBody struct {
	data []byte
	r    bytes.Reader
	c    io.Closer
}

func (b *replayBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *replayBody) Close() error               { return b.c.Close() }

// BufferBody reads r's body (at most limit bytes; 0 means the bound of r's context, see
// [WithMaxBodyBytes], else DefaultMaxBodyBytes) so that expressions
// can read it, and puts it back for the upstream unchanged. A larger body is put back as it was and
// ErrBodyTooLarge returned. A body buffered before is not read again.
func BufferBody(r *http.Request, limit int64) ([]byte, error) {
	if r == nil || r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if b, ok := r.Body.(*replayBody); ok && b.r.Len() == len(b.data) {
		return b.data, nil
	}
	if limit <= 0 {
		limit = maxBodyBytes(r)
	}
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrBodyTooLarge, r.ContentLength, limit)
	}
	orig := r.Body
	data, err := io.ReadAll(io.LimitReader(orig, limit+1))
	if int64(len(data)) > limit {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), orig), orig}
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
	}
	if err != nil {
		// What was read still goes upstream, followed by the error.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), errReader{err}), orig}
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	rb := &replayBody{data: data, c: orig}
	rb.r.Reset(data)
	r.Body = rb
	return data, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// PrepareBody buffers the body for expressions that read `request.body` (see [Program.Uses] with
// [RequestBody]), answering 413 and returning false when it is larger than limit.
func PrepareBody(w http.ResponseWriter, r *http.Request, limit int64) bool {
	if _, err := BufferBody(r, limit); errors.Is(err, ErrBodyTooLarge) {
		w.Header().Set("Connection", "close") // the unread body is not drained
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return false
	}
	return true
}

// bodyValue is request.body for the activation: buffered on first use.
func (a *Activation) bodyValue() ref.Val {
	data, err := BufferBody(a.Request, a.MaxBodyBytes)
	if err != nil {
		return types.WrapErr(err)
	}
	return types.String(data)
}

// readsBody reports whether the checked expression selects `body` from the `request` variable
// (request.body, request["body"]).
func readsBody(e ast.Expr) bool {
	found := false
	isRequest := func(x ast.Expr) bool { return x.Kind() == ast.IdentKind && x.AsIdent() == "request" }
	ast.PreOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		switch x.Kind() {
		case ast.SelectKind:
			if s := x.AsSelect(); s.FieldName() == "body" && isRequest(s.Operand()) {
				found = true
			}
		case ast.CallKind:
			c := x.AsCall()
			if c.FunctionName() == operators.Index && len(c.Args()) == 2 && isRequest(c.Args()[0]) {
				if lit := c.Args()[1]; lit.Kind() == ast.LiteralKind && lit.AsLiteral() == types.String("body") {
					found = true
				}
				if c.Args()[1].Kind() != ast.LiteralKind {
					found = true // request[x]: could be body
				}
			}
		}
	}))
	return found
}

// formLib is form(): application/x-www-form-urlencoded decoding.
func formFunctions() []celgo.EnvOption {
	return []celgo.EnvOption{
		celgo.Function("form",
			celgo.Overload("form_string", []*celgo.Type{celgo.StringType}, celgo.MapType(celgo.StringType, celgo.StringType),
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return parseForm(string(v.(types.String))) })),
			celgo.Overload("form_bytes", []*celgo.Type{celgo.BytesType}, celgo.MapType(celgo.StringType, celgo.StringType),
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return parseForm(string(v.(types.Bytes))) }))),
	}
}

// parseForm decodes a url-encoded form into a map of each key's first value; a malformed form is an
// error value.
func parseForm(s string) ref.Val {
	vs, err := url.ParseQuery(s)
	if err != nil {
		return types.NewErr("form: %v", err)
	}
	m := make(map[string]string, len(vs))
	for k, v := range vs {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return types.DefaultTypeAdapter.NativeToValue(m)
}
