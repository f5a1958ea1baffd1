// Package config reads agentgateway's standalone YAML configuration and compiles it into the runtime
// objects of package agentgateway, so that a file written for agentgateway runs here unchanged.
//
// It works in two visible steps, as Caddy does: [Load] parses and validates the file's structure
// (unknown fields, wrong types and bad shapes are errors naming the field path, e.g.
// "binds[0].listeners[0].routes[2].matches[0].path"), and [File.Build] turns every section into policies
// and backends and returns an [agentgateway.Config] ready for [agentgateway.Gateway.Apply]. Nothing is
// half-applied: Build either returns a complete configuration or an error listing every problem.
//
// Each schema key maps to one row of a table (see section.go and sections_*.go): a policy key to its
// package's constructor, a backend kind to its builder, a top-level short form (`mcp:`, `llm:`) to the
// listeners it adds. Adding a capability adds rows, never a branch here. A row decodes the schema's
// shape of its key (the YAML-only parts live here: one-of objects, file and service references,
// unsupported fields, the schema's defaults), translates it into the package's Go config
// (policy.JWTConfig, mcp.Config, ...) and relocates the constructor's errors to the file's field paths.
// The policies declare their own phase; the gateway orders them.
//
// The [BuildContext] a row gets is not tied to YAML: a translator from another source (Gateway API
// resources, xDS) makes one with [NewBuildContext] and uses the same file and service resolution,
// cleanup and error locations.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// File is a loaded, structurally valid config file.
type File struct {
	// Binds are the ports to serve, with their listeners and routes.
	Binds []BindSpec
	// Settings is the `config` section (startup settings).
	Settings Settings
	// Frontend is the `frontendPolicies` section (access log, tracing, HTTP settings).
	Frontend FrontendPolicies

	dir   string
	top   []Node
	named map[string]*namedBackend // top-level `backends`, by name
	raw   any                      // the expanded document, for Dump
	// mcpPins is the pin file of MCP backends without their own (SetMCPPins).
	mcpPins string
	// agentgateway's newer schema (sections_gateways.go): named gateways, the routes attached to
	// them, the gateway references of the short forms, and the static services (sections_services.go).
	gateways []gatewaySpec
	routes   []attachedRouteSpec
	// tcpRoutes are top-level TCP routes attached to TCP and TLS gateways.
	tcpRoutes []attachedTCPRouteSpec
	// routeGroups are the targets of routeGroup backends (sections_routegroups.go).
	routeGroups []routeGroupSpec
	// targeted is the top-level `policies` list (sections_targeted.go).
	targeted  *yaml.Node
	shortRefs map[string]shortFormRef
	services  *serviceCatalog
	// dial is SetDialer's (dial.go).
	dial DialFunc
}

// BindSpec is one entry of `binds`.
type BindSpec struct {
	Port           *int           `json:"port"`
	Listeners      []ListenerSpec `json:"listeners"`
	TunnelProtocol string         `json:"tunnelProtocol"`
	Mode           string         `json:"mode"`
}

// ListenerSpec is one entry of `binds[].listeners`.
type ListenerSpec struct {
	Name      string         `json:"name"`
	Namespace string         `json:"namespace"`
	Hostname  string         `json:"hostname"`
	Protocol  string         `json:"protocol"`
	TLS       *TLSSpec       `json:"tls"`
	Routes    []RouteSpec    `json:"routes"`
	TCPRoutes []TCPRouteSpec `json:"tcpRoutes"`
	Policies  Node           `json:"policies"`
}

