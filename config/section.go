package config

import (
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

	agentgateway "github.com/agentgw/agentgateway"
)

// BuildContext is what a section builder gets besides its own spec.
type BuildContext struct {
	// Path is the section's field path; wrap errors with agentgateway.Errorf(bc.Path+".field", ...).
	Path string
	// Dir is the directory of the config file; relative file names in a spec are relative to it.
	Dir string
	// Route is the name of the route being built ("" for top-level sections).
	Route  string
	Logger *slog.Logger

	loader *loader
}

// File resolves a file name from the config against the config's directory.
func (bc *BuildContext) File(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(bc.Dir, name)
}

// OnClose registers c to be closed when the configuration that built it is replaced.
func (bc *BuildContext) OnClose(c io.Closer) {
	bc.loader.closers = append(bc.loader.closers, c)
}

// Backend builds a plain HTTP backend from a host/service/backend reference (the schema's
// SimpleLocalBackend), for sections such as requestMirror that send traffic somewhere.
func (bc *BuildContext) Backend(ref BackendRef) (http.Handler, error) {
	return bc.loader.simpleBackend(bc, ref)
}

// BackendRef is the schema's SimpleLocalBackend: exactly one of Host, Service and Backend.
type BackendRef struct {
	// Host is "host:port" or a URL.
	Host string `json:"host"`
	// Service is a service from the top-level services list.
	Service *ServiceRef `json:"service"`
	// Backend names a top-level backend.
	Backend string `json:"backend"`
}

// ServiceRef names a service and port.
type ServiceRef struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

// PolicySection maps one key of a route's `policies` to the builder of its policy. The built policy
// declares its own agentgateway.Phase, so a policy runs at the same place whether a file or Go code
// added it.
type PolicySection struct {
	Key   string
	Build func(bc *BuildContext, n Node) (agentgateway.Policy, error)
}

// Policy makes a PolicySection whose spec decodes into S.
func Policy[S any](key string, build func(bc *BuildContext, spec S) (agentgateway.Policy, error)) PolicySection {
	return PolicySection{Key: key, Build: func(bc *BuildContext, n Node) (agentgateway.Policy, error) {
		spec, err := Decode[S](n)
		if err != nil {
			return nil, err
		}
		return build(bc, spec)
	}}
}

// BackendSection maps one kind of route backend (`host`, `mcp`, `ai`, ...) to its builder.
type BackendSection struct {
	Key   string
	Build func(bc *BuildContext, n Node) (http.Handler, error)
}

// Backend makes a BackendSection whose spec decodes into S.
func Backend[S any](key string, build func(bc *BuildContext, spec S) (http.Handler, error)) BackendSection {
	return BackendSection{Key: key, Build: func(bc *BuildContext, n Node) (http.Handler, error) {
		spec, err := Decode[S](n)
		if err != nil {
			return nil, err
		}
		return build(bc, spec)
	}}
}

// TopSection maps a top-level short form (`mcp:`, `llm:`) to the listeners it adds.
type TopSection struct {
	Key   string
	Build func(bc *BuildContext, n Node) ([]Bind, error)
}

// Top makes a TopSection whose spec decodes into S.
func Top[S any](key string, build func(bc *BuildContext, spec S) ([]Bind, error)) TopSection {
	return TopSection{Key: key, Build: func(bc *BuildContext, n Node) ([]Bind, error) {
		spec, err := Decode[S](n)
		if err != nil {
			return nil, err
		}
		return build(bc, spec)
	}}
}

// Bind is a port with its listeners, as a TopSection produces them.
type Bind struct {
	Port      int
	Listeners []agentgateway.ListenerConfig
}

// BuildPolicies builds a `policies` object (as found on routes and in short forms) into policies, in
// file order (the gateway runs them by phase); short-form sections use it for their own `policies`.
func (bc *BuildContext) BuildPolicies(n Node) ([]agentgateway.Policy, error) {
	return bc.loader.policies(bc, n)
}

// The tables: one row per schema key. Each package contributes its rows in a file of its own
// (sections_<package>.go) so that adding a capability never touches a shared switch.
func policyTable() []PolicySection {
	return concat(corePolicies, policyPolicies, mcpPolicies, a2aPolicies)
}

func backendTable() []BackendSection {
	return concat(coreBackends, mcpBackends, a2aBackends)
}

func topTable() []TopSection {
	return concat(coreTop, mcpTop)
}

func concat[T any](lists ...[]T) []T {
	var out []T
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
