package a2a_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/a2asrv"

	agentgateway "github.com/agentgw/agentgateway"
	a2agw "github.com/agentgw/agentgateway/a2a"
)

// An agent behind the gateway: its card, read through the gateway, leads back to the gateway.
func ExampleProxy() {
	agent := http.NewServeMux() // an a2a-go agent; usually agentgateway.HTTP("http://agent:9999")
	agent.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&a2a.AgentCard{
		Name: "echo", URL: "http://echo.internal:9999/", PreferredTransport: a2a.TransportProtocolJSONRPC,
		ProtocolVersion: "0.3.0", DefaultInputModes: []string{"text/plain"}, DefaultOutputModes: []string{"text/plain"},
		Skills: []a2a.AgentSkill{{ID: "echo", Name: "Echo", Tags: []string{"echo"}}},
	}))
	agent.Handle("/", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(echoExecutor{})))

	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	_ = gw.Route("echo").PathPrefix("/agents/echo").RewritePrefix("/").To(a2agw.Proxy(agent))
	srv := httptest.NewServer(gw)
	defer srv.Close()

	card, err := agentcard.DefaultResolver.Resolve(context.Background(), srv.URL+"/agents/echo")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.Replace(card.URL, srv.URL, "http://gateway", 1))

	resp, err := http.Post(srv.URL+"/agents/echo/", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tasks/explode"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// http://gateway/agents/echo/
	// {"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found: tasks/explode"}}
}

// ParseCall reads what the A2A layer records in State.A2A from a request body of either wire version.
func ExampleParseCall() {
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tasks/cancel","params":{"id":"task-7"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"SendMessage","params":{"message":{"messageId":"m","contextId":"ctx-1","role":"ROLE_USER","parts":[{"text":"hi"}]},"metadata":{"skill":"translate"}}}`,
	} {
		c, err := a2agw.ParseCall([]byte(body))
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s v%s task=%q context=%q skill=%q stream=%v\n", c.Method, c.Version, c.TaskID, c.ContextID, c.Skill, c.Stream)
	}
	// Output:
	// tasks/cancel v0.3 task="task-7" context="" skill="" stream=false
	// SendMessage v1.0 task="" context="ctx-1" skill="translate" stream=false
}

// Only admins may cancel tasks; everything else is allowed.
func ExampleAuthorize() {
	proxy := a2agw.Proxy(http.NotFoundHandler(),
		a2agw.Authorize(`!(a2a.method in ["tasks/cancel", "CancelTask"]) || jwt.role == "admin"`))
	if err := proxy.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tasks/cancel","params":{"id":"t"}}`))
	proxy.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 403 {"jsonrpc":"2.0","id":1,"error":{"code":-32040,"message":"Forbidden: tasks/cancel is not allowed for this caller"}}
}

// A catalog of two agents: it lists them, and a message naming a skill goes to the agent offering it.
func ExampleCatalog() {
	weather := goAgentHandler(echoCard("weather", "http://weather.internal/rpc", a2a.AgentSkill{ID: "forecast", Name: "Forecast", Tags: []string{"weather"}}), "weather")
	translate := goAgentHandler(echoCard("translate", "http://translate.internal/rpc", a2a.AgentSkill{ID: "translate", Name: "Translate"}), "translate")

	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	_ = gw.Route("weather").PathPrefix("/agents/weather").RewritePrefix("/").To(a2agw.Proxy(weather))
	_ = gw.Route("translate").PathPrefix("/agents/translate").RewritePrefix("/").To(a2agw.Proxy(translate))
	_ = gw.Route("catalog").PathPrefix("/catalog").To(a2agw.Catalog([]a2agw.Agent{
		{Name: "weather", Path: "/agents/weather", Upstream: weather},
		{Name: "translate", Path: "/agents/translate", Upstream: translate},
	}))
	srv := httptest.NewServer(gw)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/catalog/")
	if err != nil {
		fmt.Println(err)
		return
	}
	var list struct{ Agents []struct{ Name, URL string } }
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	for _, a := range list.Agents {
		fmt.Println(a.Name, strings.Replace(a.URL, srv.URL, "http://gateway", 1))
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/catalog", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"text","text":"rain?"}]}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("A2A-Skill", "weather") // a tag of the weather agent's forecast skill
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var out struct {
		Result struct {
			Artifacts []struct{ Parts []struct{ Text string } }
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	fmt.Println(out.Result.Artifacts[0].Parts[0].Text)
	// Output:
	// weather http://gateway/agents/weather/
	// translate http://gateway/agents/translate/
	// weather: rain?
}
