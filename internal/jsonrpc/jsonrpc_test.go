package jsonrpc

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMessagesAreValidJSONRPC(t *testing.T) {
	cases := map[string]struct {
		got  []byte
		want string
	}{
		"error with id":       {Error([]byte(`7`), CodeMethodNotFound, "Method not found"), `{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Method not found"}}`},
		"error without id":    {Error(nil, CodeParseError, `bad "json"`+"\n\xff"), `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad \"json\"\n\ufffd"}}`},
		"result":              {Result([]byte(`"a"`), []byte(`{"ok":true}`)), `{"jsonrpc":"2.0","id":"a","result":{"ok":true}}`},
		"request":             {Request([]byte(`1`), "tools/list", []byte(`{}`)), `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`},
		"notification":        {Request(nil, "notifications/initialized", nil), `{"jsonrpc":"2.0","method":"notifications/initialized"}`},
		"method needs escape": {Request(nil, "a\"b", nil), `{"jsonrpc":"2.0","method":"a\"b"}`},
	}
	for name, c := range cases {
		require.True(t, json.Valid(c.got), name)
		require.JSONEq(t, c.want, string(c.got), name)
	}
}

func TestAppendQuotedDoesNotAllocateForPlainStrings(t *testing.T) {
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() { _ = AppendQuoted(buf[:0], "tools/call") })
	require.Zero(t, allocs)
}
