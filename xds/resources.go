package xds

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"sigs.k8s.io/yaml"

	"github.com/agentgw/agentgateway/xds/xdspb"
)

// The type URLs of the resources, one per message of package xdspb.
const (
	TypeListener = "type.googleapis.com/agentgateway.go.xds.v1.Listener"
	TypeRoute    = "type.googleapis.com/agentgateway.go.xds.v1.Route"
	TypeBackend  = "type.googleapis.com/agentgateway.go.xds.v1.Backend"
	TypePolicy   = "type.googleapis.com/agentgateway.go.xds.v1.Policy"
	TypeSection  = "type.googleapis.com/agentgateway.go.xds.v1.Section"
)

// TypeURLs lists the resource types in dependency order: a resource only refers to resources of
// types before its own (a route to its listener and to named backends, a policy to its target). The
// server adds and changes resources in this order and removes them in the reverse order, so a data
// plane never sees a reference to something not sent yet.
var TypeURLs = []string{TypeBackend, TypeSection, TypeListener, TypeRoute, TypePolicy}

// ErrInvalidResource is wrapped by the errors of resources that cannot be decoded or assembled into
// a configuration (an unknown type, a duplicate name, a route on a listener that does not exist).
var ErrInvalidResource = errors.New("invalid xDS resource")

// Resources is a whole gateway configuration as xDS resources. Build one in Go, or split a config
// file with [FromYAML]; [Resources.Document] assembles it back into a config document.
type Resources struct {
	Listeners []*xdspb.Listener
	Routes    []*xdspb.Route
	Backends  []*xdspb.Backend
	Policies  []*xdspb.Policy
	Sections  []*xdspb.Section
}

// reserved are the top-level keys a Section cannot carry: binds and backends are resources of their
// own, and config and frontendPolicies set up each data plane's process (listeners, telemetry, the
// session key), which stays in its local file.
var reserved = []string{"binds", "backends", "config", "frontendPolicies"}

