package mcp

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	agentgateway "github.com/agentgw/agentgateway"
)

// Transport names how the gateway reaches a target.
type Transport string

// The target transports.
const (
	TransportHTTP   Transport = "streamableHTTP" // MCP streamable HTTP (POST, JSON or SSE answers)
	TransportSSE    Transport = "sse"            // legacy HTTP+SSE (2024-11-05)
	TransportStdio  Transport = "stdio"          // a child process speaking newline-delimited JSON
	TransportServer Transport = "inProcess"      // a go-sdk *mcp.Server in this process
)

// Target is one MCP server behind a federation. Build it with [HTTPTarget], [SSETarget], [StdioTarget]
// or [ServerTarget] and set the optional fields on the returned value.
type Target struct {
	// Name prefixes the target's tool and prompt names (`<name>_<tool>`) and resource URIs
	// (`<name>+<uri>`). It must be non-empty, unique in a federation and contain no '_' or '+'.
	Name      string
	Transport Transport

	// URL is the endpoint of an HTTP or SSE target.
	URL string
	// Headers are added to every request sent to an HTTP or SSE target.
	Headers http.Header
	// ForwardAuthorization passes the client's Authorization header to this target. Off by default:
	// a credential meant for the gateway is not handed to every upstream.
	ForwardAuthorization bool
	// HTTPClient overrides the federation's pooled client for this target.
	HTTPClient *http.Client
	// BackendAuth is a backend-auth policy (policy.NewBackendAuth, gcpauth.New, ...) for this
	// target's requests; it wins over one on the route. Without it, a backend-auth policy on the
	// route applies to every HTTP and SSE target, as it does to an HTTP backend.
	BackendAuth agentgateway.Policy

	// Command, Args and Env start a stdio target. Env adds to the gateway's environment unless
	// ClearEnv is set. One process runs per client session; it is started when the session opens,
	// restarted with back-off when it exits, and stopped when the session ends.
	Command  string
	Args     []string
	Env      map[string]string
	ClearEnv bool

	// Server is the in-process go-sdk server of a ServerTarget.
	Server *sdk.Server
	// openapi is an OpenAPITarget's document; its server is built per federation (openapi.server).
	openapi *openAPI

	// Tools filters and renames the target's tools.
	Tools ToolFilter
	// OnToolChange is what happens when one of the target's tools no longer matches its pin
	// (Config.Pins): PinAllow (log and count), PinHide or PinFail.
	OnToolChange PinMode
}

// ToolFilter selects, renames and re-describes a target's tools. Patterns are path.Match globs over the
// tool's name as the target knows it.
type ToolFilter struct {
	// Include keeps only matching tools (all when empty).
	Include []string
	// Exclude drops matching tools; it wins over Include.
	Exclude []string
	// Rename maps a target's tool name to the name clients see (before prefixing).
	Rename map[string]string
	// Descriptions overrides the description of tools by their target name.
	Descriptions map[string]string
}

// HTTPTarget is a streamable HTTP MCP server at url.
func HTTPTarget(name, url string) Target {
	return Target{Name: name, Transport: TransportHTTP, URL: url}
}

// SSETarget is a legacy HTTP+SSE MCP server whose SSE endpoint is url.
func SSETarget(name, url string) Target {
	return Target{Name: name, Transport: TransportSSE, URL: url}
}

// StdioTarget is an MCP server started as a child process.
func StdioTarget(name, command string, args ...string) Target {
	return Target{Name: name, Transport: TransportStdio, Command: command, Args: args}
}

// ServerTarget is an in-process go-sdk server, connected without a network hop.
func ServerTarget(name string, server *sdk.Server) Target {
	return Target{Name: name, Transport: TransportServer, Server: server}
}

