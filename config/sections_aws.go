package config

import (
	"net/http"

	"github.com/agentgw/agentgateway/agentcore"
)

// awsBackends is the schema's `aws` backend (LocalAwsBackend): agentCore only.
var awsBackends = []BackendSection{
	Backend("aws", buildAWSBackend),
}

// awsBackendSpec is the schema's LocalAwsBackend.
type awsBackendSpec struct {
	AgentCore *struct {
		AgentRuntimeARN string `json:"agentRuntimeArn"`
		Qualifier       string `json:"qualifier"`
	} `json:"agentCore"`
}

func buildAWSBackend(bc *BuildContext, s awsBackendSpec) (http.Handler, error) {
	if s.AgentCore == nil {
		return nil, bc.Errorf("", "want agentCore")
	}
	b, err := agentcore.New(agentcore.Config{AgentRuntimeARN: s.AgentCore.AgentRuntimeARN, Qualifier: s.AgentCore.Qualifier})
	if err != nil {
		return nil, bc.At("agentCore").Wrap(err)
	}
	bc.OnClose(b)
	return b, nil
}
