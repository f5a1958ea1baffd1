package cel_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// An expression over the request and what authentication established, evaluated as a policy does:
// compiled once, evaluated per request against its State.
func ExampleCompile() {
	prg, err := cel.Compile(`request.method == "POST" && "admin" in jwt.groups && source.address.startsWith("10.")`, celgo.BoolType)
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("POST", "http://api.example.com/v1/tools", nil)
	st := &agentgateway.State{Source: netip.MustParseAddrPort("10.1.2.3:40000")}
	st.Identity.JWT = map[string]any{"sub": "alice", "groups": []any{"admin", "dev"}}
	ok, err := prg.EvalBool(context.Background(), cel.NewActivation(r, st))
	fmt.Println(ok, err)
	// Output: true <nil>
}

// A string-valued expression, as a rate-limit key or a header value uses one.
func ExampleProgram_EvalString() {
	prg, err := cel.Compile(`identity != "" ? identity : request.headers["x-forwarded-for"]`, celgo.StringType)
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Forwarded-For", "198.51.100.4")
	key, _ := prg.EvalString(context.Background(), cel.NewActivation(r, nil))
	st := &agentgateway.State{}
	st.Identity.Subject = "ci-bot"
	user, _ := prg.EvalString(context.Background(), cel.NewActivation(r, st))
	fmt.Println(key, user)
	// Output: 198.51.100.4 ci-bot
}

// Allow, deny and require rules, as agentgateway's `authorization` and `mcpAuthorization` write them:
// deny wins, every require must hold, and once there is an allow rule one must match.
func ExampleCompileRules() {
	rules, err := cel.CompileRules(
		cel.Allow(`mcp.tool.name in ["search", "fetch"]`),
		cel.Allow(`"admin" in jwt.groups`),
		cel.Deny(`mcp.tool.name == "delete_everything"`),
		cel.Require(`has(jwt.sub)`),
	)
	if err != nil {
		panic(err)
	}
	st := &agentgateway.State{}
	st.Identity.JWT = map[string]any{"sub": "alice", "groups": []any{"admin"}}
	for _, tool := range []string{"search", "shell", "delete_everything"} {
		st.MCP.ToolName = tool
		fmt.Println(tool, rules.Allowed(context.Background(), cel.NewActivation(nil, st)))
	}
	st.Identity.JWT = map[string]any{"groups": []any{"admin"}} // no sub: the require rule fails
	st.MCP.ToolName = "search"
	fmt.Println("no sub", rules.Allowed(context.Background(), cel.NewActivation(nil, st)))
	// Output:
	// search true
	// shell true
	// delete_everything false
	// no sub false
}

// A policy's own variable, passed in Activation.Extra.
func ExampleCompileWith() {
	prg, err := cel.CompileWith(`response.code >= 500 && request.method == "GET"`, celgo.BoolType,
		celgo.Variable("response", celgo.MapType(celgo.StringType, celgo.DynType)))
	if err != nil {
		panic(err)
	}
	a := cel.NewActivation(httptest.NewRequest("GET", "/", nil), nil)
	a.Extra = map[string]any{"response": map[string]any{"code": 503}}
	retry, _ := prg.EvalBool(context.Background(), a)
	fmt.Println(retry)
	// Output: true
}