func (t *Target) validate(at string) error {
	if t.Name == "" {
		return agentgateway.Errorf(at+".name", "a target needs a name")
	}
	if strings.ContainsAny(t.Name, "_+/") {
		return agentgateway.Errorf(at+".name", "target name %q must not contain '_', '+' or '/': they separate target and tool names", t.Name)
	}
	switch t.Transport {
	case TransportHTTP, TransportSSE:
		u, err := url.Parse(t.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return agentgateway.Errorf(at+".url", "target %q: %q is not an http(s) URL", t.Name, t.URL)
		}
	case TransportStdio:
		if t.Command == "" {
			return agentgateway.Errorf(at+".cmd", "target %q: a stdio target needs a command", t.Name)
		}
	case TransportServer:
		if t.openapi != nil {
			if err := t.openapi.validate(at, t.Name); err != nil {
				return err
			}
		} else if t.Server == nil {
			return agentgateway.Errorf(at+".server", "target %q: no server", t.Name)
		}
	default:
		return agentgateway.Errorf(at, "target %q: unknown transport %q", t.Name, t.Transport)
	}
	if t.OnToolChange > PinFail {
		return agentgateway.Errorf(at+".pinning", "target %q: unknown pin mode %v", t.Name, t.OnToolChange)
	}
	for _, p := range append(append([]string(nil), t.Tools.Include...), t.Tools.Exclude...) {
		if _, err := path.Match(p, ""); err != nil {
			return agentgateway.Errorf(at+".tools", "target %q: bad pattern %q: %v", t.Name, p, err)
		}
	}
	return nil
}

// target is a validated Target with its lookup tables.
type target struct {
	Target
	idx      int
	unrename map[string]string // exposed name → target name
	httpc    *http.Client
	h1       *h1Client // plain-HTTP targets without a custom client
	// hooked, for targets without their own client, is the federation's client through the gateway's
	// transport hook (Provision); when set it replaces httpc and h1.
	hooked *atomic.Pointer[http.Client]
	// tel is the federation's telemetry (Provision).
	tel *atomic.Pointer[telemetry]
	// authH runs BackendAuth to collect its credential (compileAuth).
	authH http.Handler
}

// client returns the net/http client for the target's requests, and the built-in HTTP/1.1 client when
// that is to be used instead.
func (t *target) client() (*http.Client, *h1Client) {
	if t.hooked != nil {
		if c := t.hooked.Load(); c != nil {
			return c, nil
		}
	}
	return t.httpc, t.h1
}

func (t *target) String() string { return t.Name }

// exposeTool maps a target's tool name to the name clients see before prefixing, or ok=false when
// the filter drops it.
func (t *target) exposeTool(name string) (string, bool) {
	if !t.toolKept(name) {
		return "", false
	}
	if n, ok := t.Tools.Rename[name]; ok {
		return n, true
	}
	return name, true
}

// upstreamTool maps an exposed tool name back to the target's own name.
func (t *target) upstreamTool(exposed string) (string, bool) {
	name := exposed
	if n, ok := t.unrename[exposed]; ok {
		name = n
	} else if _, renamed := t.Tools.Rename[exposed]; renamed {
		return "", false // only reachable under its new name
	}
	if !t.toolKept(name) {
		return "", false
	}
	return name, true
}

func (t *target) toolKept(name string) bool {
	if len(t.Tools.Include) > 0 && !matchAny(t.Tools.Include, name) {
		return false
	}
	return !matchAny(t.Tools.Exclude, name)
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func compileTarget(t Target, idx int) (*target, error) {
	ct := &target{Target: t, idx: idx}
	ct.compileAuth()
	if t.openapi != nil {
		ct.Server = t.openapi.server(ct)
	}
	if len(t.Tools.Rename) > 0 {
		ct.unrename = make(map[string]string, len(t.Tools.Rename))
		for from, to := range t.Tools.Rename {
			if prev, dup := ct.unrename[to]; dup {
				return nil, fmt.Errorf("target %q: tools %q and %q are both renamed to %q", t.Name, prev, from, to)
			}
			ct.unrename[to] = from
		}
	}
	return ct, nil
}