// TLSSpec is a listener's server TLS (HTTPS and terminating TLS listeners), the schema's
// LocalTLSServerConfig.
type TLSSpec struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
	Root string `json:"root"`
	// MTLSMode (our extension, tls_listener_ext.go) is how root is enforced: "strict" (the default) or
	// "allowInsecureFallback".
	MTLSMode string `json:"mtlsMode"`
	// AdditionalCertificates (our extension, tls_listener_ext.go) are more cert/key pairs the listener serves,
	// chosen by the client's SNI (cert stays the default).
	AdditionalCertificates []CertKeySpec `json:"additionalCertificates"`
	// Mode is "static" (cert is the leaf) or "dynamicCa" (cert and key are a CA that signs a leaf for
	// each SNI).
	Mode              string   `json:"mode"`
	CipherSuites      []string `json:"cipherSuites"`
	MinTLSVersion     string   `json:"minTLSVersion"`
	MinTlsVersion     string   `json:"minTlsVersion"`
	MaxTLSVersion     string   `json:"maxTLSVersion"`
	MaxTlsVersion     string   `json:"maxTlsVersion"`
	KeyExchangeGroups []string `json:"keyExchangeGroups"`
}

// RouteSpec is one route of a listener.
type RouteSpec struct {
	Name      string         `json:"name"`
	Namespace string         `json:"namespace"`
	RuleName  string         `json:"ruleName"`
	Hostnames []string       `json:"hostnames"`
	Matches   []MatchSpec    `json:"matches"`
	Policies  Node           `json:"policies"`
	Backends  []BackendSpecs `json:"backends"`
}

// MatchSpec is one entry of a route's `matches`.
type MatchSpec struct {
	Path    *PathSpec   `json:"path"`
	Method  string      `json:"method"`
	Headers []ValueSpec `json:"headers"`
	Query   []ValueSpec `json:"query"`
}

// PathSpec is exactly one of exact, pathPrefix and regex.
type PathSpec struct {
	Exact      *string `json:"exact"`
	PathPrefix *string `json:"pathPrefix"`
	Regex      *string `json:"regex"`
}

// ValueSpec is a header or query match: a name and exactly one of value.exact and value.regex.
type ValueSpec struct {
	Name  string `json:"name"`
	Value struct {
		Exact *string `json:"exact"`
		Regex *string `json:"regex"`
	} `json:"value"`
}

// BackendSpecs is one entry of a route's `backends`: a weight, backend policies, and exactly one
// backend kind (host, service, mcp, ...), kept undecoded until Build.
type BackendSpecs struct {
	Weight   *int
	Policies Node
	Kind     string
	Spec     Node
}

// The top-level keys of agentgateway's schema; those without a table row are rejected as unsupported.
var (
	schemaTop = []string{"config", "binds", "frontendPolicies", "policies", "workloads", "services", "backends",
		"routeGroups", "gateways", "routes", "tcpRoutes", "llm", "mcp", "ui"}
)

// LoadFile reads and loads a config file.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Load(data, os.LookupEnv)
}

// SetDir sets the directory that relative file names in the config (certificates, JWKS, htpasswd,
// OpenAPI specs) are resolved against. The default is the working directory, as agentgateway resolves
// them, whatever directory the config file is in.
func (f *File) SetDir(dir string) { f.dir = dir }

// Load parses a config document, expanding $VAR and ${VAR} in string values with lookup (os.LookupEnv
// when nil), and validates its structure.
func Load(data []byte, lookup func(string) (string, bool)) (*File, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &agentgateway.ConfigError{Err: fmt.Errorf("parsing YAML: %w", err)}
	}
	f := &File{dir: "."}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return f, nil // an empty file serves nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errAt("", root, "the config must be an object")
	}
	if err := expandEnv(root, "", lookup); err != nil {
		return nil, err
	}
	var errs []error
	tops := map[string]bool{}
	for _, t := range topTable() {
		tops[t.Key] = true
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		switch {
		case key == "binds":
			binds, err := Decode[[]BindSpec](Node{n: val, path: "binds"})
			if err != nil {
				errs = append(errs, err)
			}
			f.Binds = binds
		case key == "backends":
			named, nerrs := decodeNamedBackends(val)
			errs = append(errs, nerrs...)
			f.named = named
		case key == "config":
			s, err := decodeSettings(val)
			if err != nil {
				errs = append(errs, err)
			}
			f.Settings = s
		case key == "frontendPolicies":
			fp, err := decodeFrontendPolicies(val)
			if err != nil {
				errs = append(errs, err)
			}
			f.Frontend = fp
		case newSchemaKeys[key]:
			errs = append(errs, f.decodeNewSchema(key, val)...)
		case tops[key]:
			val, serrs := f.decodeShortFormRefs(key, val)
			errs = append(errs, serrs...)
			f.top = append(f.top, Node{n: val, path: key})
		case slices.Contains(schemaTop, key):
			errs = append(errs, refuse(key, key))
		default:
			errs = append(errs, errAt(key, root.Content[i], "unknown field %q", key))
		}
	}
	for i, b := range f.Binds {
		errs = append(errs, b.validate(fmt.Sprintf("binds[%d]", i))...)
	}
	errs = append(errs, f.finishNewSchema()...)
	var raw any
	_ = root.Decode(&raw)
	f.raw = normalize(raw)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

