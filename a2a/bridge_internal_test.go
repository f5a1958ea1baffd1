package a2a

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	v, err := decodeAny([]byte(s))
	require.NoError(t, err)
	return v
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestTranslateMessagePartsBothWays(t *testing.T) {
	v03 := `{"kind":"message","messageId":"m","role":"agent","metadata":{"k":1},"parts":[
	  {"kind":"text","text":"hi"},
	  {"kind":"file","file":{"bytes":"aGk=","mimeType":"text/plain","name":"a.txt"}},
	  {"kind":"file","file":{"uri":"https://x/y.png","mimeType":"image/png"}},
	  {"kind":"data","data":{"a":[1,2]},"metadata":{"m":true}}]}`
	v10 := `{"messageId":"m","role":"ROLE_AGENT","metadata":{"k":1},"parts":[
	  {"text":"hi"},
	  {"raw":"aGk=","mediaType":"text/plain","filename":"a.txt"},
	  {"url":"https://x/y.png","mediaType":"image/png"},
	  {"data":{"a":[1,2]},"metadata":{"m":true}}]}`
	assert.JSONEq(t, v10, encode(t, translator{to: V10}.message(decode(t, v03))))
	assert.JSONEq(t, v03, encode(t, translator{to: V03}.message(decode(t, v10))))

	// v1.0 data parts may hold any value; v0.3 data parts are objects.
	assert.JSONEq(t, `{"kind":"data","data":{"value":[1,"x"]}}`, encode(t, translator{to: V03}.part(decode(t, `{"data":[1,"x"]}`))))
}

func TestTranslateTaskAndEvents(t *testing.T) {
	task03 := `{"kind":"task","id":"t","contextId":"c","status":{"state":"input-required","timestamp":"2025-01-01T00:00:00Z"},
	  "artifacts":[{"artifactId":"a","parts":[{"kind":"text","text":"x"}]}],"history":[{"kind":"message","messageId":"m","role":"user","parts":[]}]}`
	task10 := `{"id":"t","contextId":"c","status":{"state":"TASK_STATE_INPUT_REQUIRED","timestamp":"2025-01-01T00:00:00Z"},
	  "artifacts":[{"artifactId":"a","parts":[{"text":"x"}]}],"history":[{"messageId":"m","role":"ROLE_USER","parts":[]}]}`
	up := translator{to: V10}
	down := translator{to: V03}
	assert.JSONEq(t, task10, encode(t, up.task(decode(t, task03))))
	assert.JSONEq(t, task03, encode(t, down.task(decode(t, task10))))

	res, err := up.result("message/send", decode(t, task03))
	require.NoError(t, err)
	assert.JSONEq(t, `{"task":`+task10+`}`, encode(t, res))

	ev, err := down.event(decode(t, `{"statusUpdate":{"taskId":"t","contextId":"c","status":{"state":"TASK_STATE_COMPLETED"}}}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"kind":"status-update","taskId":"t","contextId":"c","status":{"state":"completed"},"final":true}`, encode(t, ev),
		"v0.3 streams end on final, which v1.0 derives from the state")
	ev, err = up.event(decode(t, `{"kind":"status-update","taskId":"t","contextId":"c","status":{"state":"working"},"final":false}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"statusUpdate":{"taskId":"t","contextId":"c","status":{"state":"TASK_STATE_WORKING"}}}`, encode(t, ev))
	_, err = up.event(decode(t, `{"kind":"mystery"}`))
	assert.ErrorIs(t, err, ErrBridge)
}

func TestTranslateSendConfiguration(t *testing.T) {
	p, err := translator{to: V03}.params("SendMessage", decode(t, `{"message":{"messageId":"m","role":"ROLE_USER","parts":[]},"configuration":{"returnImmediately":true,"historyLength":2}}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"message":{"kind":"message","messageId":"m","role":"user","parts":[]},"configuration":{"blocking":false,"historyLength":2}}`, encode(t, p))
	p, err = translator{to: V10}.params("message/send", decode(t, `{"message":{"kind":"message","messageId":"m","role":"user","parts":[]},"configuration":{"blocking":false}}`))
	require.NoError(t, err)
	assert.JSONEq(t, `{"message":{"messageId":"m","role":"ROLE_USER","parts":[]},"configuration":{"returnImmediately":true}}`, encode(t, p))
	_, err = translator{to: V03}.params("SendMessage", decode(t, `{}`))
	assert.Error(t, err)
}

func TestBridgeCardBothWays(t *testing.T) {
	v03 := `{"name":"a","protocolVersion":"0.3.0","url":"http://agent/rpc","preferredTransport":"JSONRPC",
	  "supportsAuthenticatedExtendedCard":true,"capabilities":{"streaming":true},"defaultInputModes":[],"defaultOutputModes":[],
	  "security":[{"key":[]}],"securitySchemes":{"key":{"type":"apiKey","in":"header","name":"X-Key"}},
	  "skills":[{"id":"s","name":"S","tags":["t"],"security":[{"key":["r"]}]}]}`
	out, err := transformCard([]byte(v03), cardOptions{bridge: V03, client: V10, rewrite: true, base: "http://gw/a", prefix: "/a"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"a","capabilities":{"streaming":true,"extendedAgentCard":true},"defaultInputModes":[],"defaultOutputModes":[],
	  "supportedInterfaces":[{"url":"http://gw/a/rpc","protocolBinding":"JSONRPC","protocolVersion":"1.0"}],
	  "securityRequirements":[{"schemes":{"key":{"list":[]}}}],
	  "securitySchemes":{"key":{"apiKeySecurityScheme":{"location":"header","name":"X-Key"}}},
	  "skills":[{"id":"s","name":"S","tags":["t"],"securityRequirements":[{"schemes":{"key":{"list":["r"]}}}]}]}`, string(out))

	back, err := transformCard(out, cardOptions{bridge: V10, client: V03})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(back, &m))
	assert.Equal(t, "http://gw/a/rpc", m["url"])
	assert.Equal(t, "0.3.0", m["protocolVersion"])
	assert.Equal(t, true, m["supportsAuthenticatedExtendedCard"])
	assert.Equal(t, map[string]any{"key": map[string]any{"type": "apiKey", "in": "header", "name": "X-Key"}}, m["securitySchemes"])
	assert.Equal(t, []any{map[string]any{"key": []any{}}}, m["security"])
}
