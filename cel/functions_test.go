package cel

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// The functions agentgateway documents evaluate to what its docs say, against a request.
func TestAgentgatewayFunctions(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-User-Id", "u1")
	st := &agentgateway.State{Source: netip.MustParseAddrPort("10.1.2.3:999")}
	st.Identity.JWT = map[string]any{"sub": "alice", "prefs": map[string]any{"theme": "dark"}}
	cases := []struct{ expr, want string }{
		{`default(request.headers["x-user-id"], "anonymous")`, "u1"},
		{`default(request.headers["x-missing"], "anonymous")`, "anonymous"},
		{`default(jwt.role, "user")`, "user"},
		{`default(jwt.prefs.theme, "light")`, "dark"},
		{`default(jwt.prefs.font.size, "12")`, "12"},
		{`default(json("{\"a\":{\"b\":\"x\"}}").a.b, "none")`, "x"},
		{`default(json("{}").user.preferences.theme, "light")`, "light"},
		{`json("{\"type\":\"sum\",\"v1\":2,\"v2\":3}").with(b, b.type == "sum" ? string(b.v1 + b.v2) : "other")`, "5"},
		{`json(b"{\"k\":[1,2]}").k.size() == 2 ? "yes" : "no"`, "yes"},
		{`toJson({"b": [1, "x", true], "a": null})`, `{"a":null,"b":[1,"x",true]}`},
		{`to_json(jwt.prefs)`, `{"theme":"dark"}`},
		{`cidr("10.0.0.0/8").containsIP(ip(source.address)) ? "inside" : "outside"`, "inside"},
		{`cidr("192.168.0.0/16").containsIP(source.address) ? "inside" : "outside"`, "outside"},
		{`string(ip("::ffff:10.0.0.1").family())`, "4"},
		{`string(cidr("10.1.0.0/16").prefixLength())`, "16"},
		{`string(isIP("1.2.3.4") && !isIP("nope") && isCIDR("::/0"))`, "true"},
		{`string(ip("127.0.0.1").isLoopback())`, "true"},
		{`base64.encode(b"hi")`, "aGk="},
		{`string(random() >= 0.0 && random() < 1.0)`, "true"},
	}
	for _, c := range cases {
		p, err := Compile(c.expr, nil)
		require.NoError(t, err, c.expr)
		got, err := p.EvalString(context.Background(), NewActivation(r, st))
		require.NoError(t, err, c.expr)
		assert.Equal(t, c.want, got, c.expr)
	}
	p, err := Compile(`uuid()`, nil)
	require.NoError(t, err)
	a, err := p.EvalString(context.Background(), NewActivation(r, st))
	require.NoError(t, err)
	b, _ := p.EvalString(context.Background(), NewActivation(r, st))
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), a)
	assert.NotEqual(t, a, b, "a fresh uuid per evaluation")
}

// Bad input to the functions is an evaluation error, never a panic; unknown functions are compile errors.
func TestAgentgatewayFunctionErrors(t *testing.T) {
	for _, expr := range []string{`json("{bad")`, `ip("300.1.1.1")`, `cidr("10.0.0.0/33")`, `cidr("10.0.0.0/8").containsIP("x")`} {
		p, err := Compile(expr, nil)
		require.NoError(t, err, expr)
		_, err = p.Eval(context.Background(), NewActivation(nil, nil))
		assert.Error(t, err, expr)
	}
	for _, expr := range []string{`nosuchfn(1)`, `x.with(1, 2)`, `default(1)`} {
		_, err := Compile(expr, nil)
		assert.ErrorIs(t, err, ErrCompile, expr)
	}
}
