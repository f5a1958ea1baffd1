package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// BuildContext is what a builder gets besides its own spec: the field path its errors are reported
// at, the directory that file names resolve against, the gateway's services, the resolution of
// service references, and the cleanup of what the build opens.
//
// Nothing in it is specific to YAML. A translator from another source of configuration (Gateway API
// resources, xDS) makes one with [NewBuildContext], calls the packages' constructors with Go configs
// (policy.JWTConfig, mcp.Config, ...), and uses the same helpers: [BuildContext.File] and
// [BuildContext.ReadFile] for files, [BuildContext.Service] for service references,
// [BuildContext.OnClose] and [BuildContext.Close] for cleanup, and [BuildContext.At],
// [BuildContext.Errorf] and [BuildContext.Wrap] to report errors at its own field paths. Phase
// ordering is not the builder's concern: every policy declares its agentgateway.Phase and the gateway
// runs a route's policies in that order, however they were added.
//
// Contexts derived from one another with At (or copied) share their cleanup list.
type BuildContext struct {
	// Path is the field path of what is being built ("binds[0].listeners[0].routes[2].policies.cors");
	// errors made with Errorf and Wrap are located under it.
	Path string
	// Dir is the directory that relative file names resolve against (the working directory for a
	// config file, as in agentgateway).
	Dir string
	// Route is the name of the route being built ("" for top-level sections).
	Route string
	// Logger is for builders that log; it is Services.Logger, or slog.Default() when that is nil.
	Logger *slog.Logger
	// Services are the gateway's logger, telemetry and outbound transport hook. Policies and backends
	// that implement agentgateway.Provisioner receive the gateway's own when the configuration is
	// applied; builders may use these before that.
	Services agentgateway.Services
	// ResolveService turns a service reference into "host:port". Nil resolves by DNS name: the
	// hostname part of Name ("namespace/hostname" or "hostname") and Port.
	ResolveService func(ServiceRef) (string, error)
	// MCPSessionKey and MCPSessionTimeout are config.session.key and config.mcp.sessionTtl: the
	// defaults of MCP backends that set no key and timeout of their own. The key also seals the
	// oidc and oauth2 policies' sessions.
	MCPSessionKey     []byte
	MCPSessionTimeout time.Duration
	// LLMCatalog is config.modelCatalog: the prices LLM backends record costs with (nil: none).
	LLMCatalog *llm.Catalog
	// MaxBufferSize is frontendPolicies.http.maxBufferSize: the default bound of the policies that
	// buffer a body (retry's replay buffer, buffer, transformations, extAuthz's includeRequestBody)
	// when they set none of their own; 0 leaves each its own default.
	MaxBufferSize int64

	res *resources
	// health is the `health` policy of the backend being built (sections_health.go).
	health *healthSpec
	// inference is the `inferenceRouting` policy of the backend being built (sections_inference.go).
	inference *inferenceSpec
	// tunnel is the `backendTunnel` policy of the backend being built (sections_backendtunnel.go).
	tunnel *tunnelPolicy
	// routeTunnel is the `backendTunnel` of the route whose backends are being built: theirs unless
	// they set their own.
	routeTunnel *tunnelPolicy
	// conn is the `http` and `tcp` policies of the backend being built (sections_backendconn.go).
	conn *connPolicy
	// policyRows is the compatibility table section whose words refuse an unsupported policy key
	// ("policies" when empty; "backendPolicies", "gateways", "gatewayListener").
	policyRows string
}

// resources are what a build opened, shared by every context derived from its root.
type resources struct {
	closers []io.Closer
	named   map[string]*namedBackend // the file's top-level backends, by name
	pins    string                   // the default MCP pin file (File.SetMCPPins)
	// services are the file's static `services` with their `workloads` (sections_services.go).
	services *serviceCatalog
	// dial connects host and service backends (File.SetDialer); nil dials directly.
	dial DialFunc
	// sharedLimits are the named localRateLimit buckets of the build (sections_ratelimit_shared.go).
	sharedLimits map[string]sharedLimit
}

// NewBuildContext returns the root context of one build: file names resolve against dir, and svc
// (its Logger in particular) is lent to the builders.
func NewBuildContext(dir string, svc agentgateway.Services) *BuildContext {
	logger := svc.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &BuildContext{Dir: dir, Logger: logger, Services: svc, res: &resources{}}
}

// At returns a context for field, a child of bc's path: "name", "list[2]", or "" for bc's own.
func (bc *BuildContext) At(field string) *BuildContext {
	sub := *bc
	sub.Path = joinField(bc.Path, field)
	return &sub
}

// Errorf returns an *agentgateway.ConfigError at field under bc's path.
func (bc *BuildContext) Errorf(field, format string, args ...any) error {
	return agentgateway.Errorf(joinField(bc.Path, field), format, args...)
}

