package config

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// Route delegation: a route whose backend is `routeGroup: <name>` hands the requests it matches to
// the routes of that top-level route group. It is expanded when the file is built: each child route
// becomes a route of the listener whose matches are the intersection of the parent's and the child's
// (a child match outside the parent's path never matches, as a delegated route that cannot be
// reached), whose hostnames are the parent's narrowed by the child's, and whose policies are the
// parent's with the child's overriding them key by key.

// routeGroupSpec is one entry of `routeGroups` (the schema's LocalRouteGroup).
type routeGroupSpec struct {
	Name   string      `json:"name"`
	Routes []RouteSpec `json:"routes"`
}

// maxDelegation bounds nested route groups (and so a group that delegates to itself).
const maxDelegation = 8

// routesOf builds a route, expanding a routeGroup backend into the group's routes.
func (l *loader) routesOf(f *File, rs RouteSpec, path string, idx int) []agentgateway.RouteConfig {
	specs, paths, err := f.expandRoute(rs, path, 0)
	if err != nil {
		l.errs = append(l.errs, err)
		return nil
	}
	var out []agentgateway.RouteConfig
	for i, s := range specs {
		rc := l.route(s, paths[i], idx)
		out = append(out, rc)
	}
	return out
}

// expandRoute returns rs itself, or the routes it delegates to with their field paths.
func (f *File) expandRoute(rs RouteSpec, path string, depth int) ([]RouteSpec, []string, error) {
	gi := slices.IndexFunc(rs.Backends, func(b BackendSpecs) bool { return b.Kind == "routeGroup" })
	if gi < 0 {
		return []RouteSpec{rs}, []string{path}, nil
	}
	bp := fmt.Sprintf("%s.backends[%d].routeGroup", path, gi)
	if len(rs.Backends) != 1 {
		return nil, nil, agentgateway.Errorf(bp, "a routeGroup backend is the route's only backend")
	}
	if !rs.Backends[0].Policies.IsZero() {
		return nil, nil, agentgateway.Errorf(bp, "a routeGroup backend takes no policies; put them on the route")
	}
	if depth >= maxDelegation {
		return nil, nil, agentgateway.Errorf(bp, "route groups nest deeper than %d (a cycle?)", maxDelegation)
	}
	name, err := Decode[string](rs.Backends[0].Spec)
	if err != nil {
		return nil, nil, err
	}
	g := slices.IndexFunc(f.routeGroups, func(g routeGroupSpec) bool { return g.Name == name })
	if g < 0 {
		return nil, nil, agentgateway.Errorf(bp, "no route group %q in routeGroups", name)
	}
	var out []RouteSpec
	var paths []string
	for i, child := range f.routeGroups[g].Routes {
		cp := fmt.Sprintf("routeGroups[%d].routes[%d]", g, i)
		merged, ok, err := delegate(rs, child, cp)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue // the child cannot be reached through this parent
		}
		sub, subPaths, err := f.expandRoute(merged, cp, depth+1)
		if err != nil {
			return nil, nil, err
		}
		out, paths = append(out, sub...), append(paths, subPaths...)
	}
	return out, paths, nil
}

// delegate merges a parent route and one child of its route group; ok is false when no request can
// match both.
func delegate(parent, child RouteSpec, path string) (RouteSpec, bool, error) {
	out := child
	out.Name = strings.Trim(parent.Name+"/"+child.Name, "/")
	hosts, ok := intersectHosts(parent.Hostnames, child.Hostnames)
	if !ok {
		return out, false, nil
	}
	out.Hostnames = hosts
	pm, cm := parent.Matches, child.Matches
	if len(pm) == 0 {
		pm = []MatchSpec{{}}
	}
	if len(cm) == 0 {
		cm = []MatchSpec{{}}
	}
	out.Matches = nil
	for _, p := range pm {
		for j, c := range cm {
			m, ok, err := intersectMatch(p, c)
			if err != nil {
				return out, false, agentgateway.Errorf(fmt.Sprintf("%s.matches[%d].path", path, j), "%w", err)
			}
			if ok {
				out.Matches = append(out.Matches, m)
			}
		}
	}
	if len(out.Matches) == 0 {
		return out, false, nil
	}
	out.Policies = mergePolicies(parent.Policies, child.Policies)
	return out, true, nil
}

// intersectHosts narrows the parent's hostnames by the child's (exact names, or a parent wildcard
// covering a child name).
func intersectHosts(parent, child []string) ([]string, bool) {
	switch {
	case len(parent) == 0:
		return child, true
	case len(child) == 0:
		return parent, true
	}
	var out []string
	for _, c := range child {
		for _, p := range parent {
			if c == p || strings.HasPrefix(p, "*.") && strings.HasSuffix(c, p[1:]) {
				out = append(out, c)
				break
			}
		}
	}
	return out, len(out) > 0
}

// under reports whether path p lies under prefix (segment-wise, as prefix matches are).
func under(p, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return prefix == "" || p == prefix || strings.HasPrefix(p, prefix+"/")
}

// intersectMatch is the match of requests that satisfy both p and c.
func intersectMatch(p, c MatchSpec) (MatchSpec, bool, error) {
	out := MatchSpec{Method: c.Method, Headers: slices.Concat(p.Headers, c.Headers), Query: slices.Concat(p.Query, c.Query)}
	if p.Method != "" && c.Method != "" && !strings.EqualFold(p.Method, c.Method) {
		return out, false, nil
	}
	if out.Method == "" {
		out.Method = p.Method
	}
	pp, cp := p.Path, c.Path
	if (pp != nil && pp.Regex != nil) || (cp != nil && cp.Regex != nil) {
		return out, false, fmt.Errorf("regex path matches cannot be combined through a routeGroup")
	}
	prefix := func(ps *PathSpec) (string, bool) { // (value, isPrefix)
		if ps == nil {
			return "/", true
		}
		if ps.Exact != nil {
			return *ps.Exact, false
		}
		return *ps.PathPrefix, true
	}
	pv, pPre := prefix(pp)
	cv, cPre := prefix(cp)
	var v string
	var isPrefix bool
	switch {
	case pPre && cPre && under(cv, pv):
		v, isPrefix = cv, true
	case pPre && cPre && under(pv, cv):
		v, isPrefix = pv, true
	case pPre && !cPre && under(cv, pv):
		v = cv
	case !pPre && cPre && under(pv, cv):
		v = pv
	case !pPre && !cPre && pv == cv:
		v = pv
	default:
		return out, false, nil
	}
	if isPrefix {
		out.Path = &PathSpec{PathPrefix: &v}
	} else {
		out.Path = &PathSpec{Exact: &v}
	}
	return out, true, nil
}

// mergePolicies is the parent's policies with the child's replacing them key by key.
func mergePolicies(parent, child Node) Node {
	if parent.IsZero() || parent.n.Kind != yaml.MappingNode {
		return child
	}
	if child.IsZero() || child.n.Kind != yaml.MappingNode {
		return parent
	}
	merged := *child.n
	merged.Content = slices.Clone(child.n.Content)
	for i := 0; i+1 < len(parent.n.Content); i += 2 {
		k := parent.n.Content[i].Value
		overridden := false
		for j := 0; j+1 < len(child.n.Content); j += 2 {
			if child.n.Content[j].Value == k {
				overridden = true
				break
			}
		}
		if !overridden {
			merged.Content = append(merged.Content, parent.n.Content[i], parent.n.Content[i+1])
		}
	}
	return Node{n: &merged, path: child.path}
}
