package main

import (
	"context"
	"net/http"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"

	agentgateway "github.com/agentgw/agentgateway"
	a2agw "github.com/agentgw/agentgateway/a2a"
)

// echoAgent answers every message with a completed task whose artifact echoes the text.
type echoAgent struct{}

func (echoAgent) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	text := ""
	for _, p := range rc.Message.Parts {
		if tp, ok := p.(a2a.TextPart); ok {
			text += tp.Text
		}
	}
	if rc.StoredTask == nil {
		if err := q.Write(ctx, a2a.NewSubmittedTask(rc, rc.Message)); err != nil {
			return err
		}
	}
	if err := q.Write(ctx, a2a.NewArtifactEvent(rc, a2a.TextPart{Text: "echo: " + text})); err != nil {
		return err
	}
	done := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCompleted, nil)
	done.Final = true
	return q.Write(ctx, done)
}

func (echoAgent) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	ev := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}

// addA2ADemo adds the A2A demo route and returns the curl lines that exercise it.
//
// The agent is an in-process a2a-go server (no listener): its card advertises an internal address,
// and the gateway's A2A layer rewrites it to {base}/agents/echo/, records a2a.method and the task id
// in the access log, and answers malformed JSON-RPC itself.
func addA2ADemo(gw *agentgateway.Gateway) []string {
	card := &a2a.AgentCard{
		Name:               "echo",
		Description:        "Echoes the text of each message (in-process a2a-go agent)",
		URL:                "http://echo-agent.internal:9999/",
		PreferredTransport: a2a.TransportProtocolJSONRPC,
		ProtocolVersion:    "0.3.0",
		Version:            "1.0.0",
		Capabilities:       a2a.AgentCapabilities{Streaming: true},
		DefaultInputModes:  []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"},
		Skills:             []a2a.AgentSkill{{ID: "echo", Name: "Echo", Description: "Echoes text", Tags: []string{"echo"}}},
	}
	agent := http.NewServeMux()
	agent.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(card))
	agent.Handle("/", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(echoAgent{})))

	// Errors are recorded by the gateway and reported by gw.Err().
	_ = gw.Route("a2a-echo").PathPrefix("/agents/echo").RewritePrefix("/").
		To(a2agw.Proxy(agent))

	return []string{
		"curl -s {base}/agents/echo/.well-known/agent-card.json",
		`curl -s {base}/agents/echo/ -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"hello"}]}}}'`,
	}
}
