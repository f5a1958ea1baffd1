package config_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

type a2aEcho struct{}

func (a2aEcho) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	return q.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: "pong"}))
}

func (a2aEcho) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error { return nil }

const a2aYAML = `
binds:
- port: 3000
  listeners:
  - routes:
    - name: echo
      matches:
      - path: {pathPrefix: /agents/echo}
      policies:
        urlRewrite:
          path: {prefix: /}
        a2a: {}
      backends:
      - host: $AGENT
`

func TestA2APolicyFromYAML(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&a2a.AgentCard{
		Name: "echo", URL: "http://agent.internal:9999/", PreferredTransport: a2a.TransportProtocolJSONRPC,
		ProtocolVersion: "0.3.0", Capabilities: a2a.AgentCapabilities{}, DefaultInputModes: []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"}, Skills: []a2a.AgentSkill{{ID: "echo", Name: "echo", Tags: []string{"echo"}}},
	}))
	mux.Handle("/", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(a2aEcho{})))
	agent := httptest.NewServer(mux)
	defer agent.Close()

	f, err := config.Load([]byte(a2aYAML), func(k string) (string, bool) {
		return strings.TrimPrefix(agent.URL, "http://"), k == "AGENT"
	})
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, gw.Apply(rt.Config))
	srv := httptest.NewServer(gw.PortHandler(rt.Config.Listeners[0].Port)) // the port the file binds
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	card, err := agentcard.DefaultResolver.Resolve(ctx, srv.URL+"/agents/echo")
	require.NoError(t, err)
	assert.Equal(t, srv.URL+"/agents/echo/", card.URL, "card rewritten to the route's public address")

	client, err := a2aclient.NewFromCard(ctx, card)
	require.NoError(t, err)
	defer client.Destroy()
	res, err := client.SendMessage(ctx, &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "ping"})})
	require.NoError(t, err)
	msg, ok := res.(*a2a.Message)
	require.True(t, ok, "%T", res)
	assert.Equal(t, a2a.TextPart{Text: "pong"}, msg.Parts[0])

	// Bad input is answered by the A2A layer with a JSON-RPC error.
	resp, err := http.Post(srv.URL+"/agents/echo/", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"nope"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"code":-32601`)
}

func TestA2APolicyRejectsFields(t *testing.T) {
	// The schema's A2aPolicy is an empty object: any field is an error naming its path.
	f, err := config.Load([]byte(strings.Replace(a2aYAML, "a2a: {}", "a2a: {bridge: v1}", 1)), func(string) (string, bool) { return "127.0.0.1:1", true })
	if err == nil {
		_, err = f.Build(slog.New(slog.DiscardHandler))
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policies.a2a")
}

// The a2a policy reads the call before the route's authorization runs, so YAML rules can use a2a.*.
func TestA2AAuthorizationFromYAML(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(a2aEcho{})))
	agent := httptest.NewServer(mux)
	defer agent.Close()
	yaml := strings.Replace(a2aYAML, "        a2a: {}", `        a2a: {}
        authorization:
          rules:
          - require: a2a.method != "tasks/cancel" || request.headers["x-role"] == "admin"`, 1)
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { return strings.TrimPrefix(agent.URL, "http://"), true })
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, gw.Apply(rt.Config))
	srv := httptest.NewServer(gw.PortHandler(rt.Config.Listeners[0].Port)) // the port the file binds
	defer srv.Close()

	call := func(method, role string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/agents/echo/", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{"id":"t1"}}`))
		req.Header.Set("Content-Type", "application/json")
		if role != "" {
			req.Header.Set("X-Role", role)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusForbidden, call("tasks/cancel", "user"))
	assert.Equal(t, http.StatusForbidden, call("tasks/cancel", ""))
	assert.Equal(t, http.StatusOK, call("tasks/cancel", "admin"), "admins reach the agent (which answers with a JSON-RPC result or error)")
	assert.Equal(t, http.StatusOK, call("tasks/get", "user"))
}
