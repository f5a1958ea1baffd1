package a2a_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	a2agw "github.com/agentgw/agentgateway/a2a"
)

// Real peers on both sides of the gateway. The agents advertise wrong URLs in their cards, so every
// call after the card resolution only works if the rewritten card points back at the gateway.

func TestInteropJSClientV03ToGoAgent(t *testing.T) {
	agent := startGoAgent(t, "go-echo")
	gw, logs := gatewayFor(t, "/agents/echo", a2agw.Proxy(agentgateway.HTTP(agent)))

	steps := runNodeClient(t, "client_v03.mjs", gw+"/agents/echo/")

	assert.Equal(t, gw+"/agents/echo/rpc", steps["card"]["url"])
	assert.Equal(t, "task", steps["send"]["kind"])
	assert.Equal(t, "completed", steps["send"]["state"])
	assert.Equal(t, "echo: hello", steps["send"]["text"])
	assertStreamV03(t, steps["stream"]["events"])
	assert.Equal(t, "completed", steps["get"]["state"])
	assert.Equal(t, "canceled", steps["cancel"]["state"])

	// The access log carries the A2A facts.
	for _, m := range []string{"message/send", "message/stream", "tasks/get", "tasks/cancel"} {
		assert.Contains(t, logs.String(), `"a2a.method":"`+m+`"`)
	}
	assert.Contains(t, logs.String(), `"a2a.task.id":"`+steps["get"]["id"].(string)+`"`)
}

func assertStreamV03(t *testing.T, raw any) {
	t.Helper()
	events, _ := raw.([]any)
	require.Len(t, events, 4, "events: %v", raw)
	kinds := []string{}
	for _, e := range events {
		m := e.(map[string]any)
		k := m["kind"].(string)
		if s, ok := m["state"].(string); ok {
			k += ":" + s
		}
		kinds = append(kinds, k)
	}
	assert.Equal(t, []string{"task:submitted", "status-update:working", "artifact-update", "status-update:completed"}, kinds)
	assert.Equal(t, "echo: stream", events[2].(map[string]any)["text"])
}

func TestInteropGoClientToJSAgentV03(t *testing.T) {
	agent := startNode(t, "server_v03.mjs")
	gw, logs := gatewayFor(t, "/agents/js", a2agw.Proxy(agentgateway.HTTP(agent)))
	goClientFlow(t, gw+"/agents/js", gw+"/agents/js/rpc")
	assert.Contains(t, logs.String(), `"a2a.method":"message/stream"`)
}

// goClientFlow drives an a2a-go (v0.3) client: resolve, send, stream, get, cancel.
func goClientFlow(t *testing.T, base, wantURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	card, err := agentcard.DefaultResolver.Resolve(ctx, base)
	require.NoError(t, err)
	require.Equal(t, wantURL, card.URL, "the card resolved through the gateway points at the gateway")

	client, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithJSONRPCTransport(http.DefaultClient))
	require.NoError(t, err)
	defer client.Destroy()

	res, err := client.SendMessage(ctx, &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "hello"})})
	require.NoError(t, err)
	task, ok := res.(*a2a.Task)
	require.True(t, ok, "result %T", res)
	assert.Equal(t, a2a.TaskStateCompleted, task.Status.State)
	require.Len(t, task.Artifacts, 1)
	assert.Equal(t, a2a.TextPart{Text: "echo: hello"}, task.Artifacts[0].Parts[0])

	var kinds []string
	for ev, err := range client.SendStreamingMessage(ctx, &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "stream"})}) {
		require.NoError(t, err)
		switch e := ev.(type) {
		case *a2a.Task:
			kinds = append(kinds, "task:"+string(e.Status.State))
		case *a2a.TaskStatusUpdateEvent:
			kinds = append(kinds, "status-update:"+string(e.Status.State))
		case *a2a.TaskArtifactUpdateEvent:
			kinds = append(kinds, "artifact-update")
			assert.Equal(t, a2a.TextPart{Text: "echo: stream"}, e.Artifact.Parts[0])
		default:
			kinds = append(kinds, "other")
		}
	}
	assert.Equal(t, []string{"task:submitted", "status-update:working", "artifact-update", "status-update:completed"}, kinds)

	got, err := client.GetTask(ctx, &a2a.TaskQueryParams{ID: task.ID})
	require.NoError(t, err)
	assert.Equal(t, task.ID, got.ID)
	assert.Equal(t, a2a.TaskStateCompleted, got.Status.State)

	blocking := false
	res, err = client.SendMessage(ctx, &a2a.MessageSendParams{
		Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "wait"}),
		Config:  &a2a.MessageSendConfig{Blocking: &blocking},
	})
	require.NoError(t, err)
	waiting, ok := res.(*a2a.Task)
	require.True(t, ok, "result %T", res)
	canceled, err := client.CancelTask(ctx, &a2a.TaskIDParams{ID: waiting.ID})
	require.NoError(t, err)
	assert.Equal(t, a2a.TaskStateCanceled, canceled.Status.State)
}

