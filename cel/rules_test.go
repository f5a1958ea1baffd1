package cel_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// costly exceeds the cost limit at run time on a request with many headers.
const costly = `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, request.headers.all(h, h.size() >= 0)))))`

// TestRuleSetSemantics is the one table of what a rule set means; the authorization policy, mcp and
// a2a only check that they use it.
func TestRuleSetSemantics(t *testing.T) {
	st := &agentgateway.State{}
	st.Identity.JWT = map[string]any{"sub": "alice", "groups": []any{"dev"}}
	st.MCP.ToolName = "echo"
	r := httptest.NewRequest("POST", "/admin/x", nil)
	r.Header.Set("X-Env", "prod")
	for i := range 50 {
		r.Header.Set("X-Pad-"+strings.Repeat("p", i), "v")
	}
	a := cel.NewActivation(r, st)
	cases := []struct {
		name  string
		rules []cel.Rule
		want  bool
	}{
		{"no rules allow", nil, true},
		{"one allow matches", []cel.Rule{cel.Allow(`jwt.sub == "bob"`), cel.Allow(`jwt.sub == "alice"`)}, true},
		{"deny by default once an allow exists", []cel.Rule{cel.Allow(`jwt.sub == "bob"`)}, false},
		{"allow erroring counts as no match", []cel.Rule{cel.Allow(`jwt.missing == "x"`)}, false},
		{"allow over the cost limit counts as no match", []cel.Rule{cel.Allow(costly)}, false},
		{"deny wins over allow", []cel.Rule{cel.Allow(`true`), cel.Deny(`request.path.startsWith("/admin")`)}, false},
		{"deny wins whatever the order", []cel.Rule{cel.Deny(`request.method == "POST"`), cel.Allow(`true`)}, false},
		{"deny wins over require", []cel.Rule{cel.Require(`true`), cel.Deny(`true`)}, false},
		{"deny erroring does not deny", []cel.Rule{cel.Deny(`jwt.missing == "x"`)}, true},
		{"deny false with allow true", []cel.Rule{cel.Deny(`false`), cel.Allow(`true`)}, true},
		{"only denies: allowed when none match", []cel.Rule{cel.Deny(`request.method == "DELETE"`)}, true},
		{"require true, allow true", []cel.Rule{cel.Require(`"dev" in jwt.groups`), cel.Allow(`true`)}, true},
		{"require alone, true", []cel.Rule{cel.Require(`"dev" in jwt.groups`)}, true},
		{"require false denies", []cel.Rule{cel.Require(`"admin" in jwt.groups`), cel.Allow(`true`)}, false},
		{"every require must hold", []cel.Rule{cel.Require(`true`), cel.Require(`false`)}, false},
		{"require erroring denies", []cel.Rule{cel.Require(`jwt.missing`)}, false},
		{"require over the cost limit denies", []cel.Rule{cel.Require(costly)}, false},
		{"require true does not replace a matching allow", []cel.Rule{cel.Require(`true`), cel.Allow(`false`)}, false},
		{"headers and mcp attributes", []cel.Rule{cel.Allow(`request.headers["x-env"] == "prod" && mcp.tool.name == "echo"`)}, true},
	}
	for _, c := range cases {
		rs, err := cel.CompileRules(c.rules...)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, rs.Allowed(context.Background(), a), c.name)
		assert.Equal(t, len(c.rules), rs.Len(), c.name)
	}
	var none *cel.RuleSet
	assert.True(t, none.Allowed(context.Background(), a), "a nil rule set allows, like an empty one")
	assert.False(t, none.Uses("jwt"))

	rs := cel.MustCompileRules(cel.Allow(`mcp.tool.name == "echo"`), cel.Deny(`identity == "x"`))
	assert.True(t, rs.Uses("mcp"))
	assert.True(t, rs.Uses("identity"))
	assert.False(t, rs.Uses("jwt"))
}

func TestCompileRulesErrors(t *testing.T) {
	for path, rules := range map[string][]cel.Rule{
		"rules[1]":         {cel.Allow("true"), {}},
		"rules[0]":         {{Allow: "true", Deny: "true"}},
		"rules[0].deny":    {cel.Deny(`request.path + 1`)},
		"rules[2].allow":   {cel.Allow("true"), cel.Allow("true"), cel.Allow(`"not a bool"`)},
		"rules[0].require": {cel.Require(`nosuchvar`)},
	} {
		_, err := cel.CompileRules(rules...)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, path)
		assert.Equal(t, path, ce.Path)
		if strings.Contains(path, ".") {
			assert.ErrorIs(t, err, cel.ErrCompile, path)
		} else {
			assert.ErrorIs(t, err, cel.ErrRule, path)
		}
	}
	assert.Panics(t, func() { cel.MustCompileRules(cel.Allow("1")) })
}

func TestRuleDecoding(t *testing.T) {
	var spec struct {
		Rules []cel.Rule `json:"rules"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"rules":["true",{"deny":"false"},{"require":"true"}]}`), &spec))
	assert.Equal(t, []cel.Rule{cel.Allow("true"), cel.Deny("false"), cel.Require("true")}, spec.Rules)
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"rules":[{"permit":"true"}]}`), &spec), "one of allow, deny, require")
	assert.Error(t, json.Unmarshal([]byte(`{"rules":[42]}`), &spec))
}

// FuzzRules decodes arbitrary rule JSON, compiles it and evaluates it: no input may panic, and a set
// that compiles answers Allowed.
func FuzzRules(f *testing.F) {
	f.Add(`["true",{"deny":"false"},{"require":"jwt.sub == 'a'"}]`, "/x")
	f.Add(`[{"allow":"request.headers['x'] == 'y'","deny":"true"}]`, "/")
	f.Add(`[{"require":"`+costly+`"}]`, "/a/b?c=d")
	f.Add(`[{"allow":""}]`, "")
	f.Add(`["size(request.path) > 2 && request.query.q == '1'"]`, "/%zz?q=1")
	f.Fuzz(func(t *testing.T, rulesJSON, target string) {
		var rules []cel.Rule
		if json.Unmarshal([]byte(rulesJSON), &rules) != nil {
			return
		}
		rs, err := cel.CompileRules(rules...)
		if err != nil {
			var ce *agentgateway.ConfigError
			require.ErrorAs(t, err, &ce)
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = target
		st := &agentgateway.State{}
		st.Identity.JWT = map[string]any{"sub": "a"}
		_ = rs.Allowed(context.Background(), cel.NewActivation(r, st))
	})
}