// Wrap locates err under bc's path: the path of every *agentgateway.ConfigError in it (each of a
// joined list) is prefixed with bc.Path, any other error is located at bc.Path. Constructors report
// paths relative to their config (policy.NewCORS says "allowOrigins[0]"), so wrapping their errors
// gives the full path ("...policies.cors.allowOrigins[0]").
func (bc *BuildContext) Wrap(err error) error {
	return relocateUnder(bc.Path, err)
}

func relocateUnder(base string, err error) error {
	if err == nil {
		return nil
	}
	return mapPaths(err, func(p string) string { return joinField(base, p) })
}

// mapPaths rewrites the path of every ConfigError in err with fn; other errors become ConfigErrors
// at fn(""). Joined lists keep every member.
func mapPaths(err error, fn func(string) string) error {
	ce, ok := err.(*agentgateway.ConfigError)
	if !ok {
		if j, isJoin := err.(interface{ Unwrap() []error }); isJoin {
			var list []error
			for _, e := range j.Unwrap() {
				list = append(list, mapPaths(e, fn))
			}
			return errors.Join(list...)
		}
		if !errors.As(err, &ce) {
			return &agentgateway.ConfigError{Path: fn(""), Err: err}
		}
	}
	return &agentgateway.ConfigError{Path: fn(ce.Path), Err: ce.Err}
}

// joinField appends field to path: "a" + "b" is "a.b", "a" + "[1]" is "a[1]".
func joinField(path, field string) string {
	switch {
	case field == "":
		return path
	case path == "":
		return strings.TrimPrefix(field, ".")
	case strings.HasPrefix(field, "["):
		return path + field
	}
	return path + "." + field
}

// File resolves a file name from the config against Dir.
func (bc *BuildContext) File(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(bc.Dir, name)
}

// maxFile bounds what a file named by the config may hold (key sets, htpasswd, secrets, certificates),
// so that a config naming a device or a huge file fails instead of exhausting memory.
const maxFile = 8 << 20

// ReadFile reads the file name (resolved with File); a failure is an error at field under bc's path.
func (bc *BuildContext) ReadFile(field, name string) ([]byte, error) {
	b, err := readLimited(bc.File(name), maxFile)
	if err != nil {
		return nil, bc.Errorf(field, "%w", err)
	}
	return b, nil
}

func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return b, nil
}

// Service resolves a service reference to "host:port" with ResolveService (by DNS name when nil); a
// reference without a name or a valid port is an error at field.
func (bc *BuildContext) Service(field string, ref ServiceRef) (string, error) {
	if bc.ResolveService != nil {
		hp, err := bc.ResolveService(ref)
		if err != nil {
			return "", bc.Errorf(field, "%w", err)
		}
		return hp, nil
	}
	name := ref.Name
	if _, h, found := strings.Cut(name, "/"); found {
		name = h
	}
	if name == "" || ref.Port <= 0 || ref.Port > 65535 {
		return "", bc.Errorf(field, "want {name, port}")
	}
	return net.JoinHostPort(name, strconv.Itoa(ref.Port)), nil
}

// OnClose registers c to be closed by Close: when the build fails, or when the configuration it built
// is replaced (for a config file, by [Runtime.Close]).
func (bc *BuildContext) OnClose(c io.Closer) {
	bc.res.closers = append(bc.res.closers, c)
}

// Close closes what the build registered with OnClose, in order, and forgets it.
func (bc *BuildContext) Close() error {
	var errs []error
	for _, c := range bc.res.closers {
		errs = append(errs, c.Close())
	}
	bc.res.closers = nil
	return errors.Join(errs...)
}

// Backend builds a plain HTTP backend from a host/service/backend reference (the schema's
// SimpleLocalBackend), for sections such as requestMirror that send traffic somewhere.
func (bc *BuildContext) Backend(ref BackendRef) (http.Handler, error) {
	return simpleBackend(bc, ref)
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
	return buildPolicies(bc, n)
}

// The tables: one row per schema key. Each package contributes its rows in a file of its own
// (sections_<package>.go) so that adding a capability never touches a shared switch.
func policyTable() []PolicySection {
	return concat(corePolicies, policyPolicies, extProcPolicies, ipAccessPolicies, mcpPolicies, mcpAuthPolicies, mcpRateLimitPolicies, oidcPolicies, oauth2Policies, a2aPolicies, llmPolicies)
}

func backendTable() []BackendSection {
	return concat(coreBackends, mcpBackends, a2aBackends, llmBackends, awsBackends, dynamicBackends)
}

func topTable() []TopSection {
	return concat(coreTop, mcpTop, llmTop)
}

func concat[T any](lists ...[]T) []T {
	var out []T
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
