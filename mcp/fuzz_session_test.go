package mcp

import (
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
