package cel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	celgo "github.com/google/cel-go/cel"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	agentgateway "github.com/agentgw/agentgateway"
)

func TestEval(t *testing.T) {
	r := httptest.NewRequest("POST", "http://api.example.com/v1/x?q=1", nil)
	r.Header.Set("X-Team", "red")
	st := &agentgateway.State{Source: netip.MustParseAddrPort("10.0.0.1:1234")}
	st.Identity.JWT = map[string]any{"sub": "alice", "groups": []any{"admin"}, "org": map[string]any{"id": "o1"}}
	st.MCP = agentgateway.MCPState{Method: "tools/call", ToolName: "echo", ToolTarget: "everything"}
	cases := map[string]bool{
		`request.method == "POST" && request.path.startsWith("/v1/")`: true,
		`request.headers["x-team"] == "red"`:                          true,
		`request.query["q"] == "1"`:                                   true,
		`source.address == "10.0.0.1"`:                                true,
		`"admin" in jwt.groups && jwt.org.id == "o1"`:                 true,
		`mcp.tool.name == "echo" && mcp.tool.target == "everything"`:  true,
		`has(apiKey.name)`:                                            false,
		`request.host == "other"`:                                     false,
	}
	for expr, want := range cases {
		p, err := Compile(expr, celgo.BoolType)
		require.NoError(t, err, expr)
		got, err := p.EvalBool(context.Background(), NewActivation(r, st))
		require.NoError(t, err, expr)
		require.Equal(t, want, got, expr)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, expr := range []string{`request.method ==`, `"a" + 1`, `unknownVar == 1`, `"x"`} {
		_, err := Compile(expr, celgo.BoolType)
		require.ErrorIs(t, err, ErrCompile, expr)
	}
}

func TestCompileCache(t *testing.T) {
	a, err := Compile(`request.path == "/cached"`, celgo.BoolType)
	require.NoError(t, err)
	b, err := Compile(`request.path == "/cached"`, celgo.BoolType)
	require.NoError(t, err)
	require.Same(t, a, b, "the same expression and type share one program")
	c, err := Compile(`request.path == "/cached"`, nil)
	require.NoError(t, err)
	require.NotSame(t, a, c, "a different required type is another entry")
	_, err = Compile(`request.path ==`, celgo.BoolType)
	require.ErrorIs(t, err, ErrCompile)
	_, err = Compile(`request.path ==`, celgo.BoolType)
	require.ErrorIs(t, err, ErrCompile, "errors are not cached as programs")
	_, err = Compile(`"x"`, celgo.BoolType)
	require.ErrorIs(t, err, ErrCompile, "the type check runs for a cached expression's other types too")

	for i := range cacheSize + 10 {
		_, err := Compile(strconv.Itoa(i), nil)
		require.NoError(t, err)
	}
	cache.mu.Lock()
	n := len(cache.m)
	cache.mu.Unlock()
	require.LessOrEqual(t, n, cacheSize, "the cache stays bounded")
}

func TestMissingKeyIsError(t *testing.T) {
	p, err := Compile(`jwt.sub == "x"`, celgo.BoolType)
	require.NoError(t, err)
	_, err = p.EvalBool(context.Background(), NewActivation(httptest.NewRequest("GET", "/", nil), nil))
	require.Error(t, err)
}

func BenchmarkRule(b *testing.B) {
	r := httptest.NewRequest("POST", "http://api.example.com/v1/x", nil)
	st := &agentgateway.State{}
	st.Identity.JWT = map[string]any{"sub": "alice"}
	p, err := Compile(`request.path.startsWith("/v1/") && jwt.sub == "alice"`, celgo.BoolType)
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ok, err := p.EvalBool(ctx, NewActivation(r, st))
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestViewsBehaveAsMaps(t *testing.T) {
	r := httptest.NewRequest("GET", "https://h.example/p?a=1&a=2&b=x", nil)
	r.Header.Add("X-Multi", "1")
	r.Header.Add("X-Multi", "2")
	r.Header["lowercase-raw"] = []string{"raw"}
	st := &agentgateway.State{Source: netip.MustParseAddrPort("[::1]:99")}
	st.MCP = agentgateway.MCPState{Method: "resources/read", Name: "file:///a", Target: "fs"}
	st.LLM = agentgateway.LLMState{InputTokens: 3, OutputTokens: 4, Streaming: true, Cost: 0.25}
	cases := map[string]bool{
		`request.headers["x-multi"] == "1,2"`:                                                     true,
		`request.headers["X-MULTI"] == "1,2"`:                                                     true,
		`request.headers["lowercase-raw"] == "raw"`:                                               true,
		`request.query["a"] == "1" && request.query.b == "x"`:                                     true,
		`request.scheme == "https" && request.uri == "/p?a=1&a=2&b=x"`:                            true,
		`has(request.headers.nope)`:                                                               false,
		`"x-multi" in request.headers`:                                                            true,
		`request.headers.exists(k, k == "x-multi")`:                                               true,
		`size(request.query) == 2`:                                                                true,
		`source == {"address": "::1", "port": 99, "certificate": ""}`:                             true,
		`mcp.resource.uri == "file:///a" && mcp.resource.target == "fs" && mcp.prompt.name == ""`: true,
		`llm.totalTokens == 7 && llm.streaming`:                                                   true,
		`llm.cost == 0.25 && llm.cost > 0.0`:                                                      true,
		`mcp.tool == {"name": "", "target": ""}`:                                                  true,
		`type(request) == map`:                                                                    true,
	}
	for expr, want := range cases {
		p, err := Compile(expr, celgo.BoolType)
		require.NoError(t, err, expr)
		got, err := p.EvalBool(context.Background(), NewActivation(r, st))
		require.NoError(t, err, expr)
		require.Equal(t, want, got, expr)
	}
}

func TestZeroActivationAndNilRequest(t *testing.T) {
	p, err := Compile(`request.path == "" && request.headers.size() == 0 && identity == ""`, celgo.BoolType)
	require.NoError(t, err)
	ok, err := p.EvalBool(context.Background(), &Activation{})
	require.NoError(t, err)
	require.True(t, ok)
}

func TestExtraOverrides(t *testing.T) {
	p, err := Compile(`request.path == "x"`, nil)
	require.NoError(t, err)
	a := NewActivation(nil, nil)
	a.Extra = map[string]any{"request": map[string]any{"path": "x"}}
	ok, err := p.EvalBool(context.Background(), a)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestCostLimit(t *testing.T) {
	cheap, err := Compile(`request.path.startsWith("/v1/")`, celgo.BoolType)
	require.NoError(t, err)
	require.False(t, cheap.CostTracked(), "a bounded expression needs no runtime tracking")
	costly, err := Compile(`[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, request.headers.all(h, h.size() >= 0)))))`, celgo.BoolType)
	require.NoError(t, err)
	require.True(t, costly.CostTracked())
	r := httptest.NewRequest("GET", "/", nil)
	for i := 0; i < 50; i++ {
		r.Header.Set("X-H"+strconv.Itoa(i), strings.Repeat("v", 10))
	}
	_, err = costly.EvalBool(context.Background(), NewActivation(r, nil))
	require.ErrorContains(t, err, "cost limit")
}

func TestEvalString(t *testing.T) {
	p, err := Compile(`request.method + ":" + string(source.port)`, nil)
	require.NoError(t, err)
	s, err := p.EvalString(context.Background(), NewActivation(httptest.NewRequest("PUT", "/", nil), &agentgateway.State{Source: netip.MustParseAddrPort("1.2.3.4:5")}))
	require.NoError(t, err)
	require.Equal(t, "PUT:5", s)
}

// FuzzActivation feeds arbitrary request parts to the attribute builder and the views: no input may
// panic, and the view must agree with the plain map.
func FuzzActivation(f *testing.F) {
	f.Add("GET", "/v1/x?q=1", "X-Team", "red", "x-team")
	f.Add("POST", "/%zz", "x-lower", "", "X-LOWER")
	f.Add("", "", "", "", "")
	f.Add("OPTIONS", "*", "Content-Type", "a\x00b", strings.Repeat("k", 200))
	prg, err := CompileWith(`request.headers[key] == want || !(key in request.headers) || request.query.exists(k, k == key)`, celgo.BoolType,
		celgo.Variable("key", celgo.StringType), celgo.Variable("want", celgo.StringType))
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, method, target, hk, hv, key string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			u = &url.URL{Path: target}
		}
		r := &http.Request{Method: method, URL: u, Header: http.Header{}, Host: "h"}
		if hk != "" {
			r.Header[hk] = []string{hv}
		}
		attrs := RequestAttributes(r)
		want, _ := attrs["headers"].(map[string]any)[strings.ToLower(key)].(string)
		a := NewActivation(r, nil)
		a.Extra = map[string]any{"key": key, "want": want}
		ok, err := prg.EvalBool(context.Background(), a)
		require.NoError(t, err)
		require.True(t, ok)
		_ = a.views[viewRequest].native()
	})
}
