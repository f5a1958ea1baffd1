package awsauth

import (
	"context"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	agentgateway "github.com/agentgw/agentgateway"
)

// RoleCredentials returns the credentials of ar's role for a client request, for callers that sign
// their own upstream requests (the LLM router's Bedrock calls): the session name and tags are
// evaluated on r (CEL, with the request's validated JWT), and each distinct session is assumed once
// and cached. STS is reached in region (or the environment's) with the default credential chain.
// Errors of a request's session wrap [ErrInvalidSession].
func RoleCredentials(ar *AssumeRole, region string) (func(ctx context.Context, r *http.Request) (aws.Credentials, error), error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	base, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, agentgateway.Errorf("", "loading the default AWS configuration: %w", err)
	}
	rs, err := newRoleSessions(ar, base)
	if err != nil {
		return nil, err
	}
	return rs.credentials, nil
}
