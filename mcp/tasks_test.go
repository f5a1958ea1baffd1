package mcp_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

// rpcMsg is one JSON-RPC message as the tests read it.
type rpcMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// rpcMessages decodes a POST's answer: one JSON message or an SSE stream of them.
func rpcMessages(t testing.TB, r rawResp) []rpcMsg {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var out []rpcMsg
	if strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		for _, line := range strings.Split(string(r.body), "\n") {
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var m rpcMsg
				require.NoError(t, json.Unmarshal([]byte(data), &m), data)
				out = append(out, m)
			}
		}
		return out
	}
	var m rpcMsg
	require.NoError(t, json.Unmarshal(r.body, &m), "%s", r.body)
	return append(out, m)
}

// rpcCall sends one request in a session and returns its response and the messages before it.
func rpcCall(t testing.TB, url, sid, method, params string, hdr ...string) (rpcMsg, []rpcMsg) {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":%q,"params":%s}`, method, params)
	msgs := rpcMessages(t, do(t, http.MethodPost, url, sid, body, hdr...))
	require.NotEmpty(t, msgs)
	last := msgs[len(msgs)-1]
	require.Equal(t, "7", string(last.ID), "last message is the response: %+v", msgs)
	return last, msgs[:len(msgs)-1]
}

// rpcOK is rpcCall for a request that must succeed; it returns the result.
func rpcOK(t testing.TB, url, sid, method, params string, hdr ...string) json.RawMessage {
	t.Helper()
	res, _ := rpcCall(t, url, sid, method, params, hdr...)
	require.Nil(t, res.Error, "%s: %+v", method, res.Error)
	return res.Result
}