func (b *BindSpec) validate(path string) []error {
	var errs []error
	if b.Port == nil {
		errs = append(errs, agentgateway.Errorf(path+".port", "port is required"))
	} else if *b.Port < 1 || *b.Port > 65535 {
		errs = append(errs, agentgateway.Errorf(path+".port", "port %d out of range", *b.Port))
	}
	errs = append(errs, b.validateMode(path)...)
	for j, l := range b.Listeners {
		lp := fmt.Sprintf("%s.listeners[%d]", path, j)
		errs = append(errs, validateListenerProtocol(l, lp)...)
		for k, r := range l.Routes {
			errs = append(errs, validateRoute(r, fmt.Sprintf("%s.routes[%d]", lp, k))...)
		}
	}
	return errs
}

// validateRoute checks a route's matches and that it has somewhere to send requests.
func validateRoute(r RouteSpec, rp string) []error {
	var errs []error
	for m, mt := range r.Matches {
		if mt.Path != nil {
			n := 0
			for _, p := range []*string{mt.Path.Exact, mt.Path.PathPrefix, mt.Path.Regex} {
				if p != nil {
					n++
				}
			}
			if n != 1 {
				errs = append(errs, agentgateway.Errorf(fmt.Sprintf("%s.matches[%d].path", rp, m), "set exactly one of exact, pathPrefix, regex"))
			}
		}
		for h, v := range slices.Concat(mt.Headers, mt.Query) {
			if (v.Value.Exact == nil) == (v.Value.Regex == nil) {
				kind, idx := "headers", h
				if h >= len(mt.Headers) {
					kind, idx = "query", h-len(mt.Headers)
				}
				errs = append(errs, agentgateway.Errorf(fmt.Sprintf("%s.matches[%d].%s[%d].value", rp, m, kind, idx), "set exactly one of exact, regex"))
			}
		}
	}
	if len(r.Backends) == 0 && r.Policies.IsZero() {
		errs = append(errs, agentgateway.Errorf(rp+".backends", "a route needs backends (or a directResponse / requestRedirect policy)"))
	}
	return errs
}

// decodeNode reads one backend entry: weight, policies and exactly one backend kind.
func (b *BackendSpecs) decodeNode(n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		return errAt(path, n, "want an object, got %s", kindName(n))
	}
	kinds := map[string]bool{}
	for _, s := range backendTable() {
		kinds[s.Key] = true
	}
	kinds["backend"] = true    // a reference to a top-level named backend
	kinds["routeGroup"] = true // delegation to a route group, expanded at build (sections_routegroups.go)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i].Value, n.Content[i+1]
		fp := joinPath(path, key)
		switch {
		case key == "weight":
			w := 0
			if err := decodeValue(val, reflectValue(&w), fp); err != nil {
				return err
			}
			b.Weight = &w
		case key == "policies":
			b.Policies = Node{n: val, path: fp}
		case key == "http": // agentgateway's `http: {hostname, port}`: a host backend (backend_http.go)
			if b.Kind != "" {
				return errAt(fp, n.Content[i], "a backend has one kind; found %q and %q", b.Kind, key)
			}
			spec, err := httpAsHost(val, fp)
			if err != nil {
				return err
			}
			b.Kind, b.Spec = "host", spec
		case kinds[key] || slices.Contains(schemaBackendKinds, key):
			if b.Kind != "" {
				return errAt(fp, n.Content[i], "a backend has one kind; found %q and %q", b.Kind, key)
			}
			if !kinds[key] {
				sec := "backend." // a route's backend, or a top-level named one
				if strings.HasPrefix(path, "backends[") {
					sec = "backends."
				}
				return refuse(fp, sec+key)
			}
			b.Kind, b.Spec = key, Node{n: val, path: fp}
		default:
			return errAt(fp, n.Content[i], "unknown field %q", key)
		}
	}
	if b.Kind == "" {
		return errAt(path, n, "a backend needs one of: %s", strings.Join(backendKeys(), ", "))
	}
	return nil
}

