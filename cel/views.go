package cel

import (
	"reflect"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

type viewKind uint8

const (
	viewRequest viewKind = iota
	viewHeaders
	viewQuery
	viewSource
	viewMCP
	viewMCPTool
	viewMCPPrompt
	viewMCPResource
	viewA2A
	viewLLM
	numViews
)

// view is a CEL map over one part of the request or its State. Field lookups (the common case:
// request.path, request.headers["x"], mcp.tool.name) read the Go value directly; anything that needs
// the whole map (iteration, size, equality, conversion) builds it once.
type view struct {
	a    *Activation
	kind viewKind
}

var _ traits.Mapper = (*view)(nil)

func str(s string) ref.Val { return types.String(s) }

// lookup returns the value of key, as a CEL value.
func (v *view) lookup(key string) (ref.Val, bool) {
	a := v.a
	r := a.Request
	st := a.state()
	switch v.kind {
	case viewRequest:
		if r == nil {
			switch key {
			case "headers", "query":
				return &a.views[viewHeaders+viewKind(b2i(key == "query"))], true
			case "method", "path", "host", "scheme", "uri":
				return str(""), true
			}
			return nil, false
		}
		switch key {
		case "method":
			return str(r.Method), true
		case "path":
			return str(urlPath(r)), true
		case "host":
			return str(r.Host), true
		case "scheme":
			return str(scheme(r)), true
		case "uri":
			return str(requestURI(r)), true
		case "headers":
			return &a.views[viewHeaders], true
		case "query":
			return &a.views[viewQuery], true
		case "body":
			// Read (and buffered) only here, so expressions that do not name it cost nothing.
			return a.bodyValue(), true
		}
	case viewHeaders:
		if r == nil {
			return nil, false
		}
		return headerValue(r.Header, key)
	case viewQuery:
		if r == nil || r.URL == nil {
			return nil, false
		}
		if a.query == nil {
			a.query = r.URL.Query()
		}
		if vs := a.query[key]; len(vs) > 0 {
			return str(vs[0]), true
		}
	case viewSource:
		switch key {
		case "address":
			if !st.Source.IsValid() {
				return str(""), true
			}
			return str(st.Source.Addr().String()), true
		case "port":
			return types.Int(st.Source.Port()), true
		case "certificate":
			return str(clientCertPEM(r)), true
		}
	case viewMCP:
		m := &st.MCP
		switch key {
		case "method", "methodName":
			return str(m.Method), true
		case "sessionId":
			return str(m.SessionID), true
		case "target":
			return str(m.Target), true
		case "tool":
			return &a.views[viewMCPTool], true
		case "prompt":
			return &a.views[viewMCPPrompt], true
		case "resource":
			return &a.views[viewMCPResource], true
		}
	case viewMCPTool:
		switch key {
		case "name":
			return str(st.MCP.ToolName), true
		case "target":
			return str(st.MCP.ToolTarget), true
		}
	case viewMCPPrompt:
		switch key {
		case "name":
			return str(nameIf(&st.MCP, "prompts/get")), true
		case "target":
			return str(st.MCP.Target), true
		}
	case viewMCPResource:
		switch key {
		case "uri":
			return str(nameIf(&st.MCP, "resources/read", "resources/subscribe", "resources/unsubscribe")), true
		case "name":
			return str(nameIf(&st.MCP, "resources/read")), true
		case "target":
			return str(st.MCP.Target), true
		}
	case viewA2A:
		x := &st.A2A
		switch key {
		case "method":
			return str(x.Method), true
		case "taskId":
			return str(x.TaskID), true
		case "contextId":
			return str(x.ContextID), true
		case "skill":
			return str(x.Skill), true
		case "version":
			return str(x.Version), true
		}
	case viewLLM:
		l := &st.LLM
		switch key {
		case "provider":
			return str(l.Provider), true
		case "requestModel":
			return str(l.RequestModel), true
		case "responseModel":
			return str(l.ResponseModel), true
		case "streaming":
			return types.Bool(l.Streaming), true
		case "inputTokens":
			return types.Int(l.InputTokens), true
		case "outputTokens":
			return types.Int(l.OutputTokens), true
		case "totalTokens":
			return types.Int(l.InputTokens + l.OutputTokens), true
		case "cost":
			return types.Double(l.Cost), true
		}
	}
	return nil, false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// headerValue looks a lower-case (or any-case) header name up without allocating: the canonical form
// is built in a stack buffer, and Go's map lookup with string(bytes) does not copy.
func headerValue(h map[string][]string, name string) (ref.Val, bool) {
	var buf [128]byte
	var vs []string
	if len(name) <= len(buf) {
		upper := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			switch {
			case upper && 'a' <= c && c <= 'z':
				c -= 'a' - 'A'
			case !upper && 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			buf[i] = c
			upper = c == '-'
		}
		vs = h[string(buf[:len(name)])]
	}
	if vs == nil { // non-canonical keys set directly on the map, or very long names
		for k, v := range h {
			if strings.EqualFold(k, name) {
				vs = v
				break
			}
		}
	}
	switch len(vs) {
	case 0:
		return nil, false
	case 1:
		return str(vs[0]), true
	}
	return str(strings.Join(vs, ",")), true
}

// native builds the whole map.
func (v *view) native() map[string]any {
	a := v.a
	switch v.kind {
	case viewRequest:
		return RequestAttributes(a.Request)
	case viewHeaders:
		return RequestAttributes(a.Request)["headers"].(map[string]any)
	case viewQuery:
		return RequestAttributes(a.Request)["query"].(map[string]any)
	}
	var keys []string
	switch v.kind {
	case viewSource:
		keys = []string{"address", "port", "certificate"}
	case viewMCP:
		keys = []string{"method", "methodName", "sessionId", "target", "tool", "prompt", "resource"}
	case viewMCPTool:
		keys = []string{"name", "target"}
	case viewMCPPrompt:
		keys = []string{"name", "target"}
	case viewMCPResource:
		keys = []string{"uri", "name", "target"}
	case viewA2A:
		keys = []string{"method", "taskId", "contextId", "skill", "version"}
	case viewLLM:
		keys = []string{"provider", "requestModel", "responseModel", "streaming", "inputTokens", "outputTokens", "totalTokens", "cost"}
	}
	m := make(map[string]any, len(keys))
	for _, k := range keys {
		val, _ := v.lookup(k)
		if sub, ok := val.(*view); ok {
			m[k] = sub.native()
		} else {
			m[k] = val.Value()
		}
	}
	return m
}

func (v *view) mapper() traits.Mapper {
	if v.a.full == nil {
		v.a.full = new([numViews]traits.Mapper)
	}
	if v.a.full[v.kind] == nil {
		v.a.full[v.kind] = types.NewStringInterfaceMap(types.DefaultTypeAdapter, v.native())
	}
	return v.a.full[v.kind]
}

// Find implements traits.Mapper.
func (v *view) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return v.mapper().Find(key)
	}
	return v.lookup(string(k))
}

// Get implements traits.Indexer.
func (v *view) Get(key ref.Val) ref.Val {
	if val, ok := v.Find(key); ok {
		return val
	}
	return types.NewErr("no such key: %v", key)
}

// Contains implements traits.Container.
func (v *view) Contains(key ref.Val) ref.Val {
	_, ok := v.Find(key)
	return types.Bool(ok)
}

// Iterator implements traits.Iterable.
func (v *view) Iterator() traits.Iterator { return v.mapper().Iterator() }

// Size implements traits.Sizer.
func (v *view) Size() ref.Val { return v.mapper().Size() }

// ConvertToNative implements ref.Val.
func (v *view) ConvertToNative(t reflect.Type) (any, error) { return v.mapper().ConvertToNative(t) }

// ConvertToType implements ref.Val.
func (v *view) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return v
	case types.TypeType:
		return types.MapType
	}
	return v.mapper().ConvertToType(t)
}

// Equal implements ref.Val.
func (v *view) Equal(other ref.Val) ref.Val { return v.mapper().Equal(other) }

// Type implements ref.Val.
func (v *view) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (v *view) Value() any { return v.native() }
