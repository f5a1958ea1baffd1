package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// agentgateway's newer schema: named `gateways` own ports (and listeners); top-level `routes`, the
// `mcp` and `llm` short forms attach to them by reference ("gw" or "gw/listener"), and the policies
// of a gateway or listener run for every route attached to it, before the route's own (agentgateway's
// gateway phase: before route selection, here before the route's policies; see gatewayPolicyKeys).

// newSchemaKeys are the top-level keys of the newer schema that Load hands to decodeNewSchema.
var newSchemaKeys = map[string]bool{"gateways": true, "routes": true, "tcpRoutes": true, "services": true, "workloads": true, "routeGroups": true, "policies": true}

// decodeNewSchema decodes one top-level key of newSchemaKeys into f.
func (f *File) decodeNewSchema(key string, val *yaml.Node) []error {
	switch key {
	case "gateways":
		gws, errs := decodeGateways(val)
		f.gateways = gws
		return errs
	case "routes":
		rs, errs := decodeAttachedRoutes(val)
		f.routes = rs
		return errs
	case "tcpRoutes":
		rs, errs := decodeAttached[TCPRouteSpec](val, "tcpRoutes", nil)
		f.tcpRoutes = rs
		return errs
	case "policies":
		f.targeted = val // attached to their targets once every section is decoded
		return nil
	case "routeGroups":
		gs, err := Decode[[]routeGroupSpec](Node{n: val, path: key})
		if err != nil {
			return []error{err}
		}
		var errs []error
		for i, g := range gs {
			gp := fmt.Sprintf("routeGroups[%d]", i)
			if g.Name == "" {
				errs = append(errs, agentgateway.Errorf(gp+".name", "a route group needs a name"))
			}
			for j, r := range g.Routes {
				errs = append(errs, validateRoute(r, fmt.Sprintf("%s.routes[%d]", gp, j))...)
			}
		}
		f.routeGroups = gs
		return errs
	case "services", "workloads":
		if f.services == nil {
			f.services = &serviceCatalog{}
		}
		return f.services.decode(key, val)
	}
	return nil
}

// finishNewSchema does what needs the whole file: the references between services and workloads,
// and the top-level policies' targets.
func (f *File) finishNewSchema() []error {
	var errs []error
	if f.services != nil {
		errs = append(errs, f.services.link()...)
	}
	if f.targeted != nil {
		errs = append(errs, f.applyTargetedPolicies(f.targeted)...)
	}
	return errs
}

// shortFormRef is where a short form (`mcp`, `llm`) attaches: its gateway references, and whether it
// names a port of its own (deprecated in the schema, still honoured).
type shortFormRef struct {
	refs    []string
	hasPort bool
}

// decodeShortFormRefs takes a short form's `gateways` out of its node (a copy; the dump keeps it).
func (f *File) decodeShortFormRefs(key string, val *yaml.Node) (*yaml.Node, []error) {
	if val == nil || val.Kind != yaml.MappingNode {
		return val, nil
	}
	cp := *val
	cp.Content = slices.Clone(val.Content)
	refs, hasPort, err := shortFormRefs(&cp, key)
	if f.shortRefs == nil {
		f.shortRefs = map[string]shortFormRef{}
	}
	f.shortRefs[key] = shortFormRef{refs: refs, hasPort: hasPort}
	if err == nil && len(refs) > 0 && hasPort {
		err = agentgateway.Errorf(key+".port", "set gateways or port, not both")
	}
	if err != nil {
		return &cp, []error{err}
	}
	return &cp, nil
}

// attachShortForm attaches the routes a short form built to the gateways it names (or to the gateway
// named "default" when it names none and sets no port), and reports whether it did; otherwise the
// short form serves its own port.
func (l *loader) attachShortForm(f *File, key string, binds []Bind, cfg *agentgateway.Config, gi gatewayIndex) bool {
	ref := f.shortRefs[key]
	if len(ref.refs) == 0 {
		if _, ok := gi["default"]; !ok || ref.hasPort {
			return false
		}
	}
	idxs, err := gi.resolve(ref.refs, key+".gateways")
	if err != nil {
		l.errs = append(l.errs, err)
		return true
	}
	for _, b := range binds {
		for _, lc := range b.Listeners {
			attach(cfg, idxs, lc.Routes...)
		}
	}
	return true
}