var schemaBackendKinds = []string{"service", "backend", "host", "internal", "dynamic", "mcp", "ai", "aws", "routeGroup", "invalid"}

func backendKeys() []string {
	var ks []string
	for _, s := range backendTable() {
		ks = append(ks, s.Key)
	}
	sort.Strings(ks)
	return ks
}

// Runtime is a built configuration: the Config to apply (its listeners name their ports and carry
// their server TLS, for [agentgateway.Gateway.Run]), and the resources (policy refreshers, pools) to
// release when it is replaced.
type Runtime struct {
	Config agentgateway.Config

	closers []io.Closer
	file    *File
}

// File returns the file the Runtime was built from (its settings, access log and tracing options).
func (rt *Runtime) File() *File { return rt.file }

// Close releases what Build opened (not the backends, which the Gateway closes when it retires them).
func (rt *Runtime) Close() error {
	var errs []error
	for _, c := range rt.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// loader builds one File: the root BuildContext of the build and the errors found so far.
type loader struct {
	bc   *BuildContext
	errs []error
	// listenerPols are the policies of listeners (by index in Config.Listeners) that every route
	// attached to them runs first (sections_gateways.go).
	listenerPols map[int][]agentgateway.Policy
	file         *File
}

// Build compiles the file into runtime objects, loading HTTPS listeners' certificates (a bad one is an
// error at its field path). It does not start anything: apply the result with Gateway.Apply and serve it
// with Gateway.Run, or keep a Gateway in step with the file with [WatchFile].
func (f *File) Build(logger *slog.Logger) (*Runtime, error) {
	if logger == nil {
		logger = slog.Default()
	}
	l := &loader{bc: NewBuildContext(f.dir, agentgateway.Services{Logger: logger}), file: f}
	l.bc.res.named = f.freshNamed()
	l.bc.res.pins = f.mcpPins
	l.bc.res.services = f.services
	l.bc.res.dial = f.dial
	l.bc.MCPSessionKey, _ = f.Settings.SessionKey() // validated by Load
	if h := f.Frontend.HTTP; h != nil {
		if h.MaxBufferSize < 0 {
			l.errs = append(l.errs, agentgateway.Errorf("frontendPolicies.http.maxBufferSize", "must not be negative"))
		}
		l.bc.MaxBufferSize = max(h.MaxBufferSize, 0)
	}
	if f.Settings.MCP != nil {
		l.bc.MCPSessionTimeout = f.Settings.MCP.SessionTTL
	}
	if cat, err := buildModelCatalog(l.bc, f.Settings.ModelCatalog); err != nil {
		l.errs = append(l.errs, err)
	} else {
		l.bc.LLMCatalog = cat
	}
	rt := &Runtime{file: f}
	ports := map[int]bool{}
	var listenerPaths []string // the file path of each listener of rt.Config, to relocate compile errors
	for i, b := range f.Binds {
		bp := fmt.Sprintf("binds[%d]", i)
		port := 0
		if b.Port != nil {
			port = *b.Port
		}
		if ports[port] {
			l.errs = append(l.errs, agentgateway.Errorf(bp+".port", "port %d is bound twice", port))
		}
		ports[port] = true
		if pc, ok := b.portConfig(port); ok {
			rt.Config.Ports = append(rt.Config.Ports, pc)
		}
		for j, ls := range b.Listeners {
			lp := fmt.Sprintf("%s.listeners[%d]", bp, j)
			rt.Config.Listeners = append(rt.Config.Listeners, l.listener(port, ls, lp))
			listenerPaths = append(listenerPaths, lp)
			l.listenerPolicies(len(rt.Config.Listeners)-1, ls.Policies, "")
		}
	}
	gi := l.gateways(f, &rt.Config, ports, &listenerPaths)
	for _, n := range f.top {
		sec := l.top(n.path)
		binds, err := sec.Build(l.bc.At(n.path), n)
		if err != nil {
			l.errs = append(l.errs, err)
			continue
		}
		if l.attachShortForm(f, n.path, binds, &rt.Config, gi) {
			continue
		}
		for _, b := range binds {
			if ports[b.Port] && b.Port != 0 {
				l.errs = append(l.errs, agentgateway.Errorf(n.path+".port", "port %d is bound twice", b.Port))
			}
			ports[b.Port] = true
			rt.Config.Listeners = append(rt.Config.Listeners, b.Listeners...)
			for range b.Listeners {
				listenerPaths = append(listenerPaths, n.path)
			}
		}
	}
	l.attachedRoutes(f, &rt.Config, gi)
	l.applyListenerPolicies(&rt.Config)
	l.applyMaxBufferSize(&rt.Config)
	if len(l.errs) == 0 {
		// Matches, hostnames and backends are checked by the same compiler Apply uses, so a file that
		// builds always applies; its errors are moved onto the file's paths.
		if err := rt.Config.Validate(); err != nil {
			l.errs = append(l.errs, relocate(err, listenerPaths))
		}
	}
	rt.closers = l.bc.res.closers
	if err := errors.Join(l.errs...); err != nil {
		_ = rt.Close()
		return nil, err
	}
	return rt, nil
}

// relocate rewrites "listeners[i]..." paths of compile errors to the file's "binds[b].listeners[l]...".
func relocate(err error, paths []string) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			list = append(list, relocate1(e, paths))
		}
		return errors.Join(list...)
	}
	return relocate1(err, paths)
}

