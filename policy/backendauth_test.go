package policy_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func TestBackendAuthKeyAndPassthrough(t *testing.T) {
	p, err := policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: "upstream-secret\n"}})
	require.NoError(t, err)
	var s seen
	do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer client-token"))
	assert.Equal(t, "Bearer upstream-secret", s.Req.Header.Get("Authorization"))

	p, err = policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: "k", Location: &policy.Location{QueryParameter: "api_key"}}})
	require.NoError(t, err)
	do(p, s.Handler(200, ""), req("GET", "/x?a=1"))
	assert.Equal(t, "k", s.Req.URL.Query().Get("api_key"))
	assert.Equal(t, "1", s.Req.URL.Query().Get("a"))

	// Passthrough puts back the token the JWT policy verified and removed.
	keys(t)
	j := newJWT(t, policy.ModeStrict, rsaKey)
	pt, err := policy.NewBackendAuth(policy.BackendAuthConfig{Passthrough: &policy.PassthroughAuth{}})
	require.NoError(t, err)
	tok := mint(t, rsaKey, claims(nil))
	do(agentgateway.PolicyFunc(func(h http.Handler) http.Handler { return j.Wrap(pt.Wrap(h)) }), s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer "+tok))
	assert.Equal(t, "Bearer "+tok, s.Req.Header.Get("Authorization"))

	for field, spec := range map[string]policy.BackendAuthConfig{
		"":                        {},
		"key.value":               {Key: &policy.KeyAuth{Value: " \n"}},
		"key.location.expression": {Key: &policy.KeyAuth{Value: "k", Location: &policy.Location{Expression: `"x"`}}},
	} {
		_, err := policy.NewBackendAuth(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
	_, err = policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: "k"}, Passthrough: &policy.PassthroughAuth{}})
	assert.ErrorContains(t, err, "exactly one of passthrough, key")
}
