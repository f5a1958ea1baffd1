package cel_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/cel"
)

// countingBody records how much of the body was read.
type countingBody struct {
	r    io.Reader
	read int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}
func (c *countingBody) Close() error { return nil }

func TestRequestBodyOnlyWhenReferenced(t *testing.T) {
	for expr, want := range map[string]bool{
		`json(request.body).model == "gpt"`: true,
		`request["body"].contains("x")`:     true,
		`has(request.body)`:                 true,
		`request.headers["x"] == "body"`:    false,
		`request.path == "/body"`:           false,
		`{"body": 1}.body == 1`:             false,
		`jwt.body == "x"`:                   false,
	} {
		p, err := cel.Compile(expr, nil)
		require.NoError(t, err, expr)
		assert.Equal(t, want, p.Uses(cel.RequestBody), expr)
	}

	// An expression not reading the body leaves it untouched.
	body := &countingBody{r: strings.NewReader(`{"model":"gpt"}`)}
	r := httptest.NewRequest("POST", "/", nil)
	r.Body = body
	p, _ := cel.Compile(`request.path == "/"`, nil)
	ok, err := p.EvalBool(context.Background(), cel.NewActivation(r, nil))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Zero(t, body.read)

	// One that reads it sees it, and the upstream still reads every byte.
	p, _ = cel.Compile(`json(request.body).model == "gpt" && request.body.size() == 15`, nil)
	ok, err = p.EvalBool(context.Background(), cel.NewActivation(r, nil))
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = p.EvalBool(context.Background(), cel.NewActivation(r, nil))
	require.NoError(t, err, "a second activation reuses the buffer")
	assert.True(t, ok)
	b, _ := io.ReadAll(r.Body)
	assert.Equal(t, `{"model":"gpt"}`, string(b))

	// Over the limit: the expression errs with ErrBodyTooLarge, the body is forwarded unchanged.
	big := strings.Repeat("x", 100)
	r = httptest.NewRequest("POST", "/", strings.NewReader(big))
	r.ContentLength = -1
	a := cel.NewActivation(r, nil)
	a.MaxBodyBytes = 10
	_, err = p.Eval(context.Background(), a)
	assert.True(t, errors.Is(err, cel.ErrBodyTooLarge), "%v", err)
	b, _ = io.ReadAll(r.Body)
	assert.Equal(t, big, string(b))

	w := httptest.NewRecorder()
	r = httptest.NewRequest("POST", "/", strings.NewReader(big))
	assert.False(t, cel.PrepareBody(w, r, 10))
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
}

func TestFormFunction(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader("grant_type=client_credentials&scope=a+b&scope=c&x=%2F"))
	p, err := cel.Compile(`form(request.body).grant_type == "client_credentials" && form(request.body).scope == "a b" && form(b"x=%2F").x == "/"`, nil)
	require.NoError(t, err)
	ok, err := p.EvalBool(context.Background(), cel.NewActivation(r, nil))
	require.NoError(t, err)
	assert.True(t, ok)
	p, err = cel.Compile(`form("a=%zz")`, nil)
	require.NoError(t, err)
	_, err = p.Eval(context.Background(), cel.NewActivation(r, nil))
	assert.ErrorContains(t, err, "form")
}

// BenchmarkRuleWithoutBody: an expression that does not read request.body (compare allocs/op with
// the code before request.body existed: they must be equal).
func BenchmarkRuleWithoutBody(b *testing.B) {
	p, err := cel.Compile(`request.headers["x-user"] == "alice" && request.path.startsWith("/api")`, nil)
	require.NoError(b, err)
	r := httptest.NewRequest("POST", "/api/x", strings.NewReader(strings.Repeat("x", 4096)))
	r.Header.Set("X-User", "alice")
	var a cel.Activation
	b.ReportAllocs()
	for b.Loop() {
		a.Reset(r, nil)
		if ok, _ := p.EvalBool(context.Background(), &a); !ok {
			b.Fatal("no match")
		}
	}
}
