package policy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
)

// TestAuthorizationOnRequestBody: a rule reading request.body sees the JSON body, the backend still
// receives it unchanged, and a body over the buffer limit is 413 (not a silent deny).
func TestAuthorizationOnRequestBody(t *testing.T) {
	p, err := policy.NewAuthorization(policy.AuthorizationConfig{Rules: []cel.Rule{cel.Allow(`json(request.body).model == "small"`)}})
	require.NoError(t, err)
	var s seen
	w := do(p, s.Handler(200, ""), reqBody("POST", "/", `{"model":"small"}`))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, `{"model":"small"}`, s.Body)
	w = do(p, s.Handler(200, ""), reqBody("POST", "/", `{"model":"large"}`))
	assert.Equal(t, http.StatusForbidden, w.Code)
	w = do(p, s.Handler(200, ""), reqBody("POST", "/", `{"model":"small","pad":"`+strings.Repeat("x", cel.DefaultMaxBodyBytes)+`"}`))
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
}
