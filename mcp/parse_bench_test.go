package mcp

import "testing"

// BenchmarkParseEnvelope measures what the gateway does with the bytes of a message before routing
// it: validate, read the envelope and (for a call) the name it routes on.
func BenchmarkParseEnvelope(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"tools-call", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello","count":3,"flags":[true,false,null]}}}`},
		{"initialize", fuzzSeeds[0]},
		{"tools-list-result", `{"jsonrpc":"2.0","id":"gw-1","result":{"tools":[` +
			`{"name":"echo","description":"Echo the input","inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}},` +
			`{"name":"add","description":"Add two numbers","inputSchema":{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]}},` +
			`{"name":"image","description":"A tiny image \u00e9","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}}]}}`},
	} {
		body := []byte(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				env, err := parseEnvelope(body)
				if err != nil {
					b.Fatal(err)
				}
				if env.method == "tools/call" && stringValue(body, field(body, env.params, "name")) != "echo" {
					b.Fatal("name")
				}
			}
		})
	}
}
