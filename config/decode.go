package config

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// Node is one undecoded part of a config file. Sections receive their Node and decode it with
// [Decode], which reports every error with the field path.
type Node struct {
	n    *yaml.Node
	path string
}

// Path returns the node's field path, e.g. "binds[0].listeners[0].routes[2].policies.cors".
func (n Node) Path() string { return n.path }

// IsZero reports whether the node is absent or null.
func (n Node) IsZero() bool { return n.n == nil || n.n.Tag == "!!null" }

// Line returns the node's line in the file (0 when unknown).
func (n Node) Line() int {
	if n.n == nil {
		return 0
	}
	return n.n.Line
}

// Decode decodes node into a new S, strictly: unknown fields, wrong types and malformed durations are
// errors naming the field path. Fields are named by their `json` tag (the agentgateway schema's
// camelCase); a field tagged `json:",inline"`-style embedding is not supported, keep specs flat.
// A type implementing json.Unmarshaler decodes from the node's JSON form, for one-of shapes.
func Decode[S any](node Node) (S, error) {
	var s S
	err := decodeValue(node.n, reflect.ValueOf(&s).Elem(), node.path)
	return s, err
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	nodeType        = reflect.TypeFor[Node]()
	rawType         = reflect.TypeFor[json.RawMessage]()
	nodeDecoderType = reflect.TypeFor[nodeDecoder]()
)

// nodeDecoder is implemented by config types with a shape of their own (one-of keys).
type nodeDecoder interface {
	decodeNode(n *yaml.Node, path string) error
}

func reflectValue[T any](p *T) reflect.Value { return reflect.ValueOf(p).Elem() }

func errAt(path string, n *yaml.Node, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if n != nil && n.Line > 0 {
		msg += fmt.Sprintf(" (line %d)", n.Line)
	}
	return &agentgateway.ConfigError{Path: path, Err: fmt.Errorf("%s", msg)}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a value"
}

func decodeValue(n *yaml.Node, v reflect.Value, path string) error {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	t := v.Type()
	switch {
	case t == nodeType:
		v.Set(reflect.ValueOf(Node{n: n, path: path}))
		return nil
	case t == rawType:
		j, err := nodeJSON(n)
		if err != nil {
			return errAt(path, n, "%v", err)
		}
		v.SetBytes(j)
		return nil
	}
	if reflect.PointerTo(t).Implements(nodeDecoderType) {
		return v.Addr().Interface().(nodeDecoder).decodeNode(n, path)
	}
	if n.Tag == "!!null" {
		v.Set(reflect.Zero(t))
		return nil
	}
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return decodeValue(n, v.Elem(), path)
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		j, err := nodeJSON(n)
		if err != nil {
			return errAt(path, n, "%v", err)
		}
		if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(j); err != nil {
			return errAt(path, n, "%v", err)
		}
		return nil
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			return errAt(path, n, "want a duration like \"10s\", got %s", kindName(n))
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			return errAt(path, n, "invalid duration %q", n.Value)
		}
		v.SetInt(int64(d))
		return nil
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) && n.Kind == yaml.ScalarNode {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return errAt(path, n, "%v", err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return errAt(path, n, "want an object, got %s", kindName(n))
		}
		fields := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			fp := joinPath(path, key)
			idx, ok := fields[key]
			if !ok {
				return errAt(fp, n.Content[i], "unknown field %q", key)
			}
			if err := decodeValue(n.Content[i+1], v.Field(idx), fp); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return errAt(path, n, "want an object, got %s", kindName(n))
		}
		if t.Key().Kind() != reflect.String {
			return errAt(path, n, "unsupported map key type %s", t.Key())
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			ev := reflect.New(t.Elem()).Elem()
			if err := decodeValue(n.Content[i+1], ev, joinPath(path, key)); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), ev)
		}
		v.Set(m)
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return errAt(path, n, "want a list, got %s", kindName(n))
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := decodeValue(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			return errAt(path, n, "%v", err)
		}
		if x != nil {
			v.Set(reflect.ValueOf(normalize(x)))
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return errAt(path, n, "want a %s, got %s", t.Kind(), kindName(n))
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			return errAt(path, n, "want true or false, got %q", n.Value)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, t.Bits())
		if err != nil {
			return errAt(path, n, "want an integer, got %q", n.Value)
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(n.Value, 0, t.Bits())
		if err != nil {
			return errAt(path, n, "want a non-negative integer of at most %d bits, got %q", t.Bits(), n.Value)
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, t.Bits())
		if err != nil || math.IsNaN(f) {
			return errAt(path, n, "want a number, got %q", n.Value)
		}
		v.SetFloat(f)
	default:
		return errAt(path, n, "unsupported field type %s", t)
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var fieldCache sync.Map // reflect.Type → map[string]int

func structFields(t reflect.Type) map[string]int {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]int)
	}
	f := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := sf.Name
		if tag, ok := sf.Tag.Lookup("json"); ok {
			tn, _, _ := strings.Cut(tag, ",")
			if tn == "-" {
				continue
			}
			if tn != "" {
				name = tn
			}
		} else if tag, ok := sf.Tag.Lookup("yaml"); ok {
			if tn, _, _ := strings.Cut(tag, ","); tn != "" {
				name = tn
			}
		}
		f[name] = i
	}
	fieldCache.Store(t, f)
	return f
}

// normalize turns yaml's map[string]any/[]any trees into JSON-compatible values.
func normalize(x any) any {
	switch x := x.(type) {
	case map[string]any:
		for k, v := range x {
			x[k] = normalize(v)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[fmt.Sprint(k)] = normalize(v)
		}
		return m
	case []any:
		for i, v := range x {
			x[i] = normalize(v)
		}
		return x
	}
	return x
}

// nodeJSON renders a YAML node as JSON.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	var x any
	if err := n.Decode(&x); err != nil {
		return nil, err
	}
	return json.Marshal(normalize(x))
}

// expandEnv replaces $VAR and ${VAR} in every string scalar of the tree (keys are left alone). An unset
// variable is an error, so that a missing secret is caught at load time rather than sent as "".
func expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool)) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			if err := expandEnv(c, p, lookup); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := expandEnv(n.Content[i+1], joinPath(path, n.Content[i].Value), lookup); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if n.Tag != "!!str" || !strings.Contains(n.Value, "$") {
			return nil
		}
		var missing string
		out := os.Expand(n.Value, func(name string) string {
			if name == "$" {
				return "$" // "$$" escapes a literal dollar
			}
			v, ok := lookup(name)
			if !ok && missing == "" {
				missing = name
			}
			return v
		})
		if missing != "" {
			return errAt(path, n, "environment variable %q is not set", missing)
		}
		n.Value = out
	}
	return nil
}
