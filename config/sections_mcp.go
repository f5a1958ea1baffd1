package config

import (
	"errors"
	"log/slog"
	"net/http"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

// The rows of package mcp: the route backend `mcp`, the policy `mcpAuthorization` and the top-level
// short form `mcp:`.
var (
	mcpPolicies = []PolicySection{
		// mcpAuthorization is the schema's McpAuthorization (a RuleSet).
		Policy("mcpAuthorization", func(bc *BuildContext, s ruleSetSpec) (agentgateway.Policy, error) {
			rules, err := cel.CompileRules(s.Rules...)
			if err != nil {
				return nil, prefixPath(bc.Path, err)
			}
			return mcp.Authorization(rules), nil
		}),
	}
	mcpBackends = []BackendSection{
		Backend("mcp", func(bc *BuildContext, s mcp.BackendSpec) (http.Handler, error) {
			return buildFederation(bc, s)
		}),
	}
	mcpTop = []TopSection{
		Top("mcp", buildMCPShortForm),
	}
)

// ruleSetSpec is the schema's RuleSet: CEL rules, each a bare string (allow) or {allow|deny|require}.
type ruleSetSpec struct {
	Rules []cel.Rule `json:"rules"`
}

func buildFederation(bc *BuildContext, s mcp.BackendSpec) (*mcp.Federation, error) {
	logger := bc.Logger
	if logger == nil {
		logger = slog.Default()
	}
	f, err := mcp.NewFromSpec(s, logger)
	if err != nil {
		return nil, prefixPath(bc.Path, err)
	}
	bc.OnClose(f)
	return f, nil
}

// prefixPath moves a package error's relative field path ("targets[0].name") under the section's.
func prefixPath(base string, err error) error {
	var ce *agentgateway.ConfigError
	if errors.As(err, &ce) {
		return &agentgateway.ConfigError{Path: base + "." + ce.Path, Err: ce.Err}
	}
	return agentgateway.Errorf(base, "%v", err)
}

// mcpShortForm is the schema's LocalSimpleMcpConfig: a federation served at /mcp (streamable HTTP)
// and /sse (legacy HTTP+SSE) on its own port.
type mcpShortForm struct {
	Gateways               []string         `json:"gateways"`
	Port                   *int             `json:"port"`
	Targets                []mcp.TargetSpec `json:"targets"`
	StatefulMode           string           `json:"statefulMode"`
	PrefixMode             string           `json:"prefixMode"`
	FailureMode            string           `json:"failureMode"`
	DNSRebindingProtection bool             `json:"dnsRebindingProtection"`
	Policies               Node             `json:"policies"`
	SessionKey             string           `json:"sessionKey"`
	AllowedHosts           []string         `json:"allowedHosts"`
	AllowedOrigins         []string         `json:"allowedOrigins"`
}

func buildMCPShortForm(bc *BuildContext, s mcpShortForm) ([]Bind, error) {
	if len(s.Gateways) > 0 {
		return nil, agentgateway.Errorf(bc.Path+".gateways", "gateways are not supported; use port")
	}
	port := 3000
	if s.Port != nil {
		port = *s.Port
	}
	f, err := buildFederation(bc, mcp.BackendSpec{
		Targets: s.Targets, StatefulMode: s.StatefulMode, PrefixMode: s.PrefixMode, FailureMode: s.FailureMode,
		DNSRebindingProtection: s.DNSRebindingProtection, SessionKey: s.SessionKey,
		AllowedHosts: s.AllowedHosts, AllowedOrigins: s.AllowedOrigins,
	})
	if err != nil {
		return nil, err
	}
	var policies []agentgateway.Policy
	if !s.Policies.IsZero() {
		if policies, err = bc.BuildPolicies(s.Policies); err != nil {
			return nil, err
		}
	}
	route := agentgateway.RouteConfig{
		Name: "mcp",
		Matches: []agentgateway.Match{
			{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/mcp"}},
			{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/sse"}},
		},
		Policies: policies,
		Backends: []agentgateway.WeightedBackend{{Name: "mcp", Handler: f, Weight: 1}},
	}
	return []Bind{{Port: port, Listeners: []agentgateway.ListenerConfig{{Name: "mcp", Port: port, Routes: []agentgateway.RouteConfig{route}}}}}, nil
}