// FromYAML splits an agentgateway config document (YAML or JSON) into resources: one Listener per
// listener of binds, one Route per route, one Backend per named backend, one Section per other
// top-level key. The `config` and `frontendPolicies` sections (process settings) are left out: each
// data plane keeps its own.
// Unnamed listeners and routes are named after their position ("8080/0", "<listener>/1"), and a route
// name used by two listeners is prefixed with its listener's name, because resource names are
// unique. Only the structure is checked here; the data plane validates the rest and NACKs what it
// cannot build.
func FromYAML(data []byte) (*Resources, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing YAML: %w", ErrInvalidResource, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("%w: the config must be an object: %w", ErrInvalidResource, err)
	}
	r := &Resources{}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidResource}, args...)...))
	}
	keys := sortedKeys(doc)
	for _, key := range keys {
		if slices.Contains(reserved, key) {
			continue
		}
		v, err := structpb.NewValue(doc[key])
		if err != nil {
			fail("%s: %v", key, err)
			continue
		}
		r.Sections = append(r.Sections, &xdspb.Section{Name: key, Value: v})
	}
	if bs, ok := doc["backends"]; ok {
		list, ok := bs.([]any)
		if !ok {
			fail("backends: want a list")
		}
		for i, b := range list {
			m, ok := b.(map[string]any)
			name, _ := m["name"].(string)
			if !ok || name == "" {
				fail("backends[%d]: want an object with a name", i)
				continue
			}
			delete(m, "name")
			s, err := structpb.NewStruct(m)
			if err != nil {
				fail("backends[%d]: %v", i, err)
				continue
			}
			r.Backends = append(r.Backends, &xdspb.Backend{Name: name, Spec: s})
		}
	}
	binds, _ := doc["binds"].([]any)
	if _, ok := doc["binds"]; ok && binds == nil && doc["binds"] != nil {
		fail("binds: want a list")
	}
	routeNames := map[string]int{} // how many listeners use each route name
	type rawRoute struct {
		listener string
		idx      int
		m        map[string]any
	}
	var routes []rawRoute
	for i, b := range binds {
		bm, _ := b.(map[string]any)
		port, ok := bm["port"].(float64)
		if !ok || port != float64(int(port)) || port < 1 || port > 65535 {
			fail("binds[%d].port: want a port number (1-65535)", i)
			continue
		}
		for _, key := range sortedKeys(bm) {
			if key != "port" && key != "listeners" {
				fail("binds[%d].%s: not supported over xDS", i, key)
			}
		}
		lss, _ := bm["listeners"].([]any)
		for j, l := range lss {
			lm, ok := l.(map[string]any)
			if !ok {
				fail("binds[%d].listeners[%d]: want an object", i, j)
				continue
			}
			name, _ := lm["name"].(string)
			if name == "" {
				name = fmt.Sprintf("%d/%d", int(port), j)
			}
			ls := &xdspb.Listener{Name: name, Port: uint32(port)}
			for _, key := range sortedKeys(lm) {
				var err error
				switch v := lm[key]; key {
				case "name":
				case "hostname":
					ls.Hostname, ok = v.(string)
				case "protocol":
					ls.Protocol, ok = v.(string)
				case "tls":
					ls.Tls, err = asStruct(v)
				case "policies":
					ls.Policies, err = asStruct(v)
				case "tcpRoutes":
					var l []any
					if l, ok = v.([]any); ok || v == nil {
						ok = true
						ls.TcpRoutes, err = structpb.NewList(l)
					}
				case "routes":
					rs, isList := v.([]any)
					ok = isList || v == nil
					for k, rt := range rs {
						rm, isObj := rt.(map[string]any)
						if !isObj {
							fail("binds[%d].listeners[%d].routes[%d]: want an object", i, j, k)
							continue
						}
						if n, _ := rm["name"].(string); n != "" {
							routeNames[n]++
						}
						routes = append(routes, rawRoute{listener: name, idx: k, m: rm})
					}
				default:
					fail("binds[%d].listeners[%d].%s: not supported over xDS", i, j, key)
				}
				if !ok || err != nil {
					fail("binds[%d].listeners[%d].%s: want %s", i, j, key, listenerFieldWant(key))
					ok = true
				}
			}
			r.Listeners = append(r.Listeners, ls)
		}
	}
	for _, rr := range routes {
		name, _ := rr.m["name"].(string)
		switch {
		case name == "":
			name = fmt.Sprintf("%s/%d", rr.listener, rr.idx)
		case routeNames[name] > 1:
			name = rr.listener + "/" + name
		}
		delete(rr.m, "name")
		s, err := structpb.NewStruct(rr.m)
		if err != nil {
			fail("route %q: %v", name, err)
			continue
		}
		r.Routes = append(r.Routes, &xdspb.Route{Name: name, Listener: rr.listener, Order: int32(rr.idx), Spec: s})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if _, err := r.byType(); err != nil {
		return nil, err
	}
	return r, nil
}

// listenerFieldWant is what a listener field must be, for errors.
func listenerFieldWant(key string) string {
	switch key {
	case "tls", "policies":
		return "an object"
	case "routes", "tcpRoutes":
		return "a list"
	}
	return "a string"
}

func asStruct(v any) (*structpb.Struct, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("want an object")
	}
	return structpb.NewStruct(m)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// named is what every resource message has.
type named interface {
	proto.Message
	GetName() string
}

// byType indexes the resources by type URL and name, rejecting empty and duplicate names.
func (r *Resources) byType() (map[string]map[string]named, error) {
	out := map[string]map[string]named{}
	for _, t := range TypeURLs {
		out[t] = map[string]named{}
	}
	var errs []error
	add := func(t string, m named) {
		switch {
		case m.GetName() == "":
			errs = append(errs, fmt.Errorf("%w: a %s without a name", ErrInvalidResource, shortType(t)))
		case out[t][m.GetName()] != nil:
			errs = append(errs, fmt.Errorf("%w: %s %q is defined twice", ErrInvalidResource, shortType(t), m.GetName()))
		default:
			out[t][m.GetName()] = m
		}
	}
	for _, m := range r.Listeners {
		add(TypeListener, m)
	}
	for _, m := range r.Routes {
		add(TypeRoute, m)
	}
	for _, m := range r.Backends {
		add(TypeBackend, m)
	}
	for _, m := range r.Policies {
		add(TypePolicy, m)
	}
	for _, m := range r.Sections {
		add(TypeSection, m)
	}
	return out, errors.Join(errs...)
}

