package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func TestAPIKey(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-secret"))
	p, err := policy.NewAPIKey(policy.APIKeyConfig{
		Mode: policy.ModeStrict,
		Keys: []policy.APIKey{
			{Key: "sk-alice", Metadata: map[string]any{"name": "alice", "team": map[string]any{"id": "red"}}},
			{KeyHash: "sha256:" + hex.EncodeToString(sum[:]), Metadata: map[string]any{"metadata": "ci"}, AllowedModels: []string{"gpt-4o"}},
		},
	})
	require.NoError(t, err)

	var s seen
	w := do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer sk-alice"))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "alice", s.State.Identity.Subject)
	assert.Equal(t, "apiKey", s.State.Identity.Method)
	assert.Equal(t, "red", s.State.Identity.APIKey["team"].(map[string]any)["id"])
	assert.Empty(t, s.Req.Header.Get("Authorization"), "key not forwarded")

	s = seen{}
	w = do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "bearer hashed-secret"))
	require.Equal(t, 200, w.Code, "scheme is case-insensitive; hashed keys match")
	assert.Equal(t, "ci", s.State.Identity.APIKey["metadata"])
	assert.Equal(t, []any{"gpt-4o"}, s.State.Identity.APIKey["allowedModels"])

	for name, hdr := range map[string][]string{
		"missing":      nil,
		"wrong key":    {"Authorization", "Bearer sk-bob"},
		"wrong scheme": {"Authorization", "Basic sk-alice"},
		"empty":        {"Authorization", "Bearer "},
	} {
		s = seen{}
		w = do(p, s.Handler(200, ""), req("GET", "/", hdr...))
		assert.Equal(t, 401, w.Code, name)
		assert.Contains(t, w.Header().Get("WWW-Authenticate"), "Bearer", name)
		assert.Zero(t, s.Calls, name)
	}
}

func TestAPIKeyLocationsAndModes(t *testing.T) {
	keys := []policy.APIKey{{Key: "k1"}}
	hdr, err := policy.NewAPIKey(policy.APIKeyConfig{Keys: keys, Mode: policy.ModeOptional, Location: &policy.Location{Header: "x-api-key"}})
	require.NoError(t, err)
	assert.Equal(t, 200, do(hdr, (&seen{}).Handler(200, ""), req("GET", "/", "X-Api-Key", "k1")).Code)
	assert.Equal(t, 200, do(hdr, (&seen{}).Handler(200, ""), req("GET", "/")).Code, "optional: missing passes")
	w := do(hdr, (&seen{}).Handler(200, ""), req("GET", "/", "X-Api-Key", "k2"))
	assert.Equal(t, 401, w.Code, "optional: invalid is rejected")
	assert.Contains(t, w.Header().Get("WWW-Authenticate"), "APIKey")

	cookie, err := policy.NewAPIKey(policy.APIKeyConfig{Keys: keys, Mode: policy.ModePermissive, Location: &policy.Location{Cookie: "key"}})
	require.NoError(t, err)
	var s seen
	assert.Equal(t, 200, do(cookie, s.Handler(200, ""), req("GET", "/", "Cookie", "a=b; key=k1")).Code)
	assert.NotNil(t, s.State.Identity.APIKey)
	assert.Equal(t, "a=b", s.Req.Header.Get("Cookie"), "only the key cookie is removed")
	s = seen{}
	assert.Equal(t, 200, do(cookie, s.Handler(200, ""), req("GET", "/", "Cookie", "key=bad")).Code, "permissive")
	assert.Nil(t, s.State.Identity.APIKey)

	expr, err := policy.NewAPIKey(policy.APIKeyConfig{Keys: keys, Mode: policy.ModeStrict, Location: &policy.Location{Expression: `request.headers["x-key"]`}})
	require.NoError(t, err)
	assert.Equal(t, 200, do(expr, (&seen{}).Handler(200, ""), req("GET", "/", "X-Key", "k1")).Code)
	assert.Equal(t, 401, do(expr, (&seen{}).Handler(200, ""), req("GET", "/")).Code)
}

func TestAPIKeyConfigErrors(t *testing.T) {
	for field, spec := range map[string]policy.APIKeyConfig{
		"keys":                {},
		"keys[0].key":         {Keys: []policy.APIKey{{}}},
		"keys[0]":             {Keys: []policy.APIKey{{Key: "a", KeyHash: "sha256:00"}}},
		"keys[0].keyHash":     {Keys: []policy.APIKey{{KeyHash: "md5:abc"}}},
		"keys[1]":             {Keys: []policy.APIKey{{Key: "a"}, {Key: "a"}}},
		"mode":                {Keys: []policy.APIKey{{Key: "a"}}, Mode: policy.Mode(9)},
		"location.header":     {Keys: []policy.APIKey{{Key: "a"}}, Location: &policy.Location{Header: "bad name"}},
		"location.expression": {Keys: []policy.APIKey{{Key: "a"}}, Location: &policy.Location{Expression: "request.nope("}},
	} {
		_, err := policy.NewAPIKey(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}