func TestInteropBridgeJSClientV1ToGoAgentV03(t *testing.T) {
	agent := startGoAgent(t, "go-echo")
	gw, logs := gatewayFor(t, "/agents/echo", a2agw.Proxy(agentgateway.HTTP(agent), a2agw.Bridge(a2agw.V03)))

	steps := runNodeClient(t, "client_v1.mjs", gw+"/agents/echo/")

	assert.Equal(t, gw+"/agents/echo/rpc", steps["card"]["url"])
	assert.Equal(t, "1.0", steps["card"]["protocolVersion"], "the client speaks v1.0 to the gateway")
	assert.Equal(t, "TASK_STATE_COMPLETED", steps["send"]["state"])
	assert.Equal(t, "echo: hello", steps["send"]["text"])
	assertStreamV1(t, steps["stream"]["events"])
	assert.Equal(t, "TASK_STATE_COMPLETED", steps["get"]["state"])
	assert.Equal(t, "TASK_STATE_CANCELED", steps["cancel"]["state"])
	for _, m := range []string{"SendMessage", "SendStreamingMessage", "GetTask", "CancelTask"} {
		assert.Contains(t, logs.String(), `"a2a.method":"`+m+`"`)
	}
}

func assertStreamV1(t *testing.T, raw any) {
	t.Helper()
	events, _ := raw.([]any)
	require.Len(t, events, 4, "events: %v", raw)
	var kinds []string
	for _, e := range events {
		m := e.(map[string]any)
		k := m["kind"].(string)
		if s, ok := m["state"].(string); ok {
			k += ":" + s
		}
		kinds = append(kinds, k)
	}
	assert.Equal(t, []string{"task:TASK_STATE_SUBMITTED", "statusUpdate:TASK_STATE_WORKING", "artifactUpdate", "statusUpdate:TASK_STATE_COMPLETED"}, kinds)
	assert.Equal(t, "echo: stream", events[2].(map[string]any)["text"])
}

func TestInteropBridgeGoClientV03ToJSAgentV1(t *testing.T) {
	agent := startNode(t, "server_v1.mjs")
	gw, logs := gatewayFor(t, "/agents/v1", a2agw.Proxy(agentgateway.HTTP(agent), a2agw.Bridge(a2agw.V10)))
	goClientFlow(t, gw+"/agents/v1", gw+"/agents/v1/rpc")
	assert.Contains(t, logs.String(), `"a2a.method":"message/stream"`)
}

func TestInteropBridgeJSClientV03ToJSAgentV1(t *testing.T) {
	agent := startNode(t, "server_v1.mjs")
	gw, _ := gatewayFor(t, "/agents/v1", a2agw.Proxy(agentgateway.HTTP(agent), a2agw.Bridge(a2agw.V10)))
	steps := runNodeClient(t, "client_v03.mjs", gw+"/agents/v1/")
	assert.Equal(t, gw+"/agents/v1/rpc", steps["card"]["url"])
	assert.Equal(t, "completed", steps["send"]["state"])
	assert.Equal(t, "echo: hello", steps["send"]["text"])
	assertStreamV03(t, steps["stream"]["events"])
	assert.Equal(t, "canceled", steps["cancel"]["state"])
}

// tasks/resubscribe from a v0.3 client reaches a v1.0-only agent as SubscribeToTask; the stream ends
// with the cancellation, translated.
func TestInteropBridgeResubscribe(t *testing.T) {
	agent := startNode(t, "server_v1.mjs")
	gw, _ := gatewayFor(t, "/agents/v1", a2agw.Proxy(agentgateway.HTTP(agent), a2agw.Bridge(a2agw.V10)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	card, err := agentcard.DefaultResolver.Resolve(ctx, gw+"/agents/v1")
	require.NoError(t, err)
	client, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithJSONRPCTransport(http.DefaultClient))
	require.NoError(t, err)
	defer client.Destroy()

	blocking := false
	res, err := client.SendMessage(ctx, &a2a.MessageSendParams{
		Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "wait"}),
		Config:  &a2a.MessageSendConfig{Blocking: &blocking},
	})
	require.NoError(t, err)
	task := res.(*a2a.Task)

	events := make(chan a2a.Event, 16)
	go func() {
		defer close(events)
		for ev, err := range client.ResubscribeToTask(ctx, &a2a.TaskIDParams{ID: task.ID}) {
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	first, ok := <-events
	require.True(t, ok, "no event from the resubscribed stream")
	assert.Equal(t, task.ID, first.TaskInfo().TaskID)
	_, err = client.CancelTask(ctx, &a2a.TaskIDParams{ID: task.ID})
	require.NoError(t, err)
	var last a2a.Event = first
	for ev := range events {
		last = ev
	}
	su, ok := last.(*a2a.TaskStatusUpdateEvent)
	require.True(t, ok, "last event %T", last)
	assert.Equal(t, a2a.TaskStateCanceled, su.Status.State)
	assert.True(t, su.Final)
}
