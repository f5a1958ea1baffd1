package mcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Schema conversion: an OpenAPI schema (3.0 or 3.1, $refs already resolved by the loader) becomes a
// self-contained JSON Schema 2020-12 document, the dialect MCP tool input schemas use. $refs are
// inlined; a recursive schema, and any schema met again once the inline budget is spent, becomes an
// entry of the tool schema's own $defs, so the result never refers outside itself and its size stays
// linear in the spec's.

const (
	// inlineBudget is how many schema nodes a tool schema inlines before shared schemas go to $defs.
	inlineBudget = 2000
	// maxSchemaNodes bounds a single tool's schema; an operation above it is skipped.
	maxSchemaNodes = 50000
)

// errSchemaTooLarge is returned for an operation whose input schema exceeds maxSchemaNodes.
var errSchemaTooLarge = errors.New("input schema too large")

type schemaConv struct {
	is30  bool // OpenAPI 3.0: nullable, boolean exclusive bounds and example are rewritten
	stack map[*openapi3.Schema]bool
	seen  map[*openapi3.Schema]bool
	names map[*openapi3.Schema]string
	used  map[string]bool
	defs  map[string]any
	queue []*openapi3.Schema
	nodes int
}

func newSchemaConv(is30 bool) *schemaConv {
	return &schemaConv{
		is30: is30, stack: map[*openapi3.Schema]bool{}, seen: map[*openapi3.Schema]bool{},
		names: map[*openapi3.Schema]string{}, used: map[string]bool{},
	}
}

// finish converts the schemas that were referenced through $defs and returns them (nil when none).
func (c *schemaConv) finish() (map[string]any, error) {
	for len(c.queue) > 0 {
		s := c.queue[0]
		c.queue = c.queue[1:]
		name := c.names[s]
		if _, done := c.defs[name]; done {
			continue
		}
		c.defs[name] = nil // claimed before converting, so a self-reference does not queue it again
		c.stack[s] = true
		v, err := c.schema(s)
		delete(c.stack, s)
		if err != nil {
			return nil, err
		}
		c.defs[name] = v
	}
	return c.defs, nil
}

var defNameRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// defName names s in $defs: after its component ($ref "#/components/schemas/Pet" is "Pet"), made unique.
func (c *schemaConv) defName(s *openapi3.Schema, ref string) string {
	if n, ok := c.names[s]; ok {
		return n
	}
	base := ref
	if i := strings.LastIndexAny(base, "/#"); i >= 0 {
		base = base[i+1:]
	}
	base = defNameRE.ReplaceAllString(base, "_")
	if base == "" {
		base = "schema"
	}
	name := base
	for i := 2; c.used[name]; i++ {
		name = base + strconv.Itoa(i)
	}
	c.used[name] = true
	c.names[s] = name
	if c.defs == nil {
		c.defs = map[string]any{}
	}
	c.queue = append(c.queue, s)
	return name
}

// ref converts a schema reference. An unresolved or missing schema accepts anything.
func (c *schemaConv) ref(r *openapi3.SchemaRef) (any, error) {
	if r == nil || r.Value == nil {
		return map[string]any{}, nil
	}
	s := r.Value
	if c.stack[s] || (c.seen[s] && c.nodes > inlineBudget) {
		return map[string]any{"$ref": "#/$defs/" + c.defName(s, r.Ref)}, nil
	}
	c.seen[s] = true
	c.stack[s] = true
	defer delete(c.stack, s)
	return c.schema(s)
}

