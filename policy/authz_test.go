package policy_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
)

func TestAuthorizationPolicy(t *testing.T) {
	p, err := policy.NewAuthorization(policy.AuthorizationConfig{Rules: []cel.Rule{
		cel.Allow(`request.method == "GET"`), cel.Allow(`identity == "alice"`), cel.Deny(`request.path.startsWith("/admin")`),
	}})
	require.NoError(t, err)
	var s seen
	assert.Equal(t, 200, do(p, s.Handler(200, ""), req("GET", "/")).Code)
	w := do(p, s.Handler(200, ""), req("POST", "/"))
	assert.Equal(t, http.StatusForbidden, w.Code, "deny by default: no allow rule matches")
	assert.JSONEq(t, `{"error":{"message":"authorization denied","code":403}}`, w.Body.String())
	assert.Equal(t, http.StatusForbidden, do(p, s.Handler(200, ""), req("GET", "/admin/x")).Code, "deny wins over a matching allow")
	assert.Equal(t, 1, s.Calls, "denied requests never reach the backend")

	for field, rules := range map[string][]cel.Rule{
		"rules":          nil,
		"rules[1]":       {{Allow: "true"}, {}},
		"rules[0]":       {{Allow: "true", Deny: "true"}},
		"rules[0].deny":  {{Deny: `request.path + 1`}},
		"rules[2].allow": {{Allow: "true"}, {Allow: "true"}, {Allow: `"not a bool"`}},
	} {
		_, err := policy.NewAuthorization(policy.AuthorizationConfig{Rules: rules})
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}

func BenchmarkCELRule(b *testing.B) {
	rs := cel.MustCompileRules(cel.Allow(`request.path.startsWith("/v1/") && jwt.sub == "alice"`))
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
