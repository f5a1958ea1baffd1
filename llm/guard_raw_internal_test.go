package llm

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decodeMsgs(t testing.TB, s string) []any {
	var out []any
	require.NoError(t, json.Unmarshal([]byte(s), &out))
	return out
}

// TestCheckReplacement: a raw processor may rewrite messages but not drop them all, return
// non-objects, or separate a tool call from its result in any of the three wire forms; pairs that
// were already broken in the request stay acceptable.
func TestCheckReplacement(t *testing.T) {
	anth := `[{"role":"assistant","content":[{"type":"tool_use","id":"a1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a1","content":"long"}]}]`
	oai := `[{"role":"assistant","tool_calls":[{"id":"c1"}]},{"role":"tool","tool_call_id":"c1","content":"long"}]`
	resp := `[{"type":"function_call","call_id":"r1"},{"type":"function_call_output","call_id":"r1","output":"long"}]`
	for _, orig := range []string{anth, oai, resp} {
		o := decodeMsgs(t, orig)
		assert.NoError(t, checkReplacement(o, o), orig)
		assert.Error(t, checkReplacement(o, o[:1]), orig)
		assert.Error(t, checkReplacement(o, o[1:]), orig)
	}
	o := decodeMsgs(t, oai)
	assert.Error(t, checkReplacement(o, nil))
	assert.Error(t, checkReplacement(o, []any{"text"}))
	assert.NoError(t, checkReplacement(nil, nil))
	broken := decodeMsgs(t, `[{"role":"assistant","tool_calls":[{"id":"x"}]}]`)
	assert.NoError(t, checkReplacement(broken, broken))
}

// FuzzCheckReplacement: any pair of message lists is judged without panicking.
func FuzzCheckReplacement(f *testing.F) {
	f.Add(`[{"role":"assistant","tool_calls":[{"id":"c1"}]}]`, `[]`)
	f.Add(`[{"content":[{"type":"tool_use","id":1}]}]`, `[{"content":"x","type":"function_call"}]`)
	f.Add(`[null,1,"s",{"tool_calls":"x","content":{}}]`, `[{"tool_call_id":2}]`)
	f.Fuzz(func(t *testing.T, a, b string) {
		var x, y []any
		if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
			return
		}
		_ = checkReplacement(x, y)
	})
}
