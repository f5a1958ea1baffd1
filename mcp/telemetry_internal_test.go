package mcp

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

const testParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// setMeta puts the trace context into params._meta however the request is shaped, keeping what
// the client put there and replacing the trace keys it sent; a message it cannot edit safely is
// left as it was.
func TestSetMeta(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"traceparent":"P"}}}`},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list" }  `,
			`{"jsonrpc":"2.0","id":1,"method":"tools/list" ,"params":{"_meta":{"traceparent":"P"}}}  `},
		{`{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}`,
			`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"traceparent":"P"}}}`},
		{`{"jsonrpc":"2.0","id":1,"method":"ping","params":{ }}`,
			`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"traceparent":"P"} }}`},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"P"},"name":"x"}}`},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"traceparent":"P"}}}`},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":7}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"P","progressToken":7}}}`},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"00-old-old-00","progressToken":7}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"P","progressToken":7}}}`},
		// Not objects: nothing to add to.
		{`{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}`, `{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}`},
		{`{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":"s"}}`, `{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":"s"}}`},
		{`not json`, `not json`},
	} {
		got := string(setMeta([]byte(tc.in), "traceparent", "P"))
		require.Equal(t, tc.want, got, tc.in)
	}
}

// FuzzSetMeta: whatever a client sends, the edited request is still valid JSON-RPC (no duplicate
// keys), keeps its method and id, and carries the traceparent wherever params is an object.
func FuzzSetMeta(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","params":{ }}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"traceparent":"a","tracep\u0061rent":"b"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","par\u0061ms":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"_m\u0065ta":{}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"traceparent":1}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":null}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"_Meta":{"a":1}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"TraceParent":"x"}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"x","PARAMS":{"a":1}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		env, err := parseEnvelope([]byte(in))
		if err != nil || !env.isRequest() {
			return
		}
		out := setMeta([]byte(in), "traceparent", testParent)
		oenv, err := parseEnvelope(out)
		if err != nil {
			t.Fatalf("%s -> %s: %v", in, out, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%s -> invalid %s", in, out)
		}
		if oenv.method != env.method || string(oenv.id.of(out)) != string(env.id.of([]byte(in))) {
			t.Fatalf("%s -> %s: method or id changed", in, out)
		}
		if !env.params.ok() || in[env.params.start] == '{' {
			meta := field(out, oenv.params, "_meta")
			if meta.ok() && out[meta.start] != '{' {
				return // a _meta the client made something else is left alone
			}
			if got := stringField(out, oenv.params, "_meta", "traceparent"); got != testParent {
				t.Fatalf("%s -> %s: traceparent %q", in, out, got)
			}
		}
	})
}
