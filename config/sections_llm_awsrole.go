package config

import (
	"encoding/json"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/agentgw/agentgateway/llm"
	"github.com/agentgw/agentgateway/policy/awsauth"
)

// llmRoleCredentials builds the assumeRole of the aws auth at field (an LLM backend's), whose session name or tags are CEL
// expressions (schema AwsAssumeRole): each caller gets the session its request evaluates to, as
// with a route's backendAuth.
func llmRoleCredentials(bc *BuildContext, field string, raw json.RawMessage, region string) (aws.CredentialsProvider, error) {
	var s struct {
		RoleArn     string           `json:"roleArn"`
		SessionName *sessionNameSpec `json:"sessionName"`
		Tags        []struct {
			Key        string `json:"key"`
			Value      string `json:"value"`
			Expression string `json:"expression"`
		} `json:"tags"`
	}
	if err := unmarshalStrict(raw, &s); err != nil {
		return nil, bc.Errorf(field+".assumeRole", "%v", err)
	}
	ar := &awsauth.AssumeRole{RoleARN: s.RoleArn}
	if n := s.SessionName; n != nil {
		ar.SessionName, ar.SessionNameExpression = n.Static, n.Expression
	}
	for _, t := range s.Tags {
		ar.Tags = append(ar.Tags, awsauth.SessionTag{Key: t.Key, Value: t.Value, Expression: t.Expression})
	}
	fn, err := awsauth.RoleCredentials(ar, region)
	if err != nil {
		return nil, bc.At(field).Wrap(err)
	}
	return llm.AWSRequestCredentials(fn), nil
}