// shortType is the message name of a type URL ("Route").
func shortType(t string) string { return t[strings.LastIndexByte(t, '.')+1:] }

// decodeResource unpacks one resource of a response. The Any's type must be the response's type, and
// a message that names itself must carry the resource's name.
func decodeResource(typeURL, name string, a *anypb.Any) (named, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: %s %q has no body", ErrInvalidResource, shortType(typeURL), name)
	}
	if a.GetTypeUrl() != typeURL {
		return nil, fmt.Errorf("%w: resource %q is a %s in a %s response", ErrInvalidResource, name, a.GetTypeUrl(), typeURL)
	}
	var m named
	switch typeURL {
	case TypeListener:
		m = &xdspb.Listener{}
	case TypeRoute:
		m = &xdspb.Route{}
	case TypeBackend:
		m = &xdspb.Backend{}
	case TypePolicy:
		m = &xdspb.Policy{}
	case TypeSection:
		m = &xdspb.Section{}
	default:
		return nil, fmt.Errorf("%w: unknown type %s", ErrInvalidResource, typeURL)
	}
	if err := proto.Unmarshal(a.GetValue(), m); err != nil {
		return nil, fmt.Errorf("%w: %s %q: %w", ErrInvalidResource, shortType(typeURL), name, err)
	}
	if m.GetName() != name {
		return nil, fmt.Errorf("%w: %s %q carries the name %q", ErrInvalidResource, shortType(typeURL), name, m.GetName())
	}
	return m, nil
}

// fromIndex rebuilds Resources from resources indexed by type and name (names sorted, so that the
// same resources always make the same document).
func fromIndex(idx map[string]map[string]named) *Resources {
	r := &Resources{}
	for _, t := range TypeURLs {
		for _, name := range sortedKeys(idx[t]) {
			switch m := idx[t][name].(type) {
			case *xdspb.Listener:
				r.Listeners = append(r.Listeners, m)
			case *xdspb.Route:
				r.Routes = append(r.Routes, m)
			case *xdspb.Backend:
				r.Backends = append(r.Backends, m)
			case *xdspb.Policy:
				r.Policies = append(r.Policies, m)
			case *xdspb.Section:
				r.Sections = append(r.Sections, m)
			}
		}
	}
	return r
}

