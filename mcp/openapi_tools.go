package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Spec → tools: every operation of an OpenAPI document becomes one MCP tool whose input schema has a
// property per path, query, header and cookie parameter and, when the operation takes one, "body".

// ErrOpenAPISpec wraps every error about an OpenAPI document given to [OpenAPITarget].
var ErrOpenAPISpec = errors.New("mcp: openapi spec")

// restTool is one operation as a tool.
type restTool struct {
	tool   *sdk.Tool
	method string
	path   string // the path template, "/pets/{petId}"
	params []restParam
	body   *restBody
	schema *jsonschema.Schema
}

// restParam maps a tool argument to a parameter of the request.
type restParam struct {
	prop    string // the argument's name in the tool's input
	name    string // the parameter's name in the request
	in      string // path, query, header or cookie
	style   string
	explode bool
	// stringy is set when the parameter's schema is a string: a number or boolean argument is taken
	// as its text (clients such as the MCP inspector CLI send "7" as 7), as the request would carry it.
	stringy bool
}

// restBody is the request body the "body" argument (prop) becomes.
type restBody struct {
	prop      string
	mediaType string
}

// methods lists the operations of a path item in a fixed order, so that derived names are stable.
var methods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodOptions, http.MethodHead, http.MethodPatch, http.MethodTrace, "QUERY"}

// ignoredHeaders are header parameters OpenAPI says are ignored: the request's own fields set them.
var ignoredHeaders = map[string]bool{"accept": true, "content-type": true, "authorization": true}

// loadOpenAPI parses and validates an OpenAPI 3.0/3.1 document (JSON or YAML). External $refs are
// refused: a document fetched from elsewhere must not make the gateway read files or URLs.
func loadOpenAPI(spec []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	loader.Context = context.Background()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpenAPISpec, err)
	}
	if doc.OpenAPI == "" {
		return nil, fmt.Errorf("%w: not an OpenAPI 3.x document (no \"openapi\" field; Swagger 2.0 is not supported)", ErrOpenAPISpec)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		return nil, fmt.Errorf("%w: OpenAPI version %q is not supported (3.0 and 3.1 are)", ErrOpenAPISpec, doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context, openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpenAPISpec, err)
	}
	return doc, nil
}

var (
	toolNameRE    = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)
	derivedNameRE = regexp.MustCompile(`[^A-Za-z0-9.-]+`) // '_' too: "/pets/{id}" is "pets_id"
)

// toolName is the operation's operationId, else "<method>_<path>", in the characters MCP tool names
// allow (SEP-986: letters, digits, '_', '-', '.', at most 128).
func toolName(method, path, operationID string) string {
	n := toolNameRE.ReplaceAllString(operationID, "_")
	if operationID == "" {
		n = derivedNameRE.ReplaceAllString(strings.ToLower(method)+"/"+path, "_")
	}
	n = strings.Trim(n, "_")
	if n == "" {
		n = strings.ToLower(method)
	}
	if len(n) > 120 {
		n = n[:120]
	}
	return n
}

// openAPITools converts every operation of doc. Operations that cannot be converted are skipped and
// named in the returned warnings.
func openAPITools(doc *openapi3.T) (tools []*restTool, warnings []string) {
	if doc.Paths == nil {
		return nil, nil
	}
	used := map[string]bool{}
	paths := doc.Paths.Keys()
	sort.Strings(paths)
	for _, p := range paths {
		item := doc.Paths.Value(p)
		if item == nil {
			continue
		}
		ops := item.Operations()
		for _, m := range methods {
			op := ops[m]
			if op == nil {
				continue
			}
			rt, err := convertOperation(doc, p, m, item, op)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("%s %s: %v", m, p, err))
				continue
			}
			name := rt.tool.Name
			for i := 2; used[name]; i++ {
				name = fmt.Sprintf("%s_%d", rt.tool.Name, i)
			}
			used[name] = true
			rt.tool.Name = name
			tools = append(tools, rt)
		}
	}
	return tools, warnings
}