// gatewayPolicyKeys are the schema's LocalGatewayPolicy keys: the policies a gateway, a gateway
// listener or a bind listener (`policies`) may carry.
var gatewayPolicyKeys = []string{"oidc", "jwtAuth", "authorization", "extAuthz", "extProc", "cors", "transformations", "basicAuth", "apiKey", "ipAccessControl"}

// gatewaySpec is one entry of `gateways` (the schema's LocalGateway), with its inline policies kept
// undecoded until Build.
type gatewaySpec struct {
	Name      string
	Port      *int
	Protocol  string
	TLS       *TLSSpec
	Listeners []gatewayListenerSpec
	Policies  Node
	path      string
}

// gatewayListenerSpec is the schema's LocalGatewayListener.
type gatewayListenerSpec struct {
	Name     string
	Hostname string
	Protocol string
	TLS      *TLSSpec
	Policies Node
	path     string
}

// attached is one entry of top-level `routes` or `tcpRoutes`: a route and the gateways (or
// "gateway/listener"s) it attaches to.
type attached[R any] struct {
	Gateways []string
	Route    R
	path     string
}

// attachedRouteSpec is one entry of top-level `routes` (the schema's LocalAttachedRoute).
type attachedRouteSpec = attached[RouteSpec]

// gatewayRefs decodes the schema's LocalGatewayRefs: a string or a list of strings.
func gatewayRefs(n *yaml.Node, path string) ([]string, error) {
	if n == nil || n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind == yaml.ScalarNode {
		if n.Value == "" {
			return nil, errAt(path, n, "empty gateway reference")
		}
		return []string{n.Value}, nil
	}
	refs, err := Decode[[]string](Node{n: n, path: path})
	if err != nil {
		return nil, err
	}
	for i, r := range refs {
		if r == "" {
			return nil, errAt(fmt.Sprintf("%s[%d]", path, i), n, "empty gateway reference")
		}
	}
	return refs, nil
}

// splitPolicies moves the mapping entries of n whose keys are gateway policies into a new mapping
// node (the inline policies), and returns the rest.
func splitPolicies(n *yaml.Node, path string) (rest []*yaml.Node, pols Node) {
	pm := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if slices.Contains(gatewayPolicyKeys, k.Value) {
			pm.Content = append(pm.Content, k, v)
			continue
		}
		rest = append(rest, k, v)
	}
	if len(pm.Content) > 0 {
		pols = Node{n: pm, path: path}
	}
	return rest, pols
}

// decodeGateways reads `gateways`: an object of named gateways.
func decodeGateways(n *yaml.Node) ([]gatewaySpec, []error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, []error{errAt("gateways", n, "want an object of named gateways, got %s", kindName(n))}
	}
	var out []gatewaySpec
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, val := n.Content[i].Value, n.Content[i+1]
		gp := joinPath("gateways", name)
		if strings.Contains(name, "/") || name == "" {
			errs = append(errs, errAt(gp, n.Content[i], "a gateway name is not empty and has no '/'"))
			continue
		}
		g, err := decodeGateway(name, val, gp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, g)
	}
	return out, errs
}

