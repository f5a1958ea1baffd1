package celenv

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/require"

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
		`request.headers["x-team"] == "red"`:                           true,
		`request.query["q"] == "1"`:                                    true,
		`source.address == "10.0.0.1"`:                                 true,
		`"admin" in jwt.groups && jwt.org.id == "o1"`:                  true,
		`mcp.tool.name == "echo" && mcp.tool.target == "everything"`:   true,
		`has(apiKey.name)`:                                             false,
		`request.host == "other"`:                                      false,
	}
	for expr, want := range cases {
		p, err := Compile(expr, cel.BoolType)
		require.NoError(t, err, expr)
		got, err := p.EvalBool(context.Background(), NewActivation(r, st))
		require.NoError(t, err, expr)
		require.Equal(t, want, got, expr)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, expr := range []string{`request.method ==`, `"a" + 1`, `unknownVar == 1`, `"x"`} {
		_, err := Compile(expr, cel.BoolType)
		require.ErrorIs(t, err, ErrCompile, expr)
	}
}

func TestMissingKeyIsError(t *testing.T) {
	p, err := Compile(`jwt.sub == "x"`, cel.BoolType)
	require.NoError(t, err)
	_, err = p.EvalBool(context.Background(), NewActivation(httptest.NewRequest("GET", "/", nil), nil))
	require.Error(t, err)
}

func BenchmarkRule(b *testing.B) {
	r := httptest.NewRequest("POST", "http://api.example.com/v1/x", nil)
	st := &agentgateway.State{}
	st.Identity.JWT = map[string]any{"sub": "alice"}
	p, err := Compile(`request.path.startsWith("/v1/") && jwt.sub == "alice"`, cel.BoolType)
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
