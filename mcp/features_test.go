package mcp_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

func TestAuthorizationFiltersListsAndCalls(t *testing.T) {
	alpha := serveHTTP(t, demoServer("alpha"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	rules := cel.MustCompileRules(
		cel.Allow(`mcp.tool.name == "echo"`),
		cel.Allow(`jwt.role == "admin"`),
		cel.Allow(`mcp.prompt.name == "greet" && mcp.prompt.target == "beta"`),
		cel.Allow(`mcp.resource.target == "alpha"`),
	)
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", alpha.URL), mcp.ServerTarget("beta", demoServer("beta"))}, Authorization: rules})
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	// A stand-in for the JWT policy: it fills the identity the rules read.
	claims := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if role := r.Header.Get("X-Test-Role"); role != "" {
				agentgateway.StateFrom(r.Context()).Identity.JWT = map[string]any{"role": role}
			}
			next.ServeHTTP(w, r)
		})
	}
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(agentgateway.NewPolicy(agentgateway.PhaseAuthn, claims)).To(f))
	ts := newServer(t, gw, f)

	cs := connect(t, ts.URL+"/mcp", nil)
	names := toolNames(t, cs)
	sort.Strings(names)
	assert.Equal(t, []string{"alpha_echo", "beta_echo"}, names)

	ctx := ctxT(t)
	_, errDenied := cs.CallTool(ctx, &sdk.CallToolParams{Name: "alpha_secret"})
	_, errUnknown := cs.CallTool(ctx, &sdk.CallToolParams{Name: "alpha_nope"})
	require.Error(t, errDenied)
	require.Error(t, errUnknown)
	assert.Equal(t, errUnknown.Error(), replaceName(errDenied.Error(), "alpha_secret", "alpha_nope"), "denied looks exactly like unknown")

	var prompts []string
	for p, err := range cs.Prompts(ctx, nil) {
		require.NoError(t, err)
		prompts = append(prompts, p.Name)
	}
	assert.Equal(t, []string{"beta_greet"}, prompts)
	_, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "alpha_greet"})
	assert.Error(t, err)

	var uris []string
	for r, err := range cs.Resources(ctx, nil) {
		require.NoError(t, err)
		uris = append(uris, r.URI)
	}
	assert.Equal(t, []string{"alpha+demo://alpha/readme"}, uris)

	// An admin (per the JWT claims in the request state) sees and calls everything.
	r := do(t, http.MethodPost, ts.URL+"/mcp", "", initBody, "X-Test-Role", "admin")
	sid := r.header.Get("Mcp-Session-Id")
	r = do(t, http.MethodPost, ts.URL+"/mcp", sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"alpha_secret","arguments":{}}}`, "X-Test-Role", "admin")
	assert.Contains(t, string(r.body), "secret of alpha")
}

func replaceName(s, from, to string) string {
	out := ""
	for {
		i := indexOf(s, from)
		if i < 0 {
			return out + s
		}
		out += s[:i] + to
		s = s[i+len(from):]
	}
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestAuthorizationPolicy attaches rules with the route policy instead of the config.
func TestAuthorizationPolicy(t *testing.T) {
	f := mcp.Federate(mcp.ServerTarget("beta", demoServer("beta")))
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	rules := cel.MustCompileRules(cel.Deny(`mcp.tool.name.startsWith("s")`))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(mcp.Authorization(rules)).To(f))
	ts := newServer(t, gw, f)
	cs := connect(t, ts.URL+"/mcp", nil)
	assert.ElementsMatch(t, []string{"echo", "progress", "ask"}, toolNames(t, cs), "one target: bare names (conditional)")
}

// TestAuthorizationDenyWinsAndDenyByDefault: mcp applies cel.RuleSet's meaning per tool. A tool no allow
// rule matches is hidden and refused (deny by default), and a deny rule hides a tool an allow rule
// matches (deny wins).
func TestAuthorizationDenyWinsAndDenyByDefault(t *testing.T) {
	f := mcp.Federate(mcp.ServerTarget("beta", demoServer("beta")))
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	rules := cel.MustCompileRules(cel.Allow(`mcp.tool.name != "progress"`), cel.Deny(`mcp.tool.name == "ask"`))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(mcp.Authorization(rules)).To(f))
	ts := newServer(t, gw, f)
	cs := connect(t, ts.URL+"/mcp", nil)
	assert.ElementsMatch(t, []string{"echo", "secret"}, toolNames(t, cs))
	ctx := ctxT(t)
	for _, name := range []string{"progress", "ask"} {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name})
		assert.Error(t, err, name)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
	require.NoError(t, err)
	assert.Equal(t, "beta:x", text(t, res))
}

func TestPrefixModesAndFilters(t *testing.T) {
	t.Run("always", func(t *testing.T) {
		f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("one", demoServer("one"))}, Prefix: mcp.PrefixAlways})
		cs := connect(t, gateway(t, f).URL+"/mcp", nil)
		assert.Contains(t, toolNames(t, cs), "one_echo")
		res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "one_echo", Arguments: map[string]any{"text": "x"}})
		require.NoError(t, err)
		assert.Equal(t, "one:x", text(t, res))
	})
	t.Run("never routes by lookup and drops shared names", func(t *testing.T) {
		a := mcp.ServerTarget("a", demoServer("a"))
		a.Tools = mcp.ToolFilter{Rename: map[string]string{"secret": "a-secret"}, Descriptions: map[string]string{"echo": "the echo of a"}}
		b := mcp.ServerTarget("b", demoServer("b"))
		b.Tools = mcp.ToolFilter{Include: []string{"echo", "secret"}}
		f := mcp.New(mcp.Config{Targets: []mcp.Target{a, b}, Prefix: mcp.PrefixNever})
		cs := connect(t, gateway(t, f).URL+"/mcp", nil)
		// echo is served by both, so it is dropped; secret only by b once a's is renamed.
		assert.ElementsMatch(t, []string{"a-secret", "secret", "progress", "ask"}, toolNames(t, cs))
		ctx := ctxT(t)
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "a-secret"})
		require.NoError(t, err)
		assert.Equal(t, "secret of a", text(t, res))
		res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "secret"})
		require.NoError(t, err)
		assert.Equal(t, "secret of b", text(t, res))
		_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
		assert.Error(t, err, "a shared name is not routable")
	})
	t.Run("filters", func(t *testing.T) {
		a := mcp.ServerTarget("a", demoServer("a"))
		a.Tools = mcp.ToolFilter{Include: []string{"e*", "p*"}, Exclude: []string{"progress"}, Descriptions: map[string]string{"echo": "custom"}}
		f := mcp.Federate(a)
		cs := connect(t, gateway(t, f).URL+"/mcp", nil)
		res, err := cs.ListTools(ctxT(t), nil)
		require.NoError(t, err)
		require.Len(t, res.Tools, 1)
		assert.Equal(t, "echo", res.Tools[0].Name)
		assert.Equal(t, "custom", res.Tools[0].Description)
		_, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "progress"})
		assert.Error(t, err, "excluded tools cannot be called")
	})
}

// TestListPaging follows upstream pages and pages the merged list with the gateway's cursor.
func TestListPaging(t *testing.T) {
	big := func(label string) *sdk.Server {
		s := sdk.NewServer(&sdk.Implementation{Name: label, Version: "1"}, &sdk.ServerOptions{PageSize: 3})
		for i := range 7 {
			s.AddTool(&sdk.Tool{Name: fmt.Sprintf("t%d", i), InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
				return &sdk.CallToolResult{}, nil
			})
		}
		return s
	}
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("a", big("a")), mcp.ServerTarget("b", big("b"))}, PageSize: 5})
	cs := connect(t, gateway(t, f).URL+"/mcp", nil)
	ctx := ctxT(t)
	first, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	assert.Len(t, first.Tools, 5)
	assert.NotEmpty(t, first.NextCursor, "the merged list is paged, not truncated")
	assert.Len(t, toolNames(t, cs), 14, "every page of every target")
}

func TestStatelessMode(t *testing.T) {
	alpha := serveHTTP(t, demoServer("alpha"), &sdk.StreamableHTTPOptions{JSONResponse: true})
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", alpha.URL), mcp.ServerTarget("beta", demoServer("beta"))}, Stateless: true})
	gw := gateway(t, f)
	r := do(t, http.MethodPost, gw.URL+"/mcp", "", initBody)
	require.Equal(t, http.StatusOK, r.status)
	assert.Empty(t, r.header.Get("Mcp-Session-Id"))
	r = do(t, http.MethodPost, gw.URL+"/mcp", "", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"beta_echo","arguments":{"text":"s"}}}`)
	assert.Contains(t, string(r.body), "beta:s")
	assert.Equal(t, http.StatusMethodNotAllowed, do(t, http.MethodGet, gw.URL+"/mcp", "", "").status)

	cs := connect(t, gw.URL+"/mcp", nil)
	assert.Len(t, toolNames(t, cs), 8)
	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "alpha_echo", Arguments: map[string]any{"text": "x"}})
	require.NoError(t, err)
	assert.Equal(t, "alpha:x", text(t, res))
}

