package config

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"

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
				return nil, bc.Wrap(err)
			}
			return mcp.Authorization(rules), nil
		}),
		Policy("mcpGuardrails", buildMCPGuardrails), // sections_mcpguard.go
	}
	mcpBackends = []BackendSection{
		Backend("mcp", func(bc *BuildContext, s mcpBackendSpec) (http.Handler, error) {
			return buildFederation(bc, s)
		}),
	}
	mcpTop = []TopSection{
		Top("mcp", buildMCPShortForm),
	}
)

// mcpBackendSpec is the schema's LocalMcpBackend (route backend `mcp`), plus the gateway's extensions
// sessionKey (base64), allowedHosts and allowedOrigins (mcp.Config's fields of the same names), and
// the extensions pins, pinning and approval (see applyMCPExtensions).
type mcpBackendSpec struct {
	Targets []mcpTargetSpec `json:"targets"`
	// StatefulMode is "stateful" (default) or "stateless".
	StatefulMode string `json:"statefulMode"`
	// PrefixMode is "conditional" (default), "always" or "never".
	PrefixMode string `json:"prefixMode"`
	// FailureMode is "failClosed" (default) or "failOpen".
	FailureMode            string           `json:"failureMode"`
	DNSRebindingProtection bool             `json:"dnsRebindingProtection"`
	SessionKey             string           `json:"sessionKey"`
	AllowedHosts           []string         `json:"allowedHosts"`
	AllowedOrigins         []string         `json:"allowedOrigins"`
	Pins                   string           `json:"pins"`
	Pinning                string           `json:"pinning"`
	Approval               *mcpApprovalSpec `json:"approval"`
}

// mcpTargetSpec is the schema's LocalMcpTarget: a name and exactly one of stdio, mcp (streamable
// HTTP), sse and openapi (a REST API as tools, sections_openapi.go).
type mcpTargetSpec struct {
	Name string `json:"name"`
	// Pinning is an extension: the target's pin mode (allow, hide, fail; see applyMCPExtensions).
	Pinning string `json:"pinning"`
	Stdio   *struct {
		Cmd      string            `json:"cmd"`
		Args     []string          `json:"args"`
		Env      map[string]string `json:"env"`
		ClearEnv bool              `json:"clear_env"`
	} `json:"stdio"`
	MCP *mcpHostSpec `json:"mcp"`
	SSE *mcpHostSpec `json:"sse"`
	// Host, Port and Path directly on the target (agentgateway's trust-scoring example) are the
	// streamable HTTP target mcp: {host, port, path}.
	Host     string             `json:"host"`
	Port     int                `json:"port"`
	Path     string             `json:"path"`
	OpenAPI  *openAPITargetSpec `json:"openapi"`
	Policies *struct {
		// RequestHeaderModifier adds or sets headers on requests to the target.
		RequestHeaderModifier *struct {
			Add map[string]string `json:"add"`
			Set map[string]string `json:"set"`
		} `json:"requestHeaderModifier"`
		// BackendAuth authenticates the gateway to this target; it wins over a route's backendAuth.
		BackendAuth *backendAuthSpec `json:"backendAuth"`
		// BackendTLS is the TLS of the connections to this target.
		BackendTLS *backendTLSSpec `json:"backendTLS"`
	} `json:"policies"`
}

// mcpHostSpec locates an HTTP target: host as a URL ("https://example.com/mcp") or host:port, or
// host, port and path.
type mcpHostSpec struct {
	Host    string `json:"host"`
	Port    int    `json:"port"`
	Path    string `json:"path"`
	Backend string `json:"backend"`
}