// schema converts one schema object: its own keywords through kin-openapi's marshalling, its
// subschemas recursively.
func (c *schemaConv) schema(s *openapi3.Schema) (map[string]any, error) {
	c.nodes++
	if c.nodes > maxSchemaNodes {
		return nil, errSchemaTooLarge
	}
	if s.Always != nil && !*s.Always {
		return map[string]any{"not": map[string]any{}}, nil // the boolean schema false
	}
	own := *s
	own.OneOf, own.AnyOf, own.AllOf, own.PrefixItems = nil, nil, nil, nil
	own.Not, own.Items, own.Contains, own.PropertyNames, own.If, own.Then, own.Else, own.ContentSchema = nil, nil, nil, nil, nil, nil, nil, nil
	own.Properties, own.PatternProperties, own.DependentSchemas, own.Defs = nil, nil, nil, nil
	own.AdditionalProperties = openapi3.AdditionalProperties{Has: s.AdditionalProperties.Has}
	own.UnevaluatedItems = openapi3.BoolSchema{Has: s.UnevaluatedItems.Has}
	own.UnevaluatedProperties = openapi3.BoolSchema{Has: s.UnevaluatedProperties.Has}
	own.Discriminator, own.XML, own.ExternalDocs = nil, nil, nil // OpenAPI-only annotations
	own.Extensions = nil
	b, err := json.Marshal(own)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	// Identifiers would move the base of the tool's own $defs references, and $schema could name a
	// dialect to fetch: the tool schema is one 2020-12 document.
	for _, k := range []string{"$id", "$schema", "$anchor", "$dynamicAnchor", "$dynamicRef"} {
		delete(out, k)
	}
	if c.is30 {
		c.from30(s, out)
	}
	list := func(key string, refs openapi3.SchemaRefs) error {
		if len(refs) == 0 {
			return nil
		}
		vs := make([]any, 0, len(refs))
		for _, r := range refs {
			v, err := c.ref(r)
			if err != nil {
				return err
			}
			vs = append(vs, v)
		}
		out[key] = vs
		return nil
	}
	one := func(key string, r *openapi3.SchemaRef) error {
		if r == nil {
			return nil
		}
		v, err := c.ref(r)
		if err == nil {
			out[key] = v
		}
		return err
	}
	named := func(key string, m openapi3.Schemas, dropReadOnly bool) error {
		if len(m) == 0 {
			return nil
		}
		vs := make(map[string]any, len(m))
		for k, r := range m {
			// A readOnly property is sent by the server only: a request must not carry it (OpenAPI
			// 3.x, Schema Object), and if it is required, that applies to responses only.
			if dropReadOnly && r != nil && r.Value != nil && r.Value.ReadOnly {
				dropRequired(out, k)
				continue
			}
			v, err := c.ref(r)
			if err != nil {
				return err
			}
			vs[k] = v
		}
		out[key] = vs
		return nil
	}
	for _, step := range []func() error{
		func() error { return list("oneOf", s.OneOf) },
		func() error { return list("anyOf", s.AnyOf) },
		func() error { return list("allOf", s.AllOf) },
		func() error { return list("prefixItems", s.PrefixItems) },
		func() error { return one("not", s.Not) },
		func() error { return one("items", s.Items) },
		func() error { return one("contains", s.Contains) },
		func() error { return one("propertyNames", s.PropertyNames) },
		func() error { return one("if", s.If) },
		func() error { return one("then", s.Then) },
		func() error { return one("else", s.Else) },
		func() error { return one("contentSchema", s.ContentSchema) },
		func() error { return one("additionalProperties", s.AdditionalProperties.Schema) },
		func() error { return one("unevaluatedItems", s.UnevaluatedItems.Schema) },
		func() error { return one("unevaluatedProperties", s.UnevaluatedProperties.Schema) },
		func() error { return named("properties", s.Properties, true) },
		func() error { return named("patternProperties", s.PatternProperties, false) },
		func() error { return named("dependentSchemas", s.DependentSchemas, false) },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// from30 rewrites OpenAPI 3.0's forms into JSON Schema 2020-12's.
func (c *schemaConv) from30(s *openapi3.Schema, out map[string]any) {
	if s.Nullable {
		delete(out, "nullable")
		if s.Type != nil && len(*s.Type) > 0 && !s.Type.Includes("null") {
			out["type"] = append(append([]string(nil), *s.Type...), "null")
		}
		if len(s.Enum) > 0 {
			out["enum"] = append(append([]any(nil), s.Enum...), nil)
		}
	}
	for _, b := range []struct {
		key, bound string
		ex         openapi3.ExclusiveBound
		v          *float64
	}{{"exclusiveMinimum", "minimum", s.ExclusiveMin, s.Min}, {"exclusiveMaximum", "maximum", s.ExclusiveMax, s.Max}} {
		if b.ex.Bool == nil {
			continue
		}
		delete(out, b.key)
		if *b.ex.Bool && b.v != nil {
			out[b.key] = *b.v
			delete(out, b.bound)
		}
	}
	if ex, ok := out["example"]; ok {
		delete(out, "example")
		if _, has := out["examples"]; !has {
			out["examples"] = []any{ex}
		}
	}
}

func dropRequired(out map[string]any, name string) {
	req, _ := out["required"].([]any)
	kept := req[:0:0]
	for _, r := range req {
		if r != name {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		delete(out, "required")
	} else {
		out["required"] = kept
	}
}