// TestLegacySSE serves an old HTTP+SSE client, with an HTTP+SSE target among the targets.
func TestLegacySSE(t *testing.T) {
	sseUp := newHTTPServer(t, sdk.NewSSEHandler(func(*http.Request) *sdk.Server { return demoServer("old") }, nil))
	f := mcp.Federate(mcp.SSETarget("old", sseUp.URL), mcp.ServerTarget("new", demoServer("new")))
	gw := gateway(t, f)
	c := sdk.NewClient(&sdk.Implementation{Name: "legacy", Version: "1"}, &sdk.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "Bob"}}, nil
		},
	})
	cs, err := c.Connect(ctxT(t), &sdk.SSEClientTransport{Endpoint: gw.URL + "/mcp/sse"}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	assert.ElementsMatch(t, []string{"old_echo", "old_secret", "old_progress", "old_ask", "new_echo", "new_secret", "new_progress", "new_ask"}, toolNames(t, cs))
	for _, target := range []string{"old", "new"} {
		res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: target + "_echo", Arguments: map[string]any{"text": "sse"}})
		require.NoError(t, err)
		assert.Equal(t, target+":sse", text(t, res))
		res, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: target + "_ask"})
		require.NoError(t, err)
		assert.Equal(t, target+" got accept Bob", text(t, res))
	}
}

