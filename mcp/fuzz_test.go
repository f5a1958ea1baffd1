package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
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
}

// FuzzParseEnvelope checks the zero-allocation envelope scanner against encoding/json.
func FuzzParseEnvelope(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := parseEnvelope(b)
		if err != nil {
			return
		}
		var m struct {
			JSONRPC string          `json:"jsonrpc"`
			Method  string          `json:"method"`
			ID      json.RawMessage `json:"id"`
			Params  json.RawMessage `json:"params"`
		}
		if json.Unmarshal(b, &m) != nil {
			return // e.g. duplicate keys of different types; the scanner took the last
		}
		if m.JSONRPC != "2.0" {
			t.Fatalf("accepted jsonrpc %q", m.JSONRPC)
		}
		if env.method != m.Method {
			t.Fatalf("method %q, encoding/json says %q", env.method, m.Method)
		}
		if env.params.ok() && !json.Valid(env.params.of(b)) {
			t.Fatalf("params span %q is not JSON", env.params.of(b))
		}
		if env.id.ok() && !bytes.Equal(bytes.TrimSpace(env.id.of(b)), bytes.TrimSpace(m.ID)) {
			t.Fatalf("id %q, encoding/json says %q", env.id.of(b), m.ID)
		}
		// Rewriting a name keeps the message valid JSON.
		if s := field(b, env.params, "name"); s.ok() {
			if out := splice(b, s, quoted("renamed\"\\\u2028")); !json.Valid(out) {
				t.Fatalf("splice broke the message: %s", out)
			}
		}
	})
}

// FuzzServePost drives the JSON-RPC entry point with arbitrary bodies inside a live session: any
// input gets an HTTP answer with a sane status, never a panic or a hang.
func FuzzServePost(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	srv := sdk.NewServer(&sdk.Implementation{Name: "fuzz", Version: "1"}, nil)
	srv.AddTool(&sdk.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(req.Params.Arguments)}}}, nil
	})
	fed := New(Config{Targets: []Target{ServerTarget("local", srv)}, MaxBodyBytes: 1 << 16, SessionKey: bytes.Repeat([]byte{7}, 32)})
	defer fed.Close()
	post := func(body []byte, sid string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/mcp", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		w := httptest.NewRecorder()
		fed.ServeHTTP(w, req)
		return w
	}
	init := post([]byte(fuzzSeeds[0]), "")
	sid := init.Header().Get("Mcp-Session-Id")
	if sid == "" {
		f.Fatalf("no session: %d %s", init.Code, init.Body)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w := post(b, sid)
		switch w.Code {
		case 200, 202, 400, 404, 413:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, b, w.Body)
		}
		if w.Code != 202 && w.Body.Len() == 0 {
			t.Fatalf("empty %d answer for %q", w.Code, b)
		}
	})
}
