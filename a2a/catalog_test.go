package a2a_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// catalogGateway puts two a2a-go agents behind their own routes and a catalog at /catalog.
func catalogGateway(t *testing.T) string {
	t.Helper()
	weather := agentgateway.HTTP(startGoAgent(t, "weather", a2a.AgentSkill{ID: "forecast", Name: "Forecast", Tags: []string{"weather"}}))
	translate := agentgateway.HTTP(startGoAgent(t, "translate", a2a.AgentSkill{ID: "translate", Name: "Translate", Tags: []string{"language"}}))
	gw := agentgateway.New()
	require.NoError(t, gw.Route("weather").PathPrefix("/agents/weather").RewritePrefix("/").To(a2agw.Proxy(weather)))
	require.NoError(t, gw.Route("translate").PathPrefix("/agents/translate").RewritePrefix("/").To(a2agw.Proxy(translate)))
	require.NoError(t, gw.Route("catalog").PathPrefix("/catalog").To(a2agw.Catalog([]a2agw.Agent{
		{Name: "weather", Path: "/agents/weather", Upstream: weather},
		{Name: "translate", Path: "/agents/translate", Upstream: translate},
	})))
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCatalogListsAgentsWithRewrittenCards(t *testing.T) {
	gw := catalogGateway(t)
	resp, err := http.Get(gw + "/catalog/")
	require.NoError(t, err)
	defer resp.Body.Close()
	var list struct {
		Agents []struct {
			Name string
			URL  string
			Card struct {
				Name   string
				URL    string
				Skills []struct{ ID string }
			}
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	require.Len(t, list.Agents, 2)
	assert.Equal(t, "weather", list.Agents[0].Name)
	assert.Equal(t, gw+"/agents/weather/", list.Agents[0].URL)
	assert.Equal(t, gw+"/agents/weather/rpc", list.Agents[0].Card.URL)
	assert.Equal(t, "forecast", list.Agents[0].Card.Skills[0].ID)
	assert.Equal(t, gw+"/agents/translate/rpc", list.Agents[1].Card.URL)
}

func TestCatalogRoutesBySkill(t *testing.T) {
	gw := catalogGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The catalog is an agent of its own: an A2A client resolves its card and talks to it.
	card, err := agentcard.DefaultResolver.Resolve(ctx, gw+"/catalog")
	require.NoError(t, err)
	assert.Equal(t, gw+"/catalog/", card.URL)
	assert.Len(t, card.Skills, 2)
	client, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithJSONRPCTransport(http.DefaultClient))
	require.NoError(t, err)
	defer client.Destroy()

	send := func(skill, text string) *a2a.Task {
		t.Helper()
		msg := a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: text})
		res, err := client.SendMessage(ctx, &a2a.MessageSendParams{Message: msg, Metadata: map[string]any{"skill": skill}})
		require.NoError(t, err)
		task, ok := res.(*a2a.Task)
		require.True(t, ok, "%T", res)
		return task
	}
	text := func(task *a2a.Task) string { return task.Artifacts[0].Parts[0].(a2a.TextPart).Text }

	assert.Equal(t, "translate: bonjour", text(send("translate", "bonjour")), "by skill id")
	task := send("weather", "tomorrow?")
	assert.Equal(t, "weather: tomorrow?", text(task), "by tag")

	// Follow-up calls about a task go to the agent that owns it, without a skill.
	got, err := client.GetTask(ctx, &a2a.TaskQueryParams{ID: task.ID})
	require.NoError(t, err)
	assert.Equal(t, a2a.TaskStateCompleted, got.Status.State)

	// Streams are routed too (skill from the A2A-Skill header here).
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw+"/catalog", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"message/stream","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"text","text":"x"}]}}}`))
	req.Header.Set("A2A-Skill", "language")
	req.Header.Set("Content-Type", "application/json")
	sresp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(sresp.Body)
	sresp.Body.Close()
	assert.Equal(t, "text/event-stream", sresp.Header.Get("Content-Type"))
	assert.Contains(t, string(body), `"kind":"artifact-update"`)
	assert.Contains(t, string(body), `translate: x`)
	var resp map[string]any

	// No agent, no skill, unknown task: JSON-RPC errors.
	_, resp = rpc(t, gw+"/catalog?skill=cooking", `{"jsonrpc":"2.0","id":2,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]}}}`)
	assert.Equal(t, float64(-32602), resp["error"].(map[string]any)["code"])
	_, resp = rpc(t, gw+"/catalog", `{"jsonrpc":"2.0","id":3,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[]}}}`)
	assert.Equal(t, float64(-32602), resp["error"].(map[string]any)["code"])
	_, resp = rpc(t, gw+"/catalog", fmt.Sprintf(`{"jsonrpc":"2.0","id":4,"method":"tasks/get","params":{"id":%q}}`, "nope"))
	assert.Equal(t, float64(-32001), resp["error"].(map[string]any)["code"])
}

func TestCatalogValidates(t *testing.T) {
	c := a2agw.Catalog([]a2agw.Agent{{Name: "a", Path: "agents/a", Upstream: http.NotFoundHandler()}, {Name: "a", Path: "/b"}})
	err := c.Validate()
	require.ErrorIs(t, err, a2agw.ErrInvalidAgent)
	gw := agentgateway.New()
	require.ErrorIs(t, gw.Route("c").PathPrefix("/c").To(c), agentgateway.ErrInvalidConfig)
}