// config translates the spec into an mcp.Config; errors are at the spec's fields.
func (s mcpBackendSpec) config(bc *BuildContext) (mcp.Config, error) {
	cfg := mcp.Config{AllowedHosts: s.AllowedHosts, AllowedOrigins: s.AllowedOrigins, LoopbackOnly: s.DNSRebindingProtection, Logger: bc.Logger}
	switch s.StatefulMode {
	case "", "stateful":
	case "stateless":
		cfg.Stateless = true
	default:
		return cfg, bc.Errorf("statefulMode", "unknown mode %q (stateful, stateless)", s.StatefulMode)
	}
	switch s.PrefixMode {
	case "", "conditional":
	case "always":
		cfg.Prefix = mcp.PrefixAlways
	case "never":
		cfg.Prefix = mcp.PrefixNever
	default:
		return cfg, bc.Errorf("prefixMode", "unknown prefix mode %q", s.PrefixMode)
	}
	switch s.FailureMode {
	case "", "failClosed":
	case "failOpen":
		cfg.Failure = agentgateway.FailOpen
	default:
		return cfg, bc.Errorf("failureMode", "unknown failure mode %q", s.FailureMode)
	}
	if s.SessionKey != "" {
		key, err := base64.StdEncoding.DecodeString(s.SessionKey)
		if err != nil {
			return cfg, bc.Errorf("sessionKey", "not base64: %v", err)
		}
		cfg.SessionKey = key
	}
	if cfg.SessionKey == nil {
		cfg.SessionKey = bc.MCPSessionKey // config.session.key; sessionKey above is the MCP-only alias
	}
	cfg.SessionTimeout = bc.MCPSessionTimeout
	for i, ts := range s.Targets {
		t, err := ts.target(bc.At(fmt.Sprintf("targets[%d]", i)))
		if err != nil {
			return cfg, err
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	if err := applyMCPExtensions(bc, &cfg, s); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (ts mcpTargetSpec) target(bc *BuildContext) (mcp.Target, error) {
	if ts.Host != "" || ts.Port != 0 || ts.Path != "" {
		switch {
		case ts.Stdio != nil || ts.MCP != nil || ts.SSE != nil || ts.OpenAPI != nil:
			return mcp.Target{}, bc.Errorf("host", "set host, port and path here or under one of stdio, mcp, sse and openapi, not both")
		case ts.Host == "":
			return mcp.Target{}, bc.Errorf("host", "a host is required with port or path")
		case ts.Port < 0 || ts.Port > 65535:
			return mcp.Target{}, bc.Errorf("port", "want a port between 1 and 65535, got %d", ts.Port)
		}
		ts.MCP = &mcpHostSpec{Host: ts.Host, Port: ts.Port, Path: ts.Path}
	}
	n := 0
	for _, set := range []bool{ts.Stdio != nil, ts.MCP != nil, ts.SSE != nil, ts.OpenAPI != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return mcp.Target{}, bc.Errorf("", "exactly one of stdio, mcp, sse and openapi")
	}
	var t mcp.Target
	switch {
	case ts.Stdio != nil:
		if ts.Policies != nil {
			return mcp.Target{}, bc.Errorf("policies", "not supported on stdio targets")
		}
		t = mcp.StdioTarget(ts.Name, ts.Stdio.Cmd, ts.Stdio.Args...)
		t.Env, t.ClearEnv = ts.Stdio.Env, ts.Stdio.ClearEnv
		return t, nil
	case ts.MCP != nil:
		u, auth, err := ts.MCP.url(bc.At("mcp"), "/mcp")
		if err != nil {
			return mcp.Target{}, err
		}
		t = mcp.HTTPTarget(ts.Name, u)
		t.BackendAuth = auth
	case ts.OpenAPI != nil:
		var err error
		if t, err = ts.OpenAPI.target(bc.At("openapi"), ts.Name); err != nil {
			return mcp.Target{}, err
		}
	default:
		u, auth, err := ts.SSE.url(bc.At("sse"), "/sse")
		if err != nil {
			return mcp.Target{}, err
		}
		t = mcp.SSETarget(ts.Name, u)
		t.BackendAuth = auth
	}
	if p := ts.Policies; p != nil && p.BackendAuth != nil {
		auth, err := buildBackendAuth(bc.At("policies.backendAuth"), *p.BackendAuth)
		if err != nil {
			return mcp.Target{}, err
		}
		if c, ok := auth.(io.Closer); ok {
			bc.OnClose(c)
		}
		t.BackendAuth = auth
	}
	if p := ts.Policies; p != nil && p.BackendTLS != nil {
		c, err := tlsClient(bc.At("policies.backendTLS"), *p.BackendTLS)
		if err != nil {
			return mcp.Target{}, err
		}
		t.HTTPClient = c
	}
	if d := bc.res.dial; d != nil && t.HTTPClient == nil && t.URL != "" { // File.SetDialer
		t.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: d}}
	}
	if p := ts.Policies; p != nil && p.RequestHeaderModifier != nil {
		t.Headers = http.Header{}
		for k, v := range p.RequestHeaderModifier.Add {
			t.Headers.Add(k, v)
		}
		for k, v := range p.RequestHeaderModifier.Set {
			t.Headers.Set(k, v)
		}
	}
	return t, nil
}

// url returns the target's URL and, when the target references a named backend with a backendAuth
// policy, that policy.
func (h *mcpHostSpec) url(bc *BuildContext, defaultPath string) (string, agentgateway.Policy, error) {
	var auth agentgateway.Policy
	u := h.Host
	switch {
	case h.Backend != "" && h.Host != "":
		return "", nil, bc.Errorf("", "set one of host and backend")
	case h.Backend != "":
		host, authSpec, abc, err := bc.namedHost("backend", h.Backend)
		if err != nil {
			return "", nil, err
		}
		if authSpec != nil {
			if auth, err = buildBackendAuth(abc, *authSpec); err != nil {
				return "", nil, err
			}
			if c, ok := auth.(io.Closer); ok {
				bc.OnClose(c)
			}
		}
		u = host
	case h.Host == "":
		return "", nil, bc.Errorf("host", "a host is required")
	}
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	if h.Port != 0 {
		u = fmt.Sprintf("%s:%d", strings.TrimRight(u, "/"), h.Port)
	}
	rest := u[strings.Index(u, "://")+3:]
	switch {
	case h.Path != "":
		u = strings.TrimRight(u, "/") + "/" + strings.TrimLeft(h.Path, "/")
	case !strings.Contains(rest, "/"):
		u += defaultPath
	}
	return u, auth, nil
}

func buildFederation(bc *BuildContext, s mcpBackendSpec) (*mcp.Federation, error) {
	cfg, err := s.config(bc)
	if err != nil {
		return nil, err
	}
	f := mcp.New(cfg)
	if err := f.Validate(); err != nil {
		_ = f.Close()
		return nil, bc.Wrap(err)
	}
	bc.OnClose(f)
	return f, nil
}

// mcpShortForm is the schema's LocalSimpleMcpConfig: a federation served on every path of its own
// port: streamable HTTP, and legacy HTTP+SSE on paths ending in /sse.
type mcpShortForm struct {
	Gateways               []string         `json:"gateways"`
	Port                   *int             `json:"port"`
	Targets                []mcpTargetSpec  `json:"targets"`
	StatefulMode           string           `json:"statefulMode"`
	PrefixMode             string           `json:"prefixMode"`
	FailureMode            string           `json:"failureMode"`
	DNSRebindingProtection bool             `json:"dnsRebindingProtection"`
	Policies               Node             `json:"policies"`
	SessionKey             string           `json:"sessionKey"`
	AllowedHosts           []string         `json:"allowedHosts"`
	AllowedOrigins         []string         `json:"allowedOrigins"`
	Pins                   string           `json:"pins"`
	Pinning                string           `json:"pinning"`
	Approval               *mcpApprovalSpec `json:"approval"`
}

func buildMCPShortForm(bc *BuildContext, s mcpShortForm) ([]Bind, error) {
	if len(s.Gateways) > 0 {
		return nil, bc.Errorf("gateways", "gateways are not supported; use port")
	}
	port := 3000
	if s.Port != nil {
		port = *s.Port
	}
	f, err := buildFederation(bc, mcpBackendSpec{
		Targets: s.Targets, StatefulMode: s.StatefulMode, PrefixMode: s.PrefixMode, FailureMode: s.FailureMode,
		DNSRebindingProtection: s.DNSRebindingProtection, SessionKey: s.SessionKey,
		AllowedHosts: s.AllowedHosts, AllowedOrigins: s.AllowedOrigins,
		Pins: s.Pins, Pinning: s.Pinning, Approval: s.Approval,
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
		// Every path of the port, as agentgateway serves it: a client configured with
		// http://host:port/ works. Paths ending in /sse speak legacy HTTP+SSE (see mcp.Federation).
		Matches:  []agentgateway.Match{{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/"}}},
		Policies: policies,
		Backends: []agentgateway.WeightedBackend{{Name: "mcp", Handler: f, Weight: 1}},
	}
	return []Bind{{Port: port, Listeners: []agentgateway.ListenerConfig{{Name: "mcp", Port: port, Routes: []agentgateway.RouteConfig{route}}}}}, nil
}
