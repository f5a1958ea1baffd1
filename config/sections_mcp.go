package config

// The rows of package mcp: the route backend `mcp`, the policy `mcpAuthorization` and the top-level
// short form `mcp:`.
var (
	mcpPolicies = []PolicySection{}
	mcpBackends = []BackendSection{}
	mcpTop      = []TopSection{}
)
