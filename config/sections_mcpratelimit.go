package config

import (
	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/remoteratelimit"
)

// mcpRateLimitPolicies holds agentgateway's mcpRemoteRateLimit (newer than the schema): the shape of
// remoteRateLimit, counting MCP calls with descriptors over mcp.* and answering refusals as JSON-RPC.
var mcpRateLimitPolicies = []PolicySection{
	Policy("mcpRemoteRateLimit", buildMCPRemoteRateLimit),
}

func buildMCPRemoteRateLimit(bc *BuildContext, s remoteRateLimitSpec) (agentgateway.Policy, error) {
	p, err := buildRemoteRateLimit(bc, s)
	if err != nil {
		return nil, err
	}
	return p.(*remoteratelimit.Limiter).MCP(), nil
}
