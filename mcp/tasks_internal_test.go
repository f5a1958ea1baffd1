package mcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTaskIDsAgree: a task has one client-facing id whether it arrives in the CreateTaskResult, in a
// status notification or in a related-task _meta, and the client's related-task references reach the
// target as the target's own id (only for the same target and session).
func TestTaskIDsAgree(t *testing.T) {
	f := fuzzFederation(t)
	sess := f.newSession("2025-11-25", nil)
	sess.key = "s1"
	tg := f.targets[0]

	var created []byte
	(&taskCallReply{reply: &capture{fn: func(b []byte) { created = b }}, f: f, sess: sess, t: tg, tool: "research"}).
		final([]byte(`{"jsonrpc":"2.0","id":1,"result":{"task":{"taskId":"up-1","status":"working"}}}`))
	env, err := parseEnvelope(created)
	require.NoError(t, err)
	sealed := stringField(created, env.result, "task", "taskId")
	require.NotEqual(t, "up-1", sealed)
	rec, err := f.openTask(sealed)
	require.NoError(t, err)
	assert.Equal(t, taskRecord{Target: "a", Tool: "research", ID: "up-1", Session: "s1"}, rec)

	status := f.sealRelayedTask(sess, tg, "notifications/tasks/status",
		[]byte(`{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"up-1","status":"completed"}}`))
	assert.Contains(t, string(status), `"taskId":"`+sealed+`"`)
	related := f.sealRelayedTask(sess, tg, "elicitation/create",
		[]byte(`{"jsonrpc":"2.0","id":"a/3","method":"elicitation/create","params":{"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"up-1"}}}}`))
	assert.Contains(t, string(related), `"taskId":"`+sealed+`"`)

	answer := []byte(`{"jsonrpc":"2.0","id":3,"result":{"action":"accept","_meta":{"io.modelcontextprotocol/related-task":{"taskId":"` + sealed + `"}}}}`)
	assert.Contains(t, string(f.unsealRelatedTask(sess, tg, answer)), `"taskId":"up-1"`)
	other := f.newSession("2025-11-25", nil)
	other.key = "s2"
	assert.Equal(t, string(answer), string(f.unsealRelatedTask(other, tg, answer)), "another session's id stays sealed")
}