// Document assembles the resources into an agentgateway config document (JSON, which config.Load
// reads): listeners grouped by port into binds, routes under their listener in (order, name) order,
// policies merged into their target's `policies`. The second result maps the document's paths of
// listeners and routes to resource names, for error messages ([Locate]).
func (r *Resources) Document() ([]byte, *Locator, error) {
	if _, err := r.byType(); err != nil {
		return nil, nil, err
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidResource}, args...)...))
	}
	doc := map[string]any{}
	for _, s := range r.Sections {
		if slices.Contains(reserved, s.GetName()) {
			fail("section %q: %s cannot be a section", s.GetName(), s.GetName())
			continue
		}
		doc[s.GetName()] = s.GetValue().AsInterface()
	}
	if len(r.Backends) > 0 {
		bs := make([]any, 0, len(r.Backends))
		for _, b := range sortedBy(r.Backends) {
			m := b.GetSpec().AsMap()
			m["name"] = b.GetName()
			bs = append(bs, m)
		}
		doc["backends"] = bs
	}
	listeners := map[string]map[string]any{}
	routes := map[string]map[string]any{}
	policiesOf := func(owner map[string]any) map[string]any {
		p, _ := owner["policies"].(map[string]any)
		if p == nil {
			p = map[string]any{}
			owner["policies"] = p
		}
		return p
	}
	byPort := map[uint32][]*xdspb.Listener{}
	for _, l := range sortedBy(r.Listeners) {
		if l.GetPort() < 1 || l.GetPort() > 65535 {
			fail("listener %q: port %d out of range", l.GetName(), l.GetPort())
			continue
		}
		m := map[string]any{"name": l.GetName()}
		if l.GetHostname() != "" {
			m["hostname"] = l.GetHostname()
		}
		if l.GetProtocol() != "" {
			m["protocol"] = l.GetProtocol()
		}
		if l.GetTls() != nil {
			m["tls"] = l.GetTls().AsMap()
		}
		if l.GetPolicies() != nil {
			m["policies"] = l.GetPolicies().AsMap()
		}
		if l.GetTcpRoutes() != nil {
			m["tcpRoutes"] = l.GetTcpRoutes().AsSlice()
		}
		listeners[l.GetName()] = m
		byPort[l.GetPort()] = append(byPort[l.GetPort()], l)
	}
	rs := slices.Clone(r.Routes)
	slices.SortStableFunc(rs, func(a, b *xdspb.Route) int {
		if a.GetOrder() != b.GetOrder() {
			return int(a.GetOrder()) - int(b.GetOrder())
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
	routesOf := map[string][]any{}
	for _, rt := range rs {
		if _, ok := listeners[rt.GetListener()]; !ok {
			fail("route %q: listener %q does not exist", rt.GetName(), rt.GetListener())
			continue
		}
		m := rt.GetSpec().AsMap()
		m["name"] = rt.GetName()
		routes[rt.GetName()] = m
		routesOf[rt.GetListener()] = append(routesOf[rt.GetListener()], m)
	}
	for _, p := range sortedBy(r.Policies) {
		var owner map[string]any
		switch t := p.GetTarget().(type) {
		case *xdspb.Policy_Listener:
			if owner = listeners[t.Listener]; owner == nil {
				fail("policy %q: listener %q does not exist", p.GetName(), t.Listener)
			}
		case *xdspb.Policy_Route:
			if owner = routes[t.Route]; owner == nil {
				fail("policy %q: route %q does not exist", p.GetName(), t.Route)
			}
		default:
			fail("policy %q: no target", p.GetName())
		}
		if owner == nil {
			continue
		}
		into := policiesOf(owner)
		for k, v := range p.GetSpec().AsMap() {
			if _, dup := into[k]; dup {
				fail("policy %q: %s is already set on its target", p.GetName(), k)
				continue
			}
			into[k] = v
		}
	}
	loc := &Locator{}
	var binds []any
	for i, port := range slices.Sorted(maps.Keys(byPort)) {
		ls := byPort[port]
		list := make([]any, 0, len(ls))
		for j, l := range ls {
			m := listeners[l.GetName()]
			lp := fmt.Sprintf("binds[%d].listeners[%d]", i, j)
			loc.add(lp, fmt.Sprintf("listener %q", l.GetName()))
			if rl := routesOf[l.GetName()]; len(rl) > 0 {
				m["routes"] = rl
				for k, rm := range rl {
					loc.add(fmt.Sprintf("%s.routes[%d]", lp, k), fmt.Sprintf("route %q", rm.(map[string]any)["name"]))
				}
			}
			list = append(list, m)
		}
		binds = append(binds, map[string]any{"port": port, "listeners": list})
	}
	if binds != nil {
		doc["binds"] = binds
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidResource, err)
	}
	return out, loc, nil
}

func sortedBy[M named](ms []M) []M {
	out := slices.Clone(ms)
	slices.SortStableFunc(out, func(a, b M) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// Locator maps the paths of an assembled document to the resources they came from.
type Locator struct{ paths [][2]string }

func (l *Locator) add(path, what string) { l.paths = append(l.paths, [2]string{path, what}) }

// Locate rewrites the document paths in an error's text ("binds[0].listeners[1].routes[2].policies")
// to name the resources (`route "api".policies`), for the NACK sent to the control plane.
func (l *Locator) Locate(msg string) string {
	if l == nil {
		return msg
	}
	ps := slices.Clone(l.paths)
	// Longest first: routes[12] before routes[1], a route before its listener.
	slices.SortFunc(ps, func(a, b [2]string) int { return len(b[0]) - len(a[0]) })
	for _, p := range ps {
		msg = strings.ReplaceAll(msg, p[0], p[1])
	}
	return msg
}
