package awsauth_test

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/internal/awstest"
	"github.com/agentgw/agentgateway/policy/awsauth"
	"github.com/agentgw/agentgateway/policy/internal/policytest"
)

func TestAssumeRole(t *testing.T) {
	base := aws.Credentials{AccessKeyID: "AKIDBASE", SecretAccessKey: "base-secret"}
	sts := awstest.NewSTS(base)
	defer sts.Close()
	p, err := awsauth.New(awsauth.Config{
		AccessKeyID: base.AccessKeyID, SecretAccessKey: base.SecretAccessKey, Region: "us-west-2", ServiceName: "execute-api",
		AssumeRole: &awsauth.AssumeRole{
			RoleARN: "arn:aws:iam::123456789012:role/agents", SessionNameExpression: `request.headers["x-team"]`,
			Tags:        []awsauth.SessionTag{{Key: "team", Expression: `request.headers["x-team"]`}, {Key: "app", Value: "gateway"}},
			STSEndpoint: sts.URL,
		},
	})
	require.NoError(t, err)
	var s policytest.Seen
	call := func(team string) *http.Response {
		r := policytest.ReqBody("POST", "http://api.example.com/v1/run", `{"x":1}`, "X-Team", team)
		return policytest.Do(p, s.Handler(200, ""), r).Result()
	}
	require.Equal(t, 200, call("search").StatusCode)
	calls := sts.Calls()
	require.Len(t, calls, 1)
	f := calls[0]
	assert.Equal(t, "arn:aws:iam::123456789012:role/agents", f.Get("RoleArn"))
	assert.Equal(t, "search", f.Get("RoleSessionName"))
	assert.Equal(t, "team", f.Get("Tags.member.1.Key"))
	assert.Equal(t, "search", f.Get("Tags.member.1.Value"))
	assert.Equal(t, "app", f.Get("Tags.member.2.Key"))
	assert.Equal(t, "gateway", f.Get("Tags.member.2.Value"))

	// The backend request is signed with the assumed role's credentials, for execute-api.
	assumed := awstest.Credentials(0)
	assert.Equal(t, assumed.SessionToken, s.Req.Header.Get("X-Amz-Security-Token"))
	svc, region, err := awstest.VerifySigV4(s.Req, []byte(s.Body), assumed)
	require.NoError(t, err)
	assert.Equal(t, "execute-api", svc)
	assert.Equal(t, "us-west-2", region)

	// Same session: cached; another team: a session of its own.
	call("search")
	assert.Len(t, sts.Calls(), 1)
	call("billing")
	require.Len(t, sts.Calls(), 2)
	assert.Equal(t, "billing", sts.Calls()[1].Get("RoleSessionName"))
	_, _, err = awstest.VerifySigV4(s.Req, []byte(s.Body), awstest.Credentials(1))
	require.NoError(t, err)

	// A session name STS would refuse is the request's fault, and STS is not called.
	assert.Equal(t, http.StatusBadRequest, call("a b/c").StatusCode)
	assert.Len(t, sts.Calls(), 2)

	for field, ar := range map[string]awsauth.AssumeRole{
		"assumeRole.roleArn":                {},
		"assumeRole.sessionName":            {RoleARN: "r", SessionName: "has space"},
		"assumeRole.sessionName.expression": {RoleARN: "r", SessionNameExpression: "1 +"},
		"assumeRole.tags[0]":                {RoleARN: "r", Tags: []awsauth.SessionTag{{Key: "k"}}},
		"assumeRole.tags[0].key":            {RoleARN: "r", Tags: []awsauth.SessionTag{{Key: "", Value: "v"}}},
	} {
		_, err := awsauth.New(awsauth.Config{AccessKeyID: "a", SecretAccessKey: "b", Region: "r", ServiceName: "s", AssumeRole: &ar})
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}
