package policy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
)

func TestRuleSetSemantics(t *testing.T) {
	st := &agentgateway.State{}
	st.Identity.JWT = map[string]any{"sub": "alice", "groups": []any{"dev"}}
	st.MCP.ToolName = "echo"
	r := req("POST", "/admin/x", "X-Env", "prod")
	a := cel.NewActivation(r, st)
	cases := []struct {
		name  string
		rules []policy.Rule
		want  bool
	}{
		{"one allow matches", []policy.Rule{{Allow: `jwt.sub == "bob"`}, {Allow: `jwt.sub == "alice"`}}, true},
		{"deny by default once an allow exists", []policy.Rule{{Allow: `jwt.sub == "bob"`}}, false},
		{"allow erroring counts as no match", []policy.Rule{{Allow: `jwt.missing == "x"`}}, false},
		{"deny wins over allow", []policy.Rule{{Allow: `true`}, {Deny: `request.path.startsWith("/admin")`}}, false},
		{"deny erroring does not deny", []policy.Rule{{Deny: `jwt.missing == "x"`}}, true},
		{"only denies: allowed when none match", []policy.Rule{{Deny: `request.method == "DELETE"`}}, true},
		{"require true", []policy.Rule{{Require: `"dev" in jwt.groups`}, {Allow: `true`}}, true},
		{"require false denies", []policy.Rule{{Require: `"admin" in jwt.groups`}, {Allow: `true`}}, false},
		{"require erroring denies", []policy.Rule{{Require: `jwt.missing`}}, false},
		{"headers and mcp attributes", []policy.Rule{{Allow: `request.headers["x-env"] == "prod" && mcp.tool.name == "echo"`}}, true},
	}
	for _, c := range cases {
		rs, err := policy.CompileRules(c.rules)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, rs.Allowed(context.Background(), a), c.name)
	}
	rs, err := policy.CompileAllowRules(`mcp.tool.name == "echo"`)
	require.NoError(t, err)
	assert.True(t, rs.Uses("mcp"))
	assert.False(t, rs.Uses("jwt"))
	assert.Equal(t, 1, rs.Len())
}

func TestRuleDecoding(t *testing.T) {
	var spec policy.AuthorizationSpec
	require.NoError(t, json.Unmarshal([]byte(`{"rules":["true",{"deny":"false"},{"require":"true"}]}`), &spec))
	assert.Equal(t, []policy.Rule{{Allow: "true"}, {Deny: "false"}, {Require: "true"}}, spec.Rules)
	assert.Error(t, json.Unmarshal([]byte(`{"rules":[{"permit":"true"}]}`), &spec))
}

func TestAuthorizationPolicy(t *testing.T) {
	p, err := policy.NewAuthorization(policy.AuthorizationSpec{Rules: []policy.Rule{{Allow: `request.method == "GET"`}, {Allow: `identity == "alice"`}}})
	require.NoError(t, err)
	var s seen
	assert.Equal(t, 200, do(p, s.handler(200, ""), req("GET", "/")).Code)
	w := do(p, s.handler(200, ""), req("POST", "/"))
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.JSONEq(t, `{"error":{"message":"authorization denied","code":403}}`, w.Body.String())

	for field, rules := range map[string][]policy.Rule{
		"rules":          nil,
		"rules[1]":       {{Allow: "true"}, {}},
		"rules[0]":       {{Allow: "true", Deny: "true"}},
		"rules[0].deny":  {{Deny: `request.path + 1`}},
		"rules[2].allow": {{Allow: "true"}, {Allow: "true"}, {Allow: `"not a bool"`}},
	} {
		_, err := policy.NewAuthorization(policy.AuthorizationSpec{Rules: rules})
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}

func BenchmarkCELRule(b *testing.B) {
	rs, err := policy.CompileAllowRules(`request.path.startsWith("/v1/") && jwt.sub == "alice"`)
	require.NoError(b, err)
	st := &agentgateway.State{}
	st.Identity.JWT = map[string]any{"sub": "alice"}
	r := req("GET", "/v1/x")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if !rs.Allowed(ctx, cel.NewActivation(r, st)) {
			b.Fatal("denied")
		}
	}
}