// TestStateFilled checks the per-request state the access log and CEL read.
func TestStateFilled(t *testing.T) {
	f := mcp.Federate(mcp.ServerTarget("a", demoServer("a")), mcp.ServerTarget("b", demoServer("b")))
	var seen []agentgateway.MCPState
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			seen = append(seen, agentgateway.StateFrom(r.Context()).MCP)
		})
	}
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(agentgateway.PolicyFunc(record)).To(f))
	ts := newServer(t, gw, f)
	sid := initSession(t, ts.URL+"/mcp")
	do(t, http.MethodPost, ts.URL+"/mcp", sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"b_echo","arguments":{"text":"s"}}}`)
	require.Len(t, seen, 2)
	assert.Equal(t, "initialize", seen[0].Method)
	assert.Equal(t, sid, seen[0].SessionID)
	assert.Equal(t, agentgateway.MCPState{Method: "tools/call", SessionID: sid, Target: "b", Name: "echo", ToolTarget: "b", ToolName: "echo"}, seen[1])
}

// TestListChangedReachesClient relays a target's list_changed notification on the client's GET stream.
func TestListChangedReachesClient(t *testing.T) {
	srv := demoServer("dyn")
	up := serveHTTP(t, demoServer("web"), nil)
	f := mcp.Federate(mcp.ServerTarget("dyn", srv), mcp.HTTPTarget("web", up.URL))
	gw := gateway(t, f)
	changed := make(chan struct{}, 10)
	cs := connect(t, gw.URL+"/mcp", &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { changed <- struct{}{} },
	})
	require.Len(t, toolNames(t, cs), 8)
	srv.AddTool(&sdk.Tool{Name: "late", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "late"}}}, nil
	})
	select {
	case <-changed:
	case <-ctxT(t).Done():
		t.Fatal("no list_changed notification")
	}
	assert.Contains(t, toolNames(t, cs), "dyn_late")
}

// TestForwardAuthorizationAndHeaders passes the client's Authorization only to targets configured to
// receive it, and adds per-target headers.
func TestForwardAuthorizationAndHeaders(t *testing.T) {
	type seen struct{ auth, extra string }
	record := func(label string, into chan<- seen) http.Handler {
		h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return demoServer(label) }, &sdk.StreamableHTTPOptions{JSONResponse: true})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") != "" {
				select {
				case into <- seen{r.Header.Get("Authorization"), r.Header.Get("X-Extra")}:
				default:
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	aSeen, bSeen := make(chan seen, 100), make(chan seen, 100)
	a := newHTTPServer(t, record("a", aSeen))
	b := newHTTPServer(t, record("b", bSeen))
	ta := mcp.HTTPTarget("a", a.URL)
	ta.ForwardAuthorization = true
	tb := mcp.HTTPTarget("b", b.URL)
	tb.Headers = http.Header{"X-Extra": {"for-b"}}
	gw := gateway(t, mcp.Federate(ta, tb))
	url := gw.URL + "/mcp"
	r := do(t, http.MethodPost, url, "", initBody, "Authorization", "Bearer client-token")
	sid := r.header.Get("Mcp-Session-Id")
	for _, name := range []string{"a_echo", "b_echo"} {
		r = do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"`+name+`","arguments":{"text":"x"}}}`, "Authorization", "Bearer client-token")
		require.Equal(t, http.StatusOK, r.status)
	}
	assert.Equal(t, seen{"Bearer client-token", ""}, <-aSeen)
	assert.Equal(t, seen{"", "for-b"}, <-bSeen)
}