const tasksInit = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"tasks","version":"1"}}}`

func initTasksSession(t testing.TB, url string, hdr ...string) (string, json.RawMessage) {
	t.Helper()
	r := do(t, http.MethodPost, url, "", tasksInit, hdr...)
	msgs := rpcMessages(t, r)
	sid := r.header.Get("Mcp-Session-Id")
	require.NotEmpty(t, sid)
	do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, hdr...)
	return sid, msgs[len(msgs)-1].Result
}

type taskView struct {
	TaskID string `json:"taskId"`
	Status string `json:"status"`
}

// TestTasksThroughFederation runs server-everything's task tool (simulate-research-query, SEP-1686)
// through a federation of it and a go-sdk server: the merged tasks capability and the tool's
// execution field reach the client; the CreateTaskResult, tasks/get, tasks/list, tasks/result and
// tasks/cancel work under gateway-issued task ids, never the target's; and ids that are forged,
// tampered with, from another session, or of a tool the client may not call are all answered like a
// task that does not exist.
func TestTasksThroughFederation(t *testing.T) {
	web := startServerEverythingHTTP(t)
	f := mcp.Federate(mcp.HTTPTarget("web", web), mcp.ServerTarget("local", demoServer("local")))
	// Only clients that say x-role: researcher may call (and so see the tasks of) the research tool.
	rules, err := cel.CompileRules(cel.Rule{Deny: `mcp.tool.name == "simulate-research-query" && !("x-role" in request.headers && request.headers["x-role"] == "researcher")`})
	require.NoError(t, err)
	gw := agentgateway.New()
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(mcp.Authorization(rules)).To(f))
	url := newServer(t, gw, f).URL + "/mcp"
	researcher := []string{"x-role", "researcher"}

	sid, initRes := initTasksSession(t, url, researcher...)
	var ir struct {
		ProtocolVersion string `json:"protocolVersion"`
		Capabilities    struct {
			Tasks map[string]any `json:"tasks"`
		} `json:"capabilities"`
	}
	require.NoError(t, json.Unmarshal(initRes, &ir))
	assert.Equal(t, "2025-11-25", ir.ProtocolVersion)
	require.NotNil(t, ir.Capabilities.Tasks, "tasks capability merged: %s", initRes)
	assert.Contains(t, ir.Capabilities.Tasks, "list")
	assert.Contains(t, ir.Capabilities.Tasks, "cancel")
	assert.Contains(t, fmt.Sprint(ir.Capabilities.Tasks["requests"]), "tools")

	var tl struct {
		Tools []struct {
			Name      string `json:"name"`
			Execution *struct {
				TaskSupport string `json:"taskSupport"`
			} `json:"execution"`
		} `json:"tools"`
	}
	require.NoError(t, json.Unmarshal(rpcOK(t, url, sid, "tools/list", `{}`, researcher...), &tl))
	found := false
	for _, tool := range tl.Tools {
		if tool.Name == "web_simulate-research-query" {
			found = true
			require.NotNil(t, tool.Execution, "execution kept in the federated list")
			assert.Equal(t, "required", tool.Execution.TaskSupport)
		}
	}
	require.True(t, found, "%+v", tl.Tools)

	statuses := taskStatuses(t, url, sid, researcher...)

	// A task-augmented call answers with a task under a gateway-issued id.
	var created struct {
		Task taskView `json:"task"`
	}
	call := `{"name":"web_simulate-research-query","arguments":{"topic":"gateways"},"task":{"ttl":60000}}`
	require.NoError(t, json.Unmarshal(rpcOK(t, url, sid, "tools/call", call, researcher...), &created))
	taskID := created.Task.TaskID
	require.NotEmpty(t, taskID)
	assert.Greater(t, len(taskID), 64, "a sealed id, not the target's")

	var got taskView
	require.NoError(t, json.Unmarshal(rpcOK(t, url, sid, "tasks/get", fmt.Sprintf(`{"taskId":%q}`, taskID), researcher...), &got))
	assert.Equal(t, taskID, got.TaskID)
	assert.Contains(t, []string{"working", "completed"}, got.Status)

	var list struct {
		Tasks []taskView `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal(rpcOK(t, url, sid, "tasks/list", `{}`, researcher...), &list))
	require.Len(t, list.Tasks, 1)
	assert.Equal(t, taskID, list.Tasks[0].TaskID)

	// Refusals look exactly like an unknown task.
	unknown := func(t *testing.T, sid, id string, hdr ...string) {
		t.Helper()
		for _, m := range []string{"tasks/get", "tasks/result", "tasks/cancel"} {
			res, _ := rpcCall(t, url, sid, m, fmt.Sprintf(`{"taskId":%q}`, id), hdr...)
			require.NotNil(t, res.Error, "%s: %s", m, res.Result)
			assert.Equal(t, -32602, res.Error.Code, m)
			assert.Equal(t, "unknown task", res.Error.Message, m)
		}
	}
	t.Run("forged", func(t *testing.T) {
		unknown(t, sid, base64.RawURLEncoding.EncodeToString(make([]byte, 80)), researcher...)
		unknown(t, sid, "not-a-task", researcher...)
	})
	t.Run("tampered", func(t *testing.T) {
		// Another base64url character in the middle: still well-formed, one byte of the sealed id changed.
		b := []byte(taskID)
		b[len(b)/2] = 'A'
		if taskID[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		}
		unknown(t, sid, string(b), researcher...)
	})
	t.Run("another session", func(t *testing.T) {
		other, _ := initTasksSession(t, url, researcher...)
		unknown(t, other, taskID, researcher...)
		var l struct {
			Tasks []taskView `json:"tasks"`
		}
		require.NoError(t, json.Unmarshal(rpcOK(t, url, other, "tasks/list", `{}`, researcher...), &l))
		assert.Empty(t, l.Tasks)
	})
	t.Run("tool not allowed", func(t *testing.T) {
		// The same session, without the header the rule asks for.
		unknown(t, sid, taskID)
		var l struct {
			Tasks []taskView `json:"tasks"`
		}
		require.NoError(t, json.Unmarshal(rpcOK(t, url, sid, "tasks/list", `{}`), &l))
		assert.Empty(t, l.Tasks)
		res, _ := rpcCall(t, url, sid, "tools/call", call)
		require.NotNil(t, res.Error)
	})

	// tasks/result waits for the outcome; it is tied to the task by the client's id.
	res := rpcOK(t, url, sid, "tasks/result", fmt.Sprintf(`{"taskId":%q}`, taskID), researcher...)
	var out struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		Meta map[string]struct {
			TaskID string `json:"taskId"`
		} `json:"_meta"`
	}
	require.NoError(t, json.Unmarshal(res, &out))
	require.NotEmpty(t, out.Content)
	assert.Contains(t, out.Content[0].Text, "Research Report: gateways")
	require.Contains(t, out.Meta, "io.modelcontextprotocol/related-task", "%s", res)
	assert.Equal(t, taskID, out.Meta["io.modelcontextprotocol/related-task"].TaskID)

	// The target's status notification for the finished task reaches the GET stream under the same id.
	var seen []taskView
	for done := false; !done; {
		select {
		case st := <-statuses:
			seen = append(seen, st)
			done = st.Status == "completed"
		case <-time.After(30 * time.Second):
			t.Fatalf("no completed notifications/tasks/status on the GET stream: %+v", seen)
		}
	}
	for _, st := range seen {
		assert.Equal(t, taskID, st.TaskID, "every status of the task under its one id: %+v", seen)
	}

	// A task-augmented call of a tool whose target has no tasks is that target's to answer: the
	// go-sdk server runs it as a plain call.
	plain := rpcOK(t, url, sid, "tools/call", `{"name":"local_echo","arguments":{"text":"hi"},"task":{"ttl":1000}}`, researcher...)
	assert.Contains(t, string(plain), "local:hi")

	// A second task, cancelled.
	require.NoError(t, json.Unmarshal(rpcOK(t, url, sid, "tools/call", call, researcher...), &created))
	var cancelled taskView
	require.NoError(t, json.Unmarshal(rpcOK(t, url, sid, "tasks/cancel", fmt.Sprintf(`{"taskId":%q}`, created.Task.TaskID), researcher...), &cancelled))
	assert.Equal(t, created.Task.TaskID, cancelled.TaskID)
	assert.Equal(t, "cancelled", cancelled.Status)
}

// taskStatuses listens on the session's GET stream and delivers the notifications/tasks/status it
// carries.
func taskStatuses(t *testing.T, url, sid string, hdr ...string) <-chan taskView {
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := make(chan taskView, 16)
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var m struct {
				Method string   `json:"method"`
				Params taskView `json:"params"`
			}
			if json.Unmarshal([]byte(data), &m) == nil && m.Method == "notifications/tasks/status" {
				select {
				case out <- m.Params:
				default:
				}
			}
		}
	}()
	return out
}
