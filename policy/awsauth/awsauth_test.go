package awsauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/awsauth"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSigV4(t *testing.T) {
	signingTime := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	p, err := awsauth.New(awsauth.Config{
		AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Region: "us-east-1",
		ServiceName: "bedrock", Now: func() time.Time { return signingTime },
	})
	require.NoError(t, err)
	assert.Equal(t, agentgateway.PhaseBackend, agentgateway.PhaseOf(p))
	var s policytest.Seen
	r := policytest.ReqBody("POST", "http://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke", `{"prompt":"hi"}`, "Content-Type", "application/json", "Authorization", "Bearer client")
	policytest.Do(p, s.Handler(200, ""), r)
	auth := s.Req.Header.Get("Authorization")
	require.True(t, strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/bedrock/aws4_request"), auth)
	sum := sha256.Sum256([]byte(`{"prompt":"hi"}`))
	assert.Equal(t, hex.EncodeToString(sum[:]), s.Req.Header.Get("X-Amz-Content-Sha256"))
	assert.Equal(t, `{"prompt":"hi"}`, s.Body, "body still forwarded")

	// Verify the signature the way the service would: sign the received request again.
	check := httptest.NewRequest("POST", "http://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke", strings.NewReader(s.Body))
	check.Header.Set("Content-Type", "application/json")
	check.Header.Set("X-Amz-Content-Sha256", s.Req.Header.Get("X-Amz-Content-Sha256"))
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
		check, hex.EncodeToString(sum[:]), "bedrock", "us-east-1", signingTime))
	assert.Equal(t, check.Header.Get("Authorization"), auth)
}

func TestConfigErrors(t *testing.T) {
	for field, spec := range map[string]awsauth.Config{
		"serviceName":     {AccessKeyID: "a", SecretAccessKey: "b", Region: "r"},
		"secretAccessKey": {AccessKeyID: "a", ServiceName: "s"},
		"region":          {AccessKeyID: "a", SecretAccessKey: "b", ServiceName: "s"},
	} {
		_, err := awsauth.New(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}
