package gcpauth_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/gcpauth"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeTokens struct{ n int }

func (f *fakeTokens) Token() (*oauth2.Token, error) {
	f.n++
	return &oauth2.Token{AccessToken: "ya29.fake", Expiry: time.Now().Add(time.Hour)}, nil
}

func TestAccessToken(t *testing.T) {
	src := &fakeTokens{}
	p, err := gcpauth.New(gcpauth.Config{TokenSource: src})
	require.NoError(t, err)
	assert.Equal(t, agentgateway.PhaseBackend, agentgateway.PhaseOf(p))
	var s policytest.Seen
	for range 3 {
		policytest.Do(p, s.Handler(200, ""), policytest.Req("GET", "/", "Authorization", "Bearer client"))
		assert.Equal(t, "Bearer ya29.fake", s.Req.Header.Get("Authorization"))
	}
	assert.Equal(t, 1, src.n, "tokens are reused until they expire")
}

func TestConfigErrors(t *testing.T) {
	for field, spec := range map[string]gcpauth.Config{
		"type":       {Type: gcpauth.TokenType(9)},
		"credential": {Type: gcpauth.IDToken, Credential: []byte("{}")},
	} {
		_, err := gcpauth.New(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}
