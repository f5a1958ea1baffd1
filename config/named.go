package config

import (
	"fmt"
	"net/http"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// namedBackend is one entry of the top-level `backends` (the schema's FullLocalBackend): a backend
// that routes reference with `backend: <name>` and MCP targets with `mcp: {backend: <name>}`.
type namedBackend struct {
	spec BackendSpecs
	path string // "backends[i]"

	// Built once, on first reference, and shared by every route that references it: one MCP
	// federation (its sessions and upstream connections) serves several routes, each with its own
	// policies.
	built   bool
	handler http.Handler
	err     error
}

// decodeNamedBackends reads the top-level `backends` list.
func decodeNamedBackends(n *yaml.Node) (map[string]*namedBackend, []error) {
	if n.Kind != yaml.SequenceNode {
		return nil, []error{errAt("backends", n, "want a list, got %s", kindName(n))}
	}
	out := map[string]*namedBackend{}
	var errs []error
	for i, item := range n.Content {
		path := fmt.Sprintf("backends[%d]", i)
		if item.Kind != yaml.MappingNode {
			errs = append(errs, errAt(path, item, "want an object, got %s", kindName(item)))
			continue
		}
		// The name is the entry's own; the rest is a route backend's shape.
		rest := &yaml.Node{Kind: yaml.MappingNode, Line: item.Line, Column: item.Column}
		name := ""
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == "name" {
				if err := decodeValue(item.Content[j+1], reflectValue(&name), path+".name"); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			rest.Content = append(rest.Content, item.Content[j], item.Content[j+1])
		}
		if name == "" {
			errs = append(errs, errAt(path+".name", item, "a named backend needs a name"))
			continue
		}
		if _, dup := out[name]; dup {
			errs = append(errs, errAt(path+".name", item, "backend %q is defined twice", name))
			continue
		}
		nb := &namedBackend{path: path}
		if err := nb.spec.decodeNode(rest, path); err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case nb.spec.Kind == "backend":
			errs = append(errs, errAt(path+".backend", item, "a named backend cannot reference another"))
			continue
		case nb.spec.Weight != nil:
			errs = append(errs, errAt(path+".weight", item, "weight belongs on the route's reference"))
			continue
		}
		out[name] = nb
	}
	return out, errs
}

// buildNamedSpec is buildBackend, set in init: a requestMirror may reference a named backend, so a
// direct reference would make the policy table's initialization depend on itself.
var buildNamedSpec func(*BuildContext, BackendSpecs) (http.Handler, error)

func init() { buildNamedSpec = buildBackend }

// namedBackend returns the top-level backend called name, or an error at bc's field.
func (bc *BuildContext) namedBackend(field, name string) (*namedBackend, error) {
	nb := bc.res.named[name]
	if nb == nil {
		return nil, bc.Errorf(field, "no backend named %q in the top-level backends", name)
	}
	return nb, nil
}

// buildNamed builds a named backend the first time it is referenced; later references share it.
// Errors are at the definition's path, so a bad definition referenced twice is reported once.
func (bc *BuildContext) buildNamed(field, name string) (http.Handler, error) {
	nb, err := bc.namedBackend(field, name)
	if err != nil {
		return nil, err
	}
	if !nb.built {
		nb.built = true
		root := *bc
		root.Path, root.Route = "", ""
		nb.handler, nb.err = buildNamedSpec(&root, nb.spec)
		if nb.err != nil {
			return nil, nb.err
		}
	}
	if nb.err != nil {
		return nil, bc.Errorf(field, "backend %q is invalid (see %s)", name, nb.path)
	}
	return nb.handler, nil
}

// namedHost returns the host of a named `host` backend, for an MCP target that references it, and
// the backendAuth among its policies (the only policy an MCP target takes from it) with the context
// to build it in (errors at the definition's path).
func (bc *BuildContext) namedHost(field, name string) (string, *backendAuthSpec, *BuildContext, error) {
	nb, err := bc.namedBackend(field, name)
	if err != nil {
		return "", nil, nil, err
	}
	abc := *bc
	abc.Path, abc.Route = nb.spec.Policies.path+".backendAuth", ""
	if nb.spec.Kind != "host" {
		return "", nil, nil, bc.Errorf(field, "backend %q is a %s backend; an MCP target needs a host backend", name, nb.spec.Kind)
	}
	host, err := Decode[string](nb.spec.Spec)
	if err != nil {
		return "", nil, nil, err
	}
	if nb.spec.Policies.IsZero() {
		return host, nil, nil, nil
	}
	pols, err := Decode[struct {
		BackendAuth *backendAuthSpec `json:"backendAuth"`
	}](nb.spec.Policies)
	if err != nil {
		return "", nil, nil, agentgateway.Errorf(nb.spec.Policies.path, "an MCP target takes only backendAuth from a named backend: %w", err)
	}
	return host, pols.BackendAuth, &abc, nil
}

// freshNamed returns the file's named backends with nothing built, for one Build.
func (f *File) freshNamed() map[string]*namedBackend {
	out := make(map[string]*namedBackend, len(f.named))
	for name, nb := range f.named {
		out[name] = &namedBackend{spec: nb.spec, path: nb.path}
	}
	return out
}