func convertOperation(doc *openapi3.T, path, method string, item *openapi3.PathItem, op *openapi3.Operation) (*restTool, error) {
	conv := newSchemaConv(!doc.IsOpenAPI31OrLater())
	rt := &restTool{method: method, path: path}
	props := map[string]any{}
	var required []string

	// The operation's parameters override the path item's of the same name and location.
	type key struct{ in, name string }
	var order []key
	params := map[key]*openapi3.Parameter{}
	for _, list := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, pr := range list {
			if pr == nil || pr.Value == nil {
				continue
			}
			k := key{pr.Value.In, pr.Value.Name}
			if _, ok := params[k]; !ok {
				order = append(order, k)
			}
			params[k] = pr.Value
		}
	}
	// Path parameters first, so that they keep their own names when another location reuses one.
	rank := map[string]int{openapi3.ParameterInPath: 0, openapi3.ParameterInQuery: 1, openapi3.ParameterInHeader: 2, openapi3.ParameterInCookie: 3}
	sort.SliceStable(order, func(i, j int) bool { return rank[order[i].in] < rank[order[j].in] })
	for _, k := range order {
		pv := params[k]
		if _, known := rank[pv.In]; !known || pv.Name == "" {
			continue
		}
		if pv.In == openapi3.ParameterInHeader && ignoredHeaders[strings.ToLower(pv.Name)] {
			continue
		}
		prop := pv.Name
		if _, taken := props[prop]; taken {
			prop = pv.Name + "_" + pv.In
		}
		if _, taken := props[prop]; taken {
			return nil, fmt.Errorf("parameter %q in %s: name used twice", pv.Name, pv.In)
		}
		sref := pv.Schema
		if sref == nil {
			// A parameter described by content has one media type; its schema describes the value.
			for _, mt := range pv.Content {
				if mt != nil {
					sref = mt.Schema
				}
			}
		}
		s, err := conv.ref(sref)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", pv.Name, err)
		}
		sm, _ := s.(map[string]any)
		if sm != nil && pv.Description != "" {
			if _, has := sm["description"]; !has {
				sm["description"] = pv.Description
			}
		}
		props[prop] = s
		if pv.Required || pv.In == openapi3.ParameterInPath {
			required = append(required, prop)
		}
		style, explode := pv.Style, false
		if style == "" {
			style = map[string]string{openapi3.ParameterInPath: "simple", openapi3.ParameterInHeader: "simple", openapi3.ParameterInQuery: "form", openapi3.ParameterInCookie: "form"}[pv.In]
		}
		if pv.Explode != nil {
			explode = *pv.Explode
		} else {
			explode = style == "form"
		}
		rt.params = append(rt.params, restParam{prop: prop, name: pv.Name, in: pv.In, style: style, explode: explode, stringy: isStringSchema(sm)})
	}

	if op.RequestBody != nil && op.RequestBody.Value != nil {
		rb := op.RequestBody.Value
		mt, media := pickMediaType(rb.Content)
		if media != nil {
			prop := "body"
			if _, taken := props[prop]; taken {
				prop = "requestBody"
			}
			s, err := conv.ref(media.Schema)
			if err != nil {
				return nil, fmt.Errorf("request body: %w", err)
			}
			if sm, ok := s.(map[string]any); ok && rb.Description != "" {
				if _, has := sm["description"]; !has {
					sm["description"] = rb.Description
				}
			}
			props[prop] = s
			if rb.Required {
				required = append(required, prop)
			}
			rt.body = &restBody{prop: prop, mediaType: mt}
		}
	}

	root := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		root["required"] = required
	}
	defs, err := conv.finish()
	if err != nil {
		return nil, err
	}
	if len(defs) > 0 {
		root["$defs"] = defs
	}
	raw, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("input schema: %w", err)
	}
	if rt.schema, err = compileSchema(raw); err != nil {
		return nil, fmt.Errorf("input schema: %w", err)
	}

	desc := strings.TrimSpace(op.Summary)
	if d := strings.TrimSpace(op.Description); d != "" && d != desc {
		if desc != "" {
			desc += "\n\n"
		}
		desc += d
	}
	if desc == "" {
		desc = method + " " + path
	}
	rt.tool = &sdk.Tool{
		Name:        toolName(method, path, op.OperationID),
		Title:       strings.TrimSpace(op.Summary),
		Description: desc,
		InputSchema: json.RawMessage(raw),
		Annotations: methodAnnotations(method),
	}
	return rt, nil
}

