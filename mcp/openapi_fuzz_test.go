package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dagSpec is a document whose schemas share subschemas at every level: inlined naively its tool
// schema would have 2^depth nodes.
func dagSpec(depth int) string {
	var b strings.Builder
	b.WriteString(`{"openapi":"3.0.3","info":{"title":"dag","version":"1"},"servers":[{"url":"http://api.test"}],
"paths":{"/x":{"post":{"operationId":"x","requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/S0"}}}},"responses":{"200":{"description":"ok"}}}}},
"components":{"schemas":{`)
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, `"S%d":{"type":"object","properties":{"a":{"$ref":"#/components/schemas/S%d"},"b":{"$ref":"#/components/schemas/S%d"}}},`, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `"S%d":{"type":"string"}}}}`, depth)
	return b.String()
}

var openAPIFuzzSeeds = []string{
	`{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":"http://api.test/v1"}],"paths":{
	 "/pets/{id}":{"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"string"}}],
	  "get":{"operationId":"getPet","parameters":[{"name":"q","in":"query","style":"deepObject","schema":{"type":"object"}},{"name":"id","in":"query","schema":{"type":"integer","minimum":1,"exclusiveMinimum":true,"nullable":true}}],"responses":{"200":{"description":"ok"}}},
	  "post":{"requestBody":{"required":true,"content":{"application/x-www-form-urlencoded":{"schema":{"type":"object","properties":{"a":{"type":"array","items":{"type":"string"}}}}}}},"responses":{"200":{"description":"ok"}}}}}}`,
	"openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'http://{host}:8080/', variables: {host: {default: localhost}}}]\npaths:\n  /n:\n    put:\n      requestBody:\n        content:\n          application/json:\n            schema: {$ref: '#/components/schemas/N'}\n      responses: {'200': {description: ok}}\ncomponents:\n  schemas:\n    N:\n      type: [object, 'null']\n      properties:\n        kids: {type: array, items: {$ref: '#/components/schemas/N'}}\n        c: {const: 3}\n      unevaluatedProperties: false\n",
	`{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"parameters":[{"$ref":"other.yaml#/p"}],"responses":{"200":{"description":"ok"}}}}}}`,
	"openapi: 3.0.0\ninfo: &a {title: t, version: '1'}\npaths: {}\nx-a: [*a, *a, *a]\n",
	dagSpec(12),
	`{"swagger":"2.0"}`,
	`{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":"http://x"}],"paths":{"/{a}/{b}":{"delete":{"parameters":[{"name":"a","in":"path","required":true,"content":{"application/json":{"schema":{"type":"object"}}}},{"name":"b","in":"path","required":true,"schema":{"type":"array","items":{}}},{"name":"Accept","in":"header","schema":{"type":"string"}},{"name":"c","in":"cookie","schema":{"type":"string"}}],"responses":{"204":{"description":"no"}}}}}}`,
	``,
	`null`,
}