func decodeGateway(name string, n *yaml.Node, path string) (gatewaySpec, error) {
	g := gatewaySpec{Name: name, path: path}
	if n.Kind != yaml.MappingNode {
		return g, errAt(path, n, "want an object, got %s", kindName(n))
	}
	rest, pols := splitPolicies(n, path)
	g.Policies = pols
	var errs []error
	for i := 0; i+1 < len(rest); i += 2 {
		key, val := rest[i].Value, rest[i+1]
		fp := joinPath(path, key)
		var err error
		switch key {
		case "port":
			var p *int
			p, err = Decode[*int](Node{n: val, path: fp})
			g.Port = p
		case "protocol":
			g.Protocol, err = Decode[string](Node{n: val, path: fp})
		case "tls":
			g.TLS, err = Decode[*TLSSpec](Node{n: val, path: fp})
		case "listeners":
			if val.Kind != yaml.SequenceNode {
				err = errAt(fp, val, "want a list, got %s", kindName(val))
				break
			}
			for j, ln := range val.Content {
				lp := fmt.Sprintf("%s[%d]", fp, j)
				l, lerr := decodeGatewayListener(ln, lp)
				if lerr != nil {
					errs = append(errs, lerr)
					continue
				}
				g.Listeners = append(g.Listeners, l)
			}
		default:
			err = errAt(fp, rest[i], "unknown field %q", key)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if g.Port == nil {
		errs = append(errs, agentgateway.Errorf(path+".port", "port is required"))
	} else if *g.Port < 1 || *g.Port > 65535 {
		errs = append(errs, agentgateway.Errorf(path+".port", "port %d out of range", *g.Port))
	}
	if len(g.Listeners) > 0 && (g.TLS != nil || g.Protocol != "" || !g.Policies.IsZero()) {
		errs = append(errs, agentgateway.Errorf(path+".listeners", "with listeners, only port may be set on the gateway itself"))
	}
	if err := checkGatewayProtocol(g.Protocol, g.TLS, path); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for _, l := range g.Listeners {
		if seen[l.Name] {
			errs = append(errs, agentgateway.Errorf(l.path+".name", "listener name %q is used twice in gateway %q", l.Name, name))
		}
		seen[l.Name] = true
	}
	return g, joinErrs(errs)
}

func decodeGatewayListener(n *yaml.Node, path string) (gatewayListenerSpec, error) {
	l := gatewayListenerSpec{path: path}
	if n.Kind != yaml.MappingNode {
		return l, errAt(path, n, "want an object, got %s", kindName(n))
	}
	rest, pols := splitPolicies(n, path)
	l.Policies = pols
	var errs []error
	for i := 0; i+1 < len(rest); i += 2 {
		key, val := rest[i].Value, rest[i+1]
		fp := joinPath(path, key)
		var err error
		switch key {
		case "name":
			l.Name, err = Decode[string](Node{n: val, path: fp})
		case "hostname":
			l.Hostname, err = Decode[string](Node{n: val, path: fp})
		case "protocol":
			l.Protocol, err = Decode[string](Node{n: val, path: fp})
		case "tls":
			l.TLS, err = Decode[*TLSSpec](Node{n: val, path: fp})
		default:
			err = errAt(fp, rest[i], "unknown field %q", key)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := checkGatewayProtocol(l.Protocol, l.TLS, path); err != nil {
		errs = append(errs, err)
	}
	return l, joinErrs(errs)
}

// checkGatewayProtocol: HTTP, or HTTPS when tls is set (the default then); TCP and TLS gateways carry
// tcpRoutes.
func checkGatewayProtocol(proto string, tls *TLSSpec, path string) error {
	switch strings.ToUpper(proto) {
	case "":
	case "HTTP":
		if tls != nil {
			return agentgateway.Errorf(path+".tls", "tls needs protocol HTTPS")
		}
	case "HTTPS":
		if tls == nil {
			return agentgateway.Errorf(path+".tls", "HTTPS needs tls.cert and tls.key")
		}
	case "TCP":
		if tls != nil {
			return agentgateway.Errorf(path+".tls", "tls needs protocol TLS or HTTPS")
		}
		return nil
	case "TLS":
		return nil // passed through without tls, terminated with it (cert and key checked below)
	default:
		return agentgateway.Errorf(path+".protocol", "protocol %q is not one of HTTP, HTTPS, TCP, TLS", proto)
	}
	if tls != nil && (tls.Cert == "" || tls.Key == "") {
		return agentgateway.Errorf(path+".tls", "HTTPS needs tls.cert and tls.key")
	}
	return nil
}

// decodeAttachedRoutes reads top-level `routes`.
func decodeAttachedRoutes(n *yaml.Node) ([]attachedRouteSpec, []error) {
	return decodeAttached(n, "routes", func(rs RouteSpec, rp string) []error { return validateRoute(rs, rp) })
}

// decodeAttached decodes a top-level list of routes of type R (key "routes" or "tcpRoutes"), each with
// the gateways it attaches to.
func decodeAttached[R any](n *yaml.Node, key string, validate func(R, string) []error) ([]attached[R], []error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, []error{errAt(key, n, "want a list, got %s", kindName(n))}
	}
	var out []attached[R]
	var errs []error
	for i, rn := range n.Content {
		rp := fmt.Sprintf("%s[%d]", key, i)
		if rn.Kind != yaml.MappingNode {
			errs = append(errs, errAt(rp, rn, "want an object, got %s", kindName(rn)))
			continue
		}
		ar := attached[R]{path: rp}
		rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: rn.Line}
		for j := 0; j+1 < len(rn.Content); j += 2 {
			if rn.Content[j].Value == "gateways" {
				refs, err := gatewayRefs(rn.Content[j+1], rp+".gateways")
				if err != nil {
					errs = append(errs, err)
				}
				ar.Gateways = refs
				continue
			}
			rest.Content = append(rest.Content, rn.Content[j], rn.Content[j+1])
		}
		rs, err := Decode[R](Node{n: rest, path: rp})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ar.Route = rs
		if validate != nil {
			errs = append(errs, validate(rs, rp)...)
		}
		out = append(out, ar)
	}
	return out, errs
}

// shortFormRefs reads the `gateways` and `port` of a short form (`mcp`, `llm`) and removes
// `gateways` from its node, so that the section's own decoder sees its remaining fields only.
func shortFormRefs(n *yaml.Node, path string) (refs []string, hasPort bool, err error) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, false, nil
	}
	var kept []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "gateways":
			refs, err = gatewayRefs(n.Content[i+1], path+".gateways")
			continue
		case "port":
			hasPort = n.Content[i+1].Tag != "!!null"
		}
		kept = append(kept, n.Content[i], n.Content[i+1])
	}
	n.Content = kept
	return refs, hasPort, err
}