// isStringSchema is true for a schema whose type is string (or string and null).
func isStringSchema(s map[string]any) bool {
	switch t := s["type"].(type) {
	case string:
		return t == "string"
	case []any:
		str := false
		for _, e := range t {
			switch e {
			case "string":
				str = true
			case "null":
			default:
				return false
			}
		}
		return str
	case []string:
		return len(t) > 0 && t[0] == "string" && (len(t) == 1 || len(t) == 2 && t[1] == "null")
	}
	return false
}

// toolSchemaURL names a tool's schema while it is compiled; nothing is loaded from it.
const toolSchemaURL = "urn:agentgateway:openapi-tool"

// noLoader refuses to load schemas: a tool schema is self-contained, and a document must not make
// the gateway fetch files or URLs ($schema, $id).
type noLoader struct{}

func (noLoader) Load(u string) (any, error) { return nil, fmt.Errorf("not loading %s", u) }

// compileSchema compiles a tool's input schema (JSON Schema 2020-12) for validating arguments.
func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(toolSchemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(toolSchemaURL)
}

// pickMediaType chooses the request body's representation: JSON first, then a form, then text, then
// whatever the operation lists first (in sorted order, for stability).
func pickMediaType(content openapi3.Content) (string, *openapi3.MediaType) {
	if len(content) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(content))
	for k := range content {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, want := range []func(string) bool{
		isJSONMedia,
		func(m string) bool { return mediaBase(m) == "application/x-www-form-urlencoded" },
		func(m string) bool { return strings.HasPrefix(mediaBase(m), "text/") },
		func(string) bool { return true },
	} {
		for _, k := range keys {
			if content[k] != nil && want(k) {
				return k, content[k]
			}
		}
	}
	return "", nil
}

func mediaBase(m string) string {
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = m[:i]
	}
	return strings.ToLower(strings.TrimSpace(m))
}

// isJSONMedia is true for application/json and the +json types.
func isJSONMedia(m string) bool {
	b := mediaBase(m)
	return b == "application/json" || strings.HasSuffix(b, "+json")
}

// methodAnnotations are the hints HTTP's method semantics give (RFC 9110 §9.2).
func methodAnnotations(method string) *sdk.ToolAnnotations {
	yes := true
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "QUERY":
		return &sdk.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	case http.MethodDelete:
		return &sdk.ToolAnnotations{DestructiveHint: &yes, IdempotentHint: true}
	case http.MethodPut:
		return &sdk.ToolAnnotations{DestructiveHint: &yes, IdempotentHint: true}
	}
	return nil // POST and PATCH: MCP's defaults (may be destructive, not idempotent)
}

// specServerURL returns where the API's operations are, from the document's first server (variables at
// their defaults); a relative server URL is resolved against the document's location.
func specServerURL(doc *openapi3.T, location *url.URL) (*url.URL, error) {
	raw := "/"
	if len(doc.Servers) > 0 && doc.Servers[0] != nil {
		raw = doc.Servers[0].URL
		for name, v := range doc.Servers[0].Variables {
			if v != nil {
				raw = strings.ReplaceAll(raw, "{"+name+"}", v.Default)
			}
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: server URL %q: %v", ErrOpenAPISpec, raw, err)
	}
	if !u.IsAbs() {
		if location == nil {
			return u, nil // a path only: the caller must supply the host
		}
		u = location.ResolveReference(u)
	}
	return u, nil
}