// TestLoggingAndResourceUpdatedReachClient relays logging messages (after the client's
// logging/setLevel reached the target) and notifications/resources/updated for a subscribed resource,
// whose URI the client sees prefixed with the target.
func TestLoggingAndResourceUpdatedReachClient(t *testing.T) {
	const uri = "demo://w/status"
	srv := sdk.NewServer(&sdk.Implementation{Name: "w", Version: "1"}, &sdk.ServerOptions{
		SubscribeHandler:   func(context.Context, *sdk.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *sdk.UnsubscribeRequest) error { return nil },
	})
	srv.AddResource(&sdk.Resource{URI: uri, Name: "status", MIMEType: "text/plain"}, func(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
		return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, Text: "ok"}}}, nil
	})
	sdk.AddTool(srv, &sdk.Tool{Name: "log", Description: "logs"}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
		err := req.Session.Log(ctx, &sdk.LoggingMessageParams{Level: "warning", Logger: "w", Data: "careful"})
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "logged"}}}, nil, err
	})
	up := serveHTTP(t, srv, nil)
	f := mcp.Federate(mcp.HTTPTarget("w", up.URL), mcp.ServerTarget("other", demoServer("other")))
	gw := gateway(t, f)
	logs := make(chan *sdk.LoggingMessageParams, 10)
	updated := make(chan string, 10)
	cs := connect(t, gw.URL+"/mcp", &sdk.ClientOptions{
		LoggingMessageHandler:  func(_ context.Context, req *sdk.LoggingMessageRequest) { logs <- req.Params },
		ResourceUpdatedHandler: func(_ context.Context, req *sdk.ResourceUpdatedNotificationRequest) { updated <- req.Params.URI },
	})
	ctx := ctxT(t)

	require.NoError(t, cs.SetLoggingLevel(ctx, &sdk.SetLoggingLevelParams{Level: "debug"}))
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "w_log"})
	require.NoError(t, err)
	require.Equal(t, "logged", text(t, res))
	select {
	case m := <-logs:
		assert.Equal(t, sdk.LoggingLevel("warning"), m.Level)
		assert.Equal(t, "careful", m.Data)
	case <-ctx.Done():
		t.Fatal("no logging notification reached the client")
	}

	require.NoError(t, cs.Subscribe(ctx, &sdk.SubscribeParams{URI: "w+" + uri}))
	require.NoError(t, srv.ResourceUpdated(ctx, &sdk.ResourceUpdatedNotificationParams{URI: uri}))
	select {
	case got := <-updated:
		assert.Equal(t, "w+"+uri, got, "the update names the URI as the client knows it")
	case <-ctx.Done():
		t.Fatal("no resources/updated notification reached the client")
	}
}
