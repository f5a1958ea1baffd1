package mcp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// FuzzCompactInit checks what a session id keeps of a client's initialize params: whatever the
// input, the result is bounded, valid initialize params, or an error.
func FuzzCompactInit(f *testing.F) {
	for _, s := range []string{
		`{"protocolVersion":"2025-06-18","capabilities":{"sampling":{},"roots":{"listChanged":true}},"clientInfo":{"name":"c","version":"1","title":"T"}}`,
		`{"capabilities":null,"clientInfo":{"name":"` + strings.Repeat("\u00e9", 300) + `","version":"1"}}`,
		`{"capabilities":{"experimental":{"x":"` + strings.Repeat("x", 3000) + `"}},"clientInfo":{"name":"c","version":"1"}}`,
		`{"clientInfo":{"name":"c","version":"1","description":"` + strings.Repeat("d", 70000) + `"}}`,
		`{"clientInfo":{"name":"` + strings.Repeat("\\u0001", 400) + `"}}`,
		`{"capabilities":[1],"clientInfo":{}}`,
		`{"capabilities":{ "a" : 1 },"clientInfo":{"name":17}}`,
		`{"protocolVersion":17}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, params []byte) {
		out, err := compactInit(params, "2025-06-18")
		if err != nil {
			return
		}
		if len(out) > 8192 {
			t.Fatalf("kept %d bytes", len(out))
		}
		var p sdk.InitializeParams
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatalf("kept params are not initialize params: %v: %s", err, out)
		}
		if p.ProtocolVersion != "2025-06-18" || p.ClientInfo == nil {
			t.Fatalf("kept %s", out)
		}
	})
}

// FuzzServeBatch drives the JSON-RPC entry point of a session at protocol 2025-03-26, where batches
// are allowed: any input gets a sane status, and a 200 answer to a batch is a JSON array.
func FuzzServeBatch(f *testing.F) {
	for _, s := range []string{
		`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}]`,
		`[{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}]`,
		`[{"jsonrpc":"2.0","id":"local/1","result":{}}]`,
		`[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}]`,
		`[[{"jsonrpc":"2.0","id":1,"method":"ping"}]]`,
		`[1,"x",null,{},[]]`,
		`[]`,
		` 	[{"jsonrpc":"2.0","id":1,"method":"ping"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`[` + strings.Repeat(`{"jsonrpc":"2.0","method":"n"},`, 1000) + `{"jsonrpc":"2.0","method":"n"}]`,
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`,
	} {
		f.Add([]byte(s))
	}
	post, sid := fuzzSession(f, 8, "2025-03-26")
	f.Fuzz(func(t *testing.T, b []byte) {
		w := post(b, sid)
		checkFuzzAnswer(t, b, w)
		if trim := bytes.TrimLeft(b, " \t\r\n"); w.Code == 200 && len(trim) > 0 && trim[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &arr); err != nil || len(arr) == 0 {
				t.Fatalf("batch %q answered with %s", b, w.Body)
			}
		}
	})
}