func relocate1(err error, paths []string) error {
	var ce *agentgateway.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	var i int
	var rest string
	if n, _ := fmt.Sscanf(ce.Path, "listeners[%d]", &i); n == 1 && i < len(paths) {
		_, rest, _ = strings.Cut(ce.Path, "]")
		return &agentgateway.ConfigError{Path: paths[i] + rest, Err: ce.Err}
	}
	return err
}

// serverTLS loads an HTTPS listener's certificate and, with root, the CA that client certificates must
// chain to (mutual TLS); problems are recorded at the field that names the file.
func (l *loader) serverTLS(t TLSSpec, path string) *tls.Config {
	read := func(name, field string) []byte {
		if inlinePEM(name) { // tls_inline.go
			return []byte(name)
		}
		b, err := readLimited(l.bc.File(name), maxPEM)
		if err != nil {
			l.errs = append(l.errs, agentgateway.Errorf(path+"."+field, "%w", err))
		}
		return b
	}
	certPEM, keyPEM := read(t.Cert, "cert"), read(t.Key, "key")
	if certPEM == nil || keyPEM == nil {
		return nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		l.errs = append(l.errs, agentgateway.Errorf(path, "loading certificate %s and key %s: %w", pemName(t.Cert), pemName(t.Key), err))
		return nil
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if !l.tlsOptions(tc, t, path) {
		return nil
	}
	if !l.checkMTLSMode(t, path) || !l.additionalCerts(tc, t, path, read) { // tls_listener_ext.go
		return nil
	}
	if t.Root != "" {
		pem := read(t.Root, "root")
		if pem == nil {
			return nil
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			l.errs = append(l.errs, agentgateway.Errorf(path+".root", "%s holds no PEM certificates", pemName(t.Root)))
			return nil
		}
		tc.ClientCAs, tc.ClientAuth = pool, clientAuth(t.MTLSMode)
	}
	return tc
}

// maxPEM bounds what a certificate, key or CA file may hold, so a config naming a device or a huge file
// fails instead of exhausting memory.
const maxPEM = 1 << 20

func (l *loader) top(key string) TopSection {
	for _, t := range topTable() {
		if t.Key == key {
			return t
		}
	}
	panic("config: no top section " + key) // Load only keeps keys of the table
}

func (l *loader) listener(port int, ls ListenerSpec, path string) agentgateway.ListenerConfig {
	name := ls.Name
	if name == "" {
		name = fmt.Sprintf("bind%d", port)
	}
	lc := agentgateway.ListenerConfig{Name: name, Port: port}
	if ls.Hostname != "" {
		lc.Hostnames = []string{ls.Hostname}
	}
	if p := strings.ToUpper(ls.Protocol); p == "TCP" || p == "TLS" {
		l.l4Listener(&lc, ls, path)
		return lc
	}
	if ls.TLS != nil && strings.EqualFold(ls.Protocol, "HTTPS") {
		lc.TLS = l.serverTLS(*ls.TLS, path+".tls")
	}
	for i, rs := range ls.Routes {
		lc.Routes = append(lc.Routes, l.routesOf(l.file, rs, fmt.Sprintf("%s.routes[%d]", path, i), i)...)
	}
	return lc
}

func (l *loader) route(rs RouteSpec, path string, idx int) agentgateway.RouteConfig {
	name := rs.Name
	if name == "" {
		name = fmt.Sprintf("route%d", idx)
	}
	rc := agentgateway.RouteConfig{Name: name, Hostnames: rs.Hostnames}
	for _, m := range rs.Matches {
		rc.Matches = append(rc.Matches, m.compile())
	}
	rbc := l.bc.At(path)
	rbc.Route = name
	routePols, rtp, err := takeRouteTunnel(rs.Policies)
	if err != nil {
		l.errs = append(l.errs, err)
	}
	rbc.routeTunnel = rtp
	pols, err := buildPolicies(rbc.At("policies"), routePols)
	if err != nil {
		l.errs = append(l.errs, err)
	}
	rc.Policies = pols
	for i, b := range rs.Backends {
		h, err := buildBackend(rbc.At(fmt.Sprintf("backends[%d]", i)), b)
		if err != nil {
			l.errs = append(l.errs, err)
			continue
		}
		w := 1
		if b.Weight != nil {
			w = *b.Weight
		}
		rc.Backends = append(rc.Backends, agentgateway.WeightedBackend{Handler: h, Weight: w})
	}
	return rc
}

func (m MatchSpec) compile() agentgateway.Match {
	out := agentgateway.Match{Method: m.Method, Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/"}}
	if p := m.Path; p != nil {
		switch {
		case p.Exact != nil:
			out.Path = agentgateway.PathMatch{Type: agentgateway.PathExact, Value: *p.Exact}
		case p.Regex != nil:
			out.Path = agentgateway.PathMatch{Type: agentgateway.PathRegex, Value: *p.Regex}
		case p.PathPrefix != nil:
			out.Path = agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: *p.PathPrefix}
		}
	}
	conv := func(vs []ValueSpec) []agentgateway.ValueMatch {
		var out []agentgateway.ValueMatch
		for _, v := range vs {
			if v.Value.Regex != nil {
				out = append(out, agentgateway.ValueMatch{Name: v.Name, Value: *v.Value.Regex, Regex: true})
			} else if v.Value.Exact != nil {
				out = append(out, agentgateway.ValueMatch{Name: v.Name, Value: *v.Value.Exact})
			}
		}
		return out
	}
	out.Headers, out.Query = conv(m.Headers), conv(m.Query)
	return out
}

// buildPolicies builds a `policies` object into policies in file order; the gateway runs them by the
// phase each declares.
func buildPolicies(bc *BuildContext, n Node) ([]agentgateway.Policy, error) {
	if n.IsZero() {
		return nil, nil
	}
	if n.n.Kind != yaml.MappingNode {
		return nil, errAt(n.path, n.n, "want an object, got %s", kindName(n.n))
	}
	table := policyTable()
	var out []agentgateway.Policy
	var errs []error
	for i := 0; i+1 < len(n.n.Content); i += 2 {
		key, val := n.n.Content[i].Value, n.n.Content[i+1]
		fp := joinPath(n.path, key)
		idx := slices.IndexFunc(table, func(s PolicySection) bool { return s.Key == key })
		if idx < 0 {
			errs = append(errs, unknownPolicy(bc, fp, key, n.n.Content[i]))
			continue
		}
		if val.Tag == "!!null" {
			continue
		}
		sub := *bc
		sub.Path = fp
		build := table[idx].Build
		if conditionalKeys[key] && isConditional(val) {
			sec := table[idx]
			build = func(bc *BuildContext, n Node) (agentgateway.Policy, error) { return buildConditional(bc, sec, n) }
		}
		p, err := build(&sub, Node{n: val, path: fp})
		if err != nil {
			var ce *agentgateway.ConfigError
			if !errors.As(err, &ce) {
				err = &agentgateway.ConfigError{Path: fp, Err: err}
			}
			errs = append(errs, err)
			continue
		}
		if p != nil {
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

func buildBackend(bc *BuildContext, b BackendSpecs) (http.Handler, error) {
	if b.Kind == "backend" {
		name, err := Decode[string](b.Spec)
		if err != nil {
			return nil, err
		}
		if _, hs, _ := takeHealth(b.Policies, ""); hs != nil {
			return nil, agentgateway.Errorf(b.Policies.path+".health", "health configures the backend's endpoints: put it on the definition of backend %q", name)
		}
		if bc.routeTunnel != nil {
			return nil, agentgateway.Errorf(bc.routeTunnel.at, "the route's backendTunnel cannot change how backend %q connects (a reference): put backendTunnel on its definition", name)
		}
		if _, cp, _ := takeConn(b.Policies, ""); cp != nil {
			return nil, agentgateway.Errorf(cp.at, "http and tcp configure the backend's connections: put them on the definition of backend %q", name)
		}
		h, err := bc.At("backend").buildNamed("", name)
		if err != nil {
			return nil, err
		}
		return wrapBackendPolicies(bc, h, b.Policies)
	}
	idx := slices.IndexFunc(backendTable(), func(s BackendSection) bool { return s.Key == b.Kind })
	if idx < 0 {
		return nil, bc.Errorf("", "a backend needs one of: %s", strings.Join(backendKeys(), ", "))
	}
	policies, hs, err := takeHealth(b.Policies, b.Spec.path)
	if err != nil {
		return nil, err
	}
	policies, ir, err := takeInference(policies, b.Spec.path)
	if err != nil {
		return nil, err
	}
	policies, tp, err := takeTunnel(policies, b.Spec.path)
	if err != nil {
		return nil, err
	}
	if tp == nil && bc.routeTunnel != nil { // the route's, unless the backend sets its own
		tp = &tunnelPolicy{spec: bc.routeTunnel.spec, path: b.Spec.path, at: bc.routeTunnel.at}
	}
	policies, cp, err := takeConn(policies, b.Spec.path)
	if err != nil {
		return nil, err
	}
	sub := *bc
	sub.Path = b.Spec.path
	sub.health, sub.inference, sub.tunnel, sub.conn = hs, ir, tp, cp
	h, err := backendTable()[idx].Build(&sub, b.Spec)
	if err != nil {
		var ce *agentgateway.ConfigError
		if !errors.As(err, &ce) {
			err = &agentgateway.ConfigError{Path: b.Spec.path, Err: err}
		}
		return nil, err
	}
	if tp != nil && !tp.used {
		return nil, agentgateway.Errorf(tp.at, "backendTunnel applies to host and service backends (how they connect), not to %s", b.Kind)
	}
	if ir != nil && !ir.used {
		return nil, agentgateway.Errorf(ir.at, "inferenceRouting applies to service backends (the picker chooses among their endpoints), not to %s", b.Kind)
	}
	if hs != nil && !hs.used {
		return nil, agentgateway.Errorf(b.Policies.path+".health", "health applies to host and service backends (their endpoints), not to %s", b.Kind)
	}
	if cp != nil && !cp.used {
		return nil, agentgateway.Errorf(cp.at, "http and tcp apply to host and service backends (their connections), not to %s", b.Kind)
	}
	if h, err = wrapConn(cp, h); err != nil {
		return nil, err
	}
	return wrapBackendPolicies(bc, h, policies)
}

// wrapBackendPolicies wraps h in a backend entry's own policies.
func wrapBackendPolicies(bc *BuildContext, h http.Handler, policies Node) (http.Handler, error) {
	if policies.IsZero() {
		return h, nil
	}
	pbc := *bc
	pbc.Path = policies.path
	pbc.policyRows = "backendPolicies"
	pols, err := buildPolicies(&pbc, policies)
	if err != nil {
		return nil, err
	}
	inner := h
	for _, p := range slices.Backward(agentgateway.SortPolicies(pols)) {
		h = p.Wrap(h)
	}
	return &policyBackend{Handler: h, inner: inner, policies: pols}, nil
}

// policyBackend is a backend wrapped in its backend-level policies. The gateway sees only the
// backend, so Provision is handed on to the policies and the backend inside.
type policyBackend struct {
	http.Handler
	inner    http.Handler
	policies []agentgateway.Policy
}

// Provision implements agentgateway.Provisioner.
func (b *policyBackend) Provision(svc agentgateway.Services) error {
	var errs []error
	for _, x := range append([]any{b.inner}, anySlice(b.policies)...) {
		if p, ok := x.(agentgateway.Provisioner); ok {
			errs = append(errs, p.Provision(svc))
		}
	}
	return errors.Join(errs...)
}

func anySlice[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func simpleBackend(bc *BuildContext, ref BackendRef) (http.Handler, error) {
	switch {
	case ref.Host != "" && ref.Service == nil && ref.Backend == "":
		return hostBackend(bc, ref.Host)
	case ref.Service != nil && ref.Host == "" && ref.Backend == "":
		return serviceBackend(bc, *ref.Service)
	case ref.Backend != "" && ref.Host == "" && ref.Service == nil:
		return bc.At("backend").buildNamed("", ref.Backend)
	}
	return nil, bc.Errorf("", "set exactly one of host, service, backend")
}

// Dump returns the effective configuration as JSON with secrets redacted, for /config_dump: values of
// secret-looking keys, of sensitive headers (config.sensitiveHeaders and the defaults) wherever a
// header map names them, and of the OTLP export headers.
func (f *File) Dump() ([]byte, error) {
	return json.MarshalIndent(redactHeaders(redact(f.raw, ""), "", f.Settings.SensitiveHeaderSet()), "", "  ")
}

var secretKey = regexp.MustCompile(`(?i)(password|secret|token|credential|apikey|privatekey|^key$|^keys$|authorization)`)

func redact(x any, key string) any {
	if key != "" && secretKey.MatchString(key) {
		if _, isStr := x.(string); isStr {
			return "[redacted]"
		}
		if key == "keys" {
			if list, ok := x.([]any); ok {
				out := make([]any, len(list))
				for i, v := range list {
					out[i] = redactAll(v)
				}
				return out
			}
		}
	}
	switch x := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[k] = redact(v, k)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = redact(v, key)
		}
		return out
	}
	return x
}

func redactAll(x any) any {
	switch x := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			if k == "metadata" {
				out[k] = v
				continue
			}
			out[k] = redactAll(v)
		}
		return out
	case string:
		return "[redacted]"
	}
	return x
}

// Unwrap returns the backend inside the policies, for callers that look for what it implements.
func (b *policyBackend) Unwrap() http.Handler { return b.inner }

// Health reports the endpoint health of the backend inside the policies (nil when it has none).
func (b *policyBackend) Health() []agentgateway.EndpointHealth {
	if h, ok := b.inner.(agentgateway.HealthReporter); ok {
		return h.Health()
	}
	return nil
}