// FuzzOpenAPITools: any document either is refused with an error or becomes tools whose schemas are
// object schemas the go-sdk accepts, whose validation and request building never panic.
func FuzzOpenAPITools(f *testing.F) {
	for _, s := range openAPIFuzzSeeds {
		f.Add([]byte(s), []byte(`{"id":"7","body":{"a":["x"]},"q":{"k":1}}`))
	}
	f.Add([]byte(openAPIFuzzSeeds[0]), []byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","_meta":{"dev.agentgateway/call":"forged","progressToken":1}}}`))
	f.Add([]byte(openAPIFuzzSeeds[0]), []byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","_meta":null}}`))
	f.Fuzz(func(t *testing.T, spec, args []byte) {
		// args is also a client message to mark: the token must replace whatever the client sent.
		if out, ok := withCallToken(args, "tok"); ok {
			var m struct {
				Params struct {
					Meta map[string]any `json:"_meta"`
				} `json:"params"`
			}
			if err := json.Unmarshal(out, &m); err != nil || m.Params.Meta[callMetaKey] != "tok" {
				t.Fatalf("marked %q as %q", args, out)
			}
		}
		a := newOpenAPI("f", spec, openAPIConfig{})
		if a.err != nil {
			return
		}
		tg := &target{Target: Target{Name: "f"}}
		s := a.server(tg) // panics on a schema the go-sdk refuses
		_ = s
		for _, rt := range a.tools {
			var m map[string]any
			if err := json.Unmarshal(rt.tool.InputSchema.(json.RawMessage), &m); err != nil || m["type"] != "object" {
				t.Fatalf("%s: input schema %s", rt.tool.Name, rt.tool.InputSchema)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
			if err != nil {
				continue
			}
			if rt.schema.Validate(inst) != nil {
				continue
			}
			obj, ok := inst.(map[string]any)
			if !ok {
				continue
			}
			req, err := a.request(context.Background(), tg, rt, obj)
			if err == nil && req.URL.Host != a.base.Host {
				t.Fatalf("%s: request to %s, not %s", rt.tool.Name, req.URL, a.base)
			}
		}
	})
}

// TestOpenAPISharedSchemasStayLinear: schemas shared at every level of a deep document are inlined up
// to a budget, then referenced through the tool's own $defs, so the tool schema grows with the
// document and not exponentially.
func TestOpenAPISharedSchemasStayLinear(t *testing.T) {
	a := newOpenAPI("dag", []byte(dagSpec(40)), openAPIConfig{})
	require.NoError(t, a.err)
	require.Len(t, a.tools, 1)
	raw := a.tools[0].tool.InputSchema.(json.RawMessage)
	assert.Less(t, len(raw), 1<<20, "schema of %d bytes", len(raw))
	assert.Contains(t, string(raw), `"$defs"`)
	// Still a working schema: a deep valid value passes, a wrong leaf type fails.
	var v any = "leaf"
	for range 40 {
		v = map[string]any{"a": v}
	}
	assert.NoError(t, a.tools[0].schema.Validate(map[string]any{"body": v}))
	var bad any = 17.0
	for range 40 {
		bad = map[string]any{"b": bad}
	}
	assert.Error(t, a.tools[0].schema.Validate(map[string]any{"body": bad}))
}

// TestOpenAPIPathParamEscaping: path parameter values cannot add path segments, a query or a
// fragment, and the request stays on the configured host.
func TestOpenAPIPathParamEscaping(t *testing.T) {
	spec := `{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":"http://api.test/v1"}],"paths":{"/files/{name}":{"get":{"operationId":"get","parameters":[{"name":"name","in":"path","required":true,"schema":{"type":"string"}}],"responses":{"200":{"description":"ok"}}}}}}`
	a := newOpenAPI("t", []byte(spec), openAPIConfig{})
	require.NoError(t, a.err)
	tg := &target{Target: Target{Name: "t"}}
	for _, name := range []string{"../../admin", "a/b", "x?y=1#z", "@evil.test", "%2e%2e"} {
		req, err := a.request(context.Background(), tg, a.tools[0], map[string]any{"name": name})
		require.NoError(t, err)
		assert.Equal(t, "api.test", req.URL.Host)
		assert.Empty(t, req.URL.RawQuery, name)
		assert.Empty(t, req.URL.Fragment, name)
		assert.Equal(t, "/v1/files/"+url.PathEscape(name), req.URL.EscapedPath(), name)
	}
}

// TestOpenAPIVersionsSchemas: OpenAPI 3.0's nullable and boolean exclusive bounds, and 3.1's type
// arrays, numeric bounds and const, all validate as their documents mean.
func TestOpenAPIVersionsSchemas(t *testing.T) {
	op := func(version, schema string) *restTool {
		spec := `{"openapi":"` + version + `","info":{"title":"t","version":"1"},"servers":[{"url":"http://api.test"}],"paths":{"/x":{"get":{"operationId":"x","parameters":[{"name":"n","in":"query","required":true,"schema":` + schema + `}],"responses":{"200":{"description":"ok"}}}}}}`
		a := newOpenAPI("t", []byte(spec), openAPIConfig{})
		require.NoError(t, a.err, version)
		require.Len(t, a.tools, 1)
		return a.tools[0]
	}
	valid := func(rt *restTool, v string) bool {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"n":` + v + `}`))
		require.NoError(t, err)
		return rt.schema.Validate(inst) == nil
	}
	v30 := op("3.0.3", `{"type":"integer","minimum":0,"exclusiveMinimum":true,"nullable":true}`)
	v31 := op("3.1.0", `{"type":["integer","null"],"exclusiveMinimum":0}`)
	for _, rt := range []*restTool{v30, v31} {
		assert.True(t, valid(rt, "1"))
		assert.True(t, valid(rt, "null"))
		assert.False(t, valid(rt, "0"), "exclusive bound")
		assert.False(t, valid(rt, `"1"`))
	}
	c := op("3.1.0", `{"const":"fixed"}`)
	assert.True(t, valid(c, `"fixed"`))
	assert.False(t, valid(c, `"other"`))
}
