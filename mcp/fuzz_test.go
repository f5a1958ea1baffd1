package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentgw/agentgateway/internal/jsonscan"
)

var fuzzSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}`,
	`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`,
	`{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"YWd3OjA"}}`,
	`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`,
	`{"jsonrpc":"2.0","id":"local/3","result":{}}`,
	`{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"demo://x"}}`,
	`{"jsonrpc":"2.0","id":5,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"b"}}}`,
	`{"jsonrpc":"2.0","id":6,"method":"prompts/get","params":{"name":"g\u0072eet"}}`,
	`{"jsonrpc":"1.0","id":1,"method":"ping"}`,
	`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
	`{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"x"}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":17}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}`,
	`{"jsonrpc":"2.0","id":1e400,"method":"ping"}`,
	`{"a\"b":1,"jsonrpc":"2.0","method":"x"}`,
	`not json`,
	``,
	// Duplicate keys: the gateway authorized the first, targets run the last.
	`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_simple_text","name":"test_image_content","arguments":{}}}`,
	`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_simple_text","n\u0061me":"test_image_content","arguments":{}}}`,
	`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"x_fast","name":"hang"}}`,
	`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"allowed","NAME":"denied"}}`,
	`{"jsonrpc":"2.0","ID":8,"method":"tools/call","params":{"name":"denied"}}`,
	`{"jsonrpc":"2.0","id":9,"method":"ping","m\u0065thod":"tools/call"}`,
	`{"jsonrpc":"2.0","id":"gw/1","result":{},"method":"tools/call","id":"x"}`,
}

// FuzzParseEnvelope checks the envelope scanner against encoding/json in both of its ways of reading
// an object: into a struct (keys match case-insensitively, as in Go targets) and into a map (keys
// match exactly, as in Python and JavaScript targets). Whatever the scanner accepts, both read the
// same method, id and params, and no object in it has two members either could confuse.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := parseEnvelope(b)
		if err != nil {
			if !errors.Is(err, ErrParse) && !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("unclassified error %v", err)
			}
			if errors.Is(err, jsonscan.ErrDuplicateKey) && !hasDuplicate(b) {
				t.Fatalf("no duplicate key in %q, yet %v", b, err)
			}
			return
		}
		var m struct {
			JSONRPC string          `json:"jsonrpc"`
			Method  string          `json:"method"`
			ID      json.RawMessage `json:"id"`
			Params  json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("accepted %q, encoding/json says %v", b, err)
		}
		if m.JSONRPC != "2.0" {
			t.Fatalf("accepted jsonrpc %q", m.JSONRPC)
		}
		if env.method != m.Method {
			t.Fatalf("method %q, encoding/json says %q", env.method, m.Method)
		}
		if env.params.ok() && !bytes.Equal(env.params.of(b), m.Params) {
			t.Fatalf("params %q, encoding/json says %q", env.params.of(b), m.Params)
		}
		if env.id.ok() && !bytes.Equal(env.id.of(b), m.ID) {
			t.Fatalf("id %q, encoding/json says %q", env.id.of(b), m.ID)
		}
		// An exact-key reader agrees wherever it finds the member at all.
		var exact map[string]json.RawMessage
		if err := json.Unmarshal(b, &exact); err != nil {
			t.Fatal(err)
		}
		if raw, ok := exact["method"]; ok && stringValue(raw, span{0, len(raw)}) != env.method {
			t.Fatalf("method %q, an exact reader says %s", env.method, raw)
		}
		if raw, ok := exact["id"]; ok && env.id.ok() && !bytes.Equal(raw, env.id.of(b)) {
			t.Fatalf("id %q, an exact reader says %s", env.id.of(b), raw)
		}
		var params map[string]json.RawMessage
		if env.params.ok() && json.Unmarshal(env.params.of(b), &params) == nil {
			if raw, ok := params["name"]; ok && !bytes.Equal(raw, field(b, env.params, "name").of(b)) {
				t.Fatalf("params.name %q, an exact reader says %s", field(b, env.params, "name").of(b), raw)
			}
		}
		// Rewriting a name keeps the message valid, and its only name is the new one.
		if s := field(b, env.params, "name"); s.ok() {
			out := splice(b, s, quoted("renamed\"\\\u2028"))
			e2, err := parseEnvelope(out)
			if err != nil {
				t.Fatalf("splice broke the message: %s: %v", out, err)
			}
			if got := stringField(out, e2.params, "name"); got != "renamed\"\\\u2028" {
				t.Fatalf("renamed to %q", got)
			}
		}
	})
}

// hasDuplicate reports whether some object in b (valid JSON) has two keys that encoding/json decodes
// to strings equal under strings.EqualFold.
func hasDuplicate(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type level struct {
		object, key bool
		keys        []string
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				if top != nil {
					top.key = true
				}
				stack = append(stack, &level{object: d == '{', key: true})
			} else {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if s, ok := tok.(string); ok && top != nil && top.object && top.key {
			for _, k := range top.keys {
				if strings.EqualFold(k, s) {
					return true
				}
			}
			top.keys = append(top.keys, s)
			top.key = false
			continue
		}
		if top != nil {
			top.key = true
		}
	}
}

// FuzzServePost drives the JSON-RPC entry point with arbitrary bodies inside a live session: any
// input gets an HTTP answer with a sane status, never a panic or a hang.
func FuzzServePost(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	post, sid := fuzzSession(f, 7, "")
	f.Fuzz(func(t *testing.T, b []byte) { checkFuzzAnswer(t, b, post(b, sid)) })
}

// fuzzSession serves a federation of one in-process target and opens a session on it (at version,
// when set); post sends one body in that session.
func fuzzSession(f *testing.F, key byte, version string) (post func(body []byte, sid string) *httptest.ResponseRecorder, sid string) {
	srv := sdk.NewServer(&sdk.Implementation{Name: "fuzz", Version: "1"}, nil)
	srv.AddTool(&sdk.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(req.Params.Arguments)}}}, nil
	})
	fed := New(Config{Targets: []Target{ServerTarget("local", srv)}, MaxBodyBytes: 1 << 16, SessionKey: bytes.Repeat([]byte{key}, 32)})
	f.Cleanup(func() { _ = fed.Close() })
	post = func(body []byte, sid string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/mcp", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if version != "" {
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Mcp-Protocol-Version", version)
		}
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		w := httptest.NewRecorder()
		fed.ServeHTTP(w, req)
		return w
	}
	v := version
	if v == "" {
		v = "2025-06-18"
	}
	init := post([]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+v+`","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}`), "")
	if sid = init.Header().Get("Mcp-Session-Id"); sid == "" {
		f.Fatalf("no session: %d %s", init.Code, init.Body)
	}
	return post, sid
}

// checkFuzzAnswer: any input gets a sane HTTP status, and a body unless it is 202.
func checkFuzzAnswer(t *testing.T, b []byte, w *httptest.ResponseRecorder) {
	switch w.Code {
	case 200, 202, 400, 404, 413:
	default:
		t.Fatalf("status %d for %q: %s", w.Code, b, w.Body)
	}
	if w.Code != 202 && w.Body.Len() == 0 {
		t.Fatalf("empty %d answer for %q", w.Code, b)
	}
}
