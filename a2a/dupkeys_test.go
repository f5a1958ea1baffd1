package a2a_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	a2agw "github.com/agentgw/agentgateway/a2a"
)

// countingExecutor answers every message at once and counts the messages it ran.
type countingExecutor struct{ runs *atomic.Int32 }

func (e countingExecutor) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	e.runs.Add(1)
	return q.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: "ran"}))
}

func (countingExecutor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return nil
}

// TestDuplicateKeysCannotBypassAuthorization: a2a-go decodes requests with encoding/json, which keeps
// the last of two members and matches "METHOD" or "m\u0065thod" to the method field. A rule that
// allows only tasks/get must not let message/send through under a second method key, nor may a
// duplicate inside params change what the rules saw.
func TestDuplicateKeysCannotBypassAuthorization(t *testing.T) {
	var runs atomic.Int32
	agent := httptest.NewServer(a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(countingExecutor{&runs})))
	t.Cleanup(agent.Close)
	backend := agentgateway.HTTP(agent.URL)
	t.Cleanup(func() { _ = backend.Close() })
	gw, _ := gatewayFor(t, "/a", a2agw.Proxy(backend, a2agw.Authorize(`a2a.method == "tasks/get" || a2a.taskId == "mine"`)))

	msg := `{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"hi"}]}`
	for name, body := range map[string]string{
		"escaped method key":  `{"jsonrpc":"2.0","id":1,"method":"tasks/get","m\u0065thod":"message/send","params":{"message":` + msg + `}}`,
		"method in capitals":  `{"jsonrpc":"2.0","id":1,"method":"tasks/get","METHOD":"message/send","params":{"message":` + msg + `}}`,
		"method twice":        `{"jsonrpc":"2.0","id":1,"method":"tasks/get","method":"message/send","params":{"message":` + msg + `}}`,
		"params twice":        `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"taskId":"mine"}},"p\u0061rams":{"message":` + msg + `}}`,
		"message task id":     `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[],"taskId":"mine","t\u0061skId":"theirs"}}}`,
		"message metadata":    `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[],"metadata":{"skill":"a","skill":"b"}}}}`,
		"deep inside message": `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"t","x":[{"a":1,"A":2}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			before := runs.Load()
			status, resp := rpc(t, gw+"/a/", body)
			assert.Equal(t, before, runs.Load(), "the agent ran message/send")
			assert.Equal(t, http.StatusOK, status, "A2A answers JSON-RPC errors with 200")
			assert.Nil(t, resp["id"], "the id of an ambiguous request is not echoed")
			errObj, _ := resp["error"].(map[string]any)
			require.NotNil(t, errObj, "%v", resp)
			assert.Equal(t, float64(a2agw.CodeInvalidRequest), errObj["code"])
			assert.Contains(t, errObj["message"], "duplicate object key")
		})
	}

	// The rule works: message/send is forbidden, tasks/get reaches the agent.
	status, _ := rpc(t, gw+"/a/", `{"jsonrpc":"2.0","id":2,"method":"message/send","params":{"message":`+msg+`}}`)
	assert.Equal(t, http.StatusForbidden, status)
	_, resp := rpc(t, gw+"/a/", `{"jsonrpc":"2.0","id":3,"method":"tasks/get","params":{"id":"nope"}}`)
	assert.Equal(t, float64(-32001), resp["error"].(map[string]any)["code"], "task not found, from the agent")
	assert.Zero(t, runs.Load())
}

// TestDuplicateTaskIDCannotCancelAnotherTask: the rules see params.id "mine"; the agent would cancel
// the task named by the second, escaped "id".
func TestDuplicateTaskIDCannotCancelAnotherTask(t *testing.T) {
	agent := startGoAgent(t, "go-echo")
	backend := agentgateway.HTTP(agent)
	t.Cleanup(func() { _ = backend.Close() })
	gw, _ := gatewayFor(t, "/a", a2agw.Proxy(backend, a2agw.Authorize(`a2a.method != "tasks/cancel" || a2a.taskId == "mine"`)))
	url := gw + "/a/rpc"

	_, resp := rpc(t, url, `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"configuration":{"blocking":false},"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"wait"}]}}}`)
	victim := resp["result"].(map[string]any)["id"].(string)

	_, resp = rpc(t, url, fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"tasks/cancel","params":{"id":"mine","\u0069d":%q}}`, victim))
	errObj, _ := resp["error"].(map[string]any)
	require.NotNil(t, errObj, "the cancel went through: %v", resp)
	assert.Equal(t, float64(a2agw.CodeInvalidRequest), errObj["code"])

	_, resp = rpc(t, url, fmt.Sprintf(`{"jsonrpc":"2.0","id":3,"method":"tasks/get","params":{"id":%q}}`, victim))
	assert.Contains(t, []any{"submitted", "working"}, resp["result"].(map[string]any)["status"].(map[string]any)["state"], "not canceled")
	// Straight to the agent: the waiting task ends with the test.
	_, resp = rpc(t, agent+"/rpc", fmt.Sprintf(`{"jsonrpc":"2.0","id":4,"method":"tasks/cancel","params":{"id":%q}}`, victim))
	assert.Equal(t, "canceled", resp["result"].(map[string]any)["status"].(map[string]any)["state"])
}
