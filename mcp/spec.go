package mcp

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
)

// BackendSpec is the schema's LocalMcpBackend (route backend `mcp`), plus the gateway's extensions
// sessionKey, allowedHosts and allowedOrigins.
type BackendSpec struct {
	Targets []TargetSpec `json:"targets"`
	// StatefulMode is "stateful" (default) or "stateless".
	StatefulMode string `json:"statefulMode"`
	// PrefixMode is "conditional" (default), "always" or "never".
	PrefixMode string `json:"prefixMode"`
	// FailureMode is "failClosed" (default) or "failOpen".
	FailureMode string `json:"failureMode"`
	// DNSRebindingProtection, when true, accepts only loopback Host and Origin names. Whatever its
	// value, a federation served on a loopback address refuses foreign names (see Config.AllowedHosts).
	DNSRebindingProtection bool `json:"dnsRebindingProtection"`

	// SessionKey (extension) is the base64 AES key shared by replicas; see Config.SessionKey.
	SessionKey string `json:"sessionKey"`
	// AllowedHosts and AllowedOrigins (extensions) are Config's allow-lists. An Origin passes when it
	// is the gateway's own (the request's scheme and Host) or listed; see Config.AllowedOrigins.
	AllowedHosts   []string `json:"allowedHosts"`
	AllowedOrigins []string `json:"allowedOrigins"`
}

// TargetSpec is the schema's LocalMcpTarget: a name and exactly one of stdio, mcp (streamable HTTP)
// and sse.
type TargetSpec struct {
	Name     string          `json:"name"`
	Stdio    *StdioSpec      `json:"stdio"`
	MCP      *HostSpec       `json:"mcp"`
	SSE      *HostSpec       `json:"sse"`
	Policies *TargetPolicies `json:"policies"`
}

// StdioSpec starts a target process.
type StdioSpec struct {
	Cmd      string            `json:"cmd"`
	Args     []string          `json:"args"`
	Env      map[string]string `json:"env"`
	ClearEnv bool              `json:"clear_env"`
}

// HostSpec locates an HTTP target: host as a URL ("https://example.com/mcp") or host:port, or host,
// port and path.
type HostSpec struct {
	Host    string `json:"host"`
	Port    int    `json:"port"`
	Path    string `json:"path"`
	Backend string `json:"backend"`
}

// TargetPolicies are the transport policies of one target (the schema's SimpleLocalBackendPolicies);
// requestHeaderModifier is supported.
type TargetPolicies struct {
	RequestHeaderModifier *HeaderModifierSpec `json:"requestHeaderModifier"`
}

// HeaderModifierSpec adds or sets headers on requests to a target.
type HeaderModifierSpec struct {
	Add map[string]string `json:"add"`
	Set map[string]string `json:"set"`
}

// NewFromSpec builds a federation from its declarative form; errors carry field paths.
func NewFromSpec(spec BackendSpec, logger *slog.Logger) (*Federation, error) {
	cfg := Config{
		Prefix:         PrefixMode(spec.PrefixMode),
		Failure:        FailureMode(spec.FailureMode),
		AllowedHosts:   spec.AllowedHosts,
		AllowedOrigins: spec.AllowedOrigins,
		LoopbackOnly:   spec.DNSRebindingProtection,
		Logger:         logger,
	}
	switch spec.StatefulMode {
	case "", "stateful":
	case "stateless":
		cfg.Stateless = true
	default:
		return nil, agentgateway.Errorf("statefulMode", "unknown mode %q (stateful, stateless)", spec.StatefulMode)
	}
	if spec.SessionKey != "" {
		key, err := base64.StdEncoding.DecodeString(spec.SessionKey)
		if err != nil {
			return nil, agentgateway.Errorf("sessionKey", "not base64: %v", err)
		}
		cfg.SessionKey = key
	}
	for i, ts := range spec.Targets {
		at := fmt.Sprintf("targets[%d]", i)
		t, err := ts.target(at)
		if err != nil {
			return nil, err
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	f := New(cfg)
	if err := f.Validate(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func (ts TargetSpec) target(at string) (Target, error) {
	n := 0
	for _, set := range []bool{ts.Stdio != nil, ts.MCP != nil, ts.SSE != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return Target{}, agentgateway.Errorf(at, "exactly one of stdio, mcp and sse")
	}
	var t Target
	switch {
	case ts.Stdio != nil:
		t = StdioTarget(ts.Name, ts.Stdio.Cmd, ts.Stdio.Args...)
		t.Env, t.ClearEnv = ts.Stdio.Env, ts.Stdio.ClearEnv
		if ts.Policies != nil {
			return Target{}, agentgateway.Errorf(at+".policies", "not supported on stdio targets")
		}
		return t, nil
	case ts.MCP != nil:
		u, err := ts.MCP.url(at+".mcp", "/mcp")
		if err != nil {
			return Target{}, err
		}
		t = HTTPTarget(ts.Name, u)
	default:
		u, err := ts.SSE.url(at+".sse", "/sse")
		if err != nil {
			return Target{}, err
		}
		t = SSETarget(ts.Name, u)
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

func (h *HostSpec) url(at, defaultPath string) (string, error) {
	if h.Backend != "" {
		return "", agentgateway.Errorf(at+".backend", "backend references are not supported for MCP targets; use host")
	}
	if h.Host == "" {
		return "", agentgateway.Errorf(at+".host", "a host is required")
	}
	u := h.Host
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
	return u, nil
}
