package policy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func TestBackendAuthKeyAndPassthrough(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte("upstream-secret\n"), 0o600))
	p, err := policy.NewBackendAuth(policy.BackendAuthSpec{Key: &policy.KeyAuth{Value: policy.FileOrInline{File: keyFile}}})
	require.NoError(t, err)
	var s seen
	do(p, s.handler(200, ""), req("GET", "/", "Authorization", "Bearer client-token"))
	assert.Equal(t, "Bearer upstream-secret", s.req.Header.Get("Authorization"))

	p, err = policy.NewBackendAuth(policy.BackendAuthSpec{Key: &policy.KeyAuth{Value: policy.FileOrInline{Inline: "k"}, Location: &policy.Location{QueryParameter: &policy.NamedLocation{Name: "api_key"}}}})
	require.NoError(t, err)
	do(p, s.handler(200, ""), req("GET", "/x?a=1"))
	assert.Equal(t, "k", s.req.URL.Query().Get("api_key"))
	assert.Equal(t, "1", s.req.URL.Query().Get("a"))

	// Passthrough puts back the token the JWT policy verified and removed.
	keys(t)
	j := newJWT(t, policy.ModeStrict, rsaKey)
	pt, err := policy.NewBackendAuth(policy.BackendAuthSpec{Passthrough: &policy.PassthroughAuth{}})
	require.NoError(t, err)
	tok := mint(t, rsaKey, claims(nil))
	do(agentgateway.PolicyFunc(func(h http.Handler) http.Handler { return j.Wrap(pt.Wrap(h)) }), s.handler(200, ""), req("GET", "/", "Authorization", "Bearer "+tok))
	assert.Equal(t, "Bearer "+tok, s.req.Header.Get("Authorization"))

	for field, spec := range map[string]policy.BackendAuthSpec{
		"":                        {},
		"key.value":               {Key: &policy.KeyAuth{}},
		"key.location.expression": {Key: &policy.KeyAuth{Value: policy.FileOrInline{Inline: "k"}, Location: &policy.Location{Expression: `"x"`}}},
		"aws.serviceName":         {AWS: &policy.AWSAuth{AccessKeyID: "a", SecretAccessKey: "b", Region: "r"}},
		"aws.secretAccessKey":     {AWS: &policy.AWSAuth{AccessKeyID: "a", ServiceName: "s"}},
		"gcp.type":                {GCP: &policy.GCPAuth{Type: "samlToken"}},
		"gcp.credential":          {GCP: &policy.GCPAuth{Type: "idToken", Credential: &policy.FileOrInline{Inline: "{}"}}},
	} {
		_, err := policy.NewBackendAuth(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}

func TestBackendAuthAWSSigV4(t *testing.T) {
	signingTime := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p, err := policy.NewBackendAuth(policy.BackendAuthSpec{AWS: &policy.AWSAuth{
		AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Region: "us-east-1",
		ServiceName: "bedrock", Now: func() time.Time { return signingTime },
	}})
	require.NoError(t, err)
	var s seen
	r := reqBody("POST", "http://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke", `{"prompt":"hi"}`, "Content-Type", "application/json", "Authorization", "Bearer client")
	do(p, s.handler(200, ""), r)
	auth := s.req.Header.Get("Authorization")
	require.True(t, strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/bedrock/aws4_request"), auth)
	sum := sha256.Sum256([]byte(`{"prompt":"hi"}`))
	assert.Equal(t, hex.EncodeToString(sum[:]), s.req.Header.Get("X-Amz-Content-Sha256"))
	assert.Equal(t, `{"prompt":"hi"}`, s.body, "body still forwarded")

	// Verify the signature the way the service would: sign the received request again.
	check := httptest.NewRequest("POST", "http://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke", strings.NewReader(s.body))
	check.Header.Set("Content-Type", "application/json")
	check.Header.Set("X-Amz-Content-Sha256", s.req.Header.Get("X-Amz-Content-Sha256"))
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
		check, hex.EncodeToString(sum[:]), "bedrock", "us-east-1", signingTime))
	assert.Equal(t, check.Header.Get("Authorization"), auth)
}

type fakeTokens struct{ n int }

func (f *fakeTokens) Token() (*oauth2.Token, error) {
	f.n++
	return &oauth2.Token{AccessToken: "ya29.fake", Expiry: time.Now().Add(time.Hour)}, nil
}

func TestBackendAuthGCP(t *testing.T) {
	src := &fakeTokens{}
	p, err := policy.NewBackendAuth(policy.BackendAuthSpec{GCP: &policy.GCPAuth{TokenSource: src}})
	require.NoError(t, err)
	var s seen
	for range 3 {
		do(p, s.handler(200, ""), req("GET", "/"))
		assert.Equal(t, "Bearer ya29.fake", s.req.Header.Get("Authorization"))
	}
	assert.Equal(t, 1, src.n, "tokens are reused until they expire")
}