// gatewayIndex maps "gw" and "gw/listener" to the listeners (indexes into Config.Listeners) a
// reference attaches to.
type gatewayIndex map[string][]int

// resolve returns the listeners refs attach to ("default" when refs is empty), or an error at path.
func (gi gatewayIndex) resolve(refs []string, path string) ([]int, error) {
	if len(refs) == 0 {
		if ls, ok := gi["default"]; ok {
			return ls, nil
		}
		return nil, agentgateway.Errorf(path, "no gateways given and there is no gateway named \"default\"")
	}
	var out []int
	for i, r := range refs {
		ls, ok := gi[r]
		if !ok {
			at := path
			if len(refs) > 1 {
				at = fmt.Sprintf("%s[%d]", path, i)
			}
			return nil, agentgateway.Errorf(at, "no gateway or gateway listener %q (want \"gateway\" or \"gateway/listener\"; known: %s)", r, strings.Join(gi.names(), ", "))
		}
		for _, l := range ls {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out, nil
}

func (gi gatewayIndex) names() []string {
	var out []string
	for k := range gi {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// gateways builds the listeners of `gateways` into rt, registering their ports.
func (l *loader) gateways(f *File, cfg *agentgateway.Config, ports map[int]bool, paths *[]string) gatewayIndex {
	gi := gatewayIndex{}
	for _, g := range f.gateways {
		port := *g.Port
		if ports[port] {
			l.errs = append(l.errs, agentgateway.Errorf(g.path+".port", "port %d is bound twice", port))
		}
		ports[port] = true
		add := func(name, hostname, proto string, tls *TLSSpec, pols Node, path, rows string) int {
			lc := agentgateway.ListenerConfig{Name: name, Port: port}
			if hostname != "" {
				lc.Hostnames = []string{hostname}
			}
			switch strings.ToUpper(proto) {
			case "TCP":
				lc.Protocol = agentgateway.ProtocolTCP
			case "TLS":
				lc.Protocol = agentgateway.ProtocolTLS
			}
			if tls != nil {
				lc.TLS = l.serverTLS(*tls, path+".tls")
			}
			cfg.Listeners = append(cfg.Listeners, lc)
			*paths = append(*paths, path)
			idx := len(cfg.Listeners) - 1
			l.listenerPolicies(idx, pols, rows)
			return idx
		}
		if len(g.Listeners) == 0 {
			gi[g.Name] = []int{add(g.Name, "", g.Protocol, g.TLS, g.Policies, g.path, "gateways")}
			continue
		}
		for _, ls := range g.Listeners {
			idx := add(g.Name+"/"+ls.Name, ls.Hostname, ls.Protocol, ls.TLS, ls.Policies, ls.path, "gatewayListener")
			gi[g.Name] = append(gi[g.Name], idx)
			if ls.Name != "" {
				gi[g.Name+"/"+ls.Name] = []int{idx}
			}
		}
	}
	return gi
}

// listenerPolicies builds the policies of the listener at index idx (a gateway's inline ones or a
// bind listener's `policies`) for applyListenerPolicies.
func (l *loader) listenerPolicies(idx int, n Node, rows string) {
	if n.IsZero() {
		return
	}
	if n.n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.n.Content); i += 2 {
			if k := n.n.Content[i].Value; !slices.Contains(gatewayPolicyKeys, k) {
				l.errs = append(l.errs, errAt(joinPath(n.path, k), n.n.Content[i],
					"%q is not a gateway policy (a listener takes %s); put it on the routes", k, strings.Join(gatewayPolicyKeys, ", ")))
				return
			}
		}
	}
	pbc := l.bc.At(n.path)
	pbc.policyRows = rows
	pols, err := buildPolicies(pbc, n)
	if err != nil {
		l.errs = append(l.errs, err)
		return
	}
	if l.listenerPols == nil {
		l.listenerPols = map[int][]agentgateway.Policy{}
	}
	l.listenerPols[idx] = append(l.listenerPols[idx], pols...)
}

// gatewayPhaseOffset places a listener's policies before every route policy while keeping their own
// order by phase: agentgateway runs gateway policies before route selection, and so before any
// route's.
const gatewayPhaseOffset = 1000

// applyListenerPolicies adds each listener's policies to every route attached to it, so they run
// first, whatever attached the route (a bind listener's routes, top-level routes, mcp, llm).
func (l *loader) applyListenerPolicies(cfg *agentgateway.Config) {
	for idx, pols := range l.listenerPols {
		lc := &cfg.Listeners[idx]
		for i := range lc.Routes {
			lpols, rpols := mergeIPAccess(pols, lc.Routes[i].Policies) // sections_ipaccess.go
			var pre []agentgateway.Policy
			for _, p := range lpols {
				pre = append(pre, agentgateway.At(agentgateway.PhaseOf(p)-gatewayPhaseOffset, p))
			}
			lc.Routes[i].Policies = append(pre, rpols...)
		}
	}
}

// attach appends routes to the listeners at idxs.
func attach(cfg *agentgateway.Config, idxs []int, routes ...agentgateway.RouteConfig) {
	for _, i := range idxs {
		cfg.Listeners[i].Routes = append(cfg.Listeners[i].Routes, routes...)
	}
}

// attachedRoutes builds top-level `routes` onto the gateways they name.
func (l *loader) attachedRoutes(f *File, cfg *agentgateway.Config, gi gatewayIndex) {
	for i, ar := range f.routes {
		idxs, err := gi.resolve(ar.Gateways, ar.path+".gateways")
		if err != nil {
			l.errs = append(l.errs, err)
			continue
		}
		if ar.Route.Name == "" {
			ar.Route.Name = fmt.Sprintf("routes%d", i)
		}
		for _, idx := range idxs {
			if cfg.Listeners[idx].Protocol != agentgateway.ProtocolHTTP {
				l.errs = append(l.errs, agentgateway.Errorf(ar.path+".gateways", "listener %q is TCP or TLS: attach tcpRoutes to it, routes to HTTP and HTTPS gateways", cfg.Listeners[idx].Name))
			}
		}
		attach(cfg, idxs, l.routesOf(f, ar.Route, ar.path, i)...)
	}
	for i, tr := range f.tcpRoutes {
		idxs, err := gi.resolve(tr.Gateways, tr.path+".gateways")
		if err != nil {
			l.errs = append(l.errs, err)
			continue
		}
		rc := l.tcpRoute(tr.Route, tr.path, i)
		for _, idx := range idxs {
			lc := &cfg.Listeners[idx]
			if lc.Protocol == agentgateway.ProtocolHTTP {
				l.errs = append(l.errs, agentgateway.Errorf(tr.path+".gateways", "listener %q is HTTP or HTTPS: tcpRoutes attach to TCP and TLS gateways", lc.Name))
				continue
			}
			lc.TCPRoutes = append(lc.TCPRoutes, rc)
		}
	}
}

// attachedTCPRouteSpec is one entry of top-level `tcpRoutes` (the schema's LocalAttachedTCPRoute).
type attachedTCPRouteSpec = attached[TCPRouteSpec]

func joinErrs(errs []error) error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return errors.Join(out...)
}
