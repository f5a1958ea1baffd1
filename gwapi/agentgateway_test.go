package gwapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

const agwGateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: agw
  listeners:
  - {name: http, protocol: HTTP, port: 8080}
`

// serveManifests translates manifests whose backends all dial upstream, and serves Gateway infra/gw.
func serveManifests(t *testing.T, manifests string, upstream http.Handler) (*gwapi.Result, string) {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	snap, err := gwapi.DecodeManifests(strings.NewReader(manifests))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", Logger: slog.New(slog.DiscardHandler),
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, up.Listener.Addr().String())
		}})
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	cfg, ok := res.Configs[types.NamespacedName{Namespace: "infra", Name: "gw"}]
	require.True(t, ok)
	require.NoError(t, gw.Apply(cfg))
	srv := httptest.NewServer(gw.PortHandler(8080))
	t.Cleanup(func() {
		_ = gw.Close() // closes the federations, ending their sessions
		srv.Close()
	})
	return res, srv.URL
}

func mcpServer(label string) http.Handler {
	s := sdk.NewServer(&sdk.Implementation{Name: label, Version: "1"}, nil)
	s.AddTool(&sdk.Tool{Name: "echo", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: label}}}, nil
	})
	// The gateway reaches it by its cluster name, not a loopback one.
	return sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, &sdk.StreamableHTTPOptions{DisableLocalhostProtection: true})
}

// An HTTPRoute whose backendRef is an AgentgatewayBackend of kind mcp is served as an MCP federation:
// an MCP client lists the target's tools (prefixed with the target name) and calls one through it.
func TestMCPBackendServedThroughHTTPRoute(t *testing.T) {
	res, url := serveManifests(t, agwGateway+`
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: tools, namespace: infra}
spec:
  mcp:
    targets:
    - name: everything
      static: {host: mcp.infra.svc.cluster.local, port: 80, protocol: StreamableHTTP}
    - name: other
      static: {host: other.infra.svc.cluster.local, port: 80, path: /mcp}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mcp, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /mcp}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
`, mcpServer("upstream"))
	require.Equal(t, "True", string(routeCond(t, res, "infra", "mcp", "ResolvedRefs").Status))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: url + "/mcp", MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer func() { _ = cs.Close() }()
	list, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	sort.Strings(names)
	require.Equal(t, []string{"everything_echo", "other_echo"}, names)
	out, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "everything_echo", Arguments: map[string]any{}})
	require.NoError(t, err)
	require.Equal(t, "upstream", out.Content[0].(*sdk.TextContent).Text)
}

// A backendRef to a missing AgentgatewayBackend, or to one in another namespace without a
// ReferenceGrant, is reported like a missing Service and answers 500.
func TestAgentgatewayBackendRefErrors(t *testing.T) {
	res, url := serveManifests(t, agwGateway+`
---
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: tools, namespace: apps}
spec: {static: {host: a, port: 80}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: missing, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /missing}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: nope}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cross, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /cross}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools, namespace: apps}]
`, http.NotFoundHandler())
	require.Equal(t, "BackendNotFound", routeCond(t, res, "infra", "missing", "ResolvedRefs").Reason)
	require.Equal(t, "RefNotPermitted", routeCond(t, res, "infra", "cross", "ResolvedRefs").Reason)
	for _, p := range []string{"/missing", "/cross"} {
		resp, err := http.Get(url + p)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode, p)
	}
}

// An AI backend sends the key from its Secret and the pinned model to the provider.
func TestAIBackendUsesSecretKeyAndModel(t *testing.T) {
	var gotAuth, gotModel string
	provider := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model string `json:"model"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		gotAuth, gotModel = r.Header.Get("Authorization"), body.Model
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","model":"gpt-pinned","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	})
	_, url := serveManifests(t, agwGateway+`
---
apiVersion: v1
kind: Secret
metadata: {name: openai, namespace: infra}
stringData: {Authorization: sk-test}
data: {Authorization: c2stdGVzdA==}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: openai, namespace: infra}
spec:
  ai:
    provider:
      openai: {model: gpt-pinned}
      host: llm.infra.svc.cluster.local
      port: 8000
  policies:
    auth: {secretRef: {name: openai}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llm, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: openai}]
`, provider)
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"whatever","messages":[{"role":"user","content":"hello"}]}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "Bearer sk-test", gotAuth)
	require.Equal(t, "gpt-pinned", gotModel)
}

// AgentgatewayPolicy attaches by targetRef: an API key policy on one named rule of an HTTPRoute
// guards only that rule, a rate limit on the Gateway is one budget shared by every route it serves
// (requests refused by authentication, which runs first, do not count), and a policy that does not translate attaches nothing and
// says why in its status.
func TestPolicyAttachmentByTargetRef(t *testing.T) {
	res, url := serveManifests(t, agwGateway+`
---
apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: infra}
data: {alice: c2VjcmV0LWE=}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - name: private
    matches: [{path: {type: PathPrefix, value: /private}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  - name: public
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: echo, namespace: infra}
spec: {static: {host: echo.infra, port: 80}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: keys, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: private}]
  traffic:
    apiKeyAuthentication: {secretRef: {name: keys}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: limit, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  traffic:
    rateLimit: {local: [{requests: 3, unit: Minutes}]}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: broken, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  traffic:
    rateLimit: {local: [{requests: 1, unit: Fortnights}]}
`, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	get := func(path, key string) int {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get("/public", ""), "the public rule has no key policy")
	require.Equal(t, http.StatusUnauthorized, get("/private", ""))
	require.Equal(t, http.StatusOK, get("/private", "secret-a"))
	require.Equal(t, http.StatusOK, get("/public", ""), "third admitted request, within the Gateway's limit of 3")
	require.Equal(t, http.StatusTooManyRequests, get("/public", ""), "the Gateway's budget is spent")
	require.Equal(t, http.StatusTooManyRequests, get("/private", "secret-a"), "on every route")

	st := res.Policies[types.NamespacedName{Namespace: "infra", Name: "limit"}]
	require.Len(t, st, 1)
	require.Equal(t, metav1.ConditionTrue, st[0].Conditions[0].Status)
	st = res.Policies[types.NamespacedName{Namespace: "infra", Name: "broken"}]
	require.Len(t, st, 1)
	require.Equal(t, metav1.ConditionFalse, st[0].Conditions[0].Status)
	require.Contains(t, st[0].Conditions[0].Message, "Fortnights")
}

// The example in examples/gatewayapi/mcp.yaml (Gateway + HTTPRoute + MCP AgentgatewayBackend +
// policy) is served: an MCP client lists both targets' tools through the Gateway.
func TestExampleMCPManifestServes(t *testing.T) {
	b, err := os.ReadFile("../examples/gatewayapi/mcp.yaml")
	require.NoError(t, err)
	manifests := strings.ReplaceAll(string(b), "namespace: demo", "namespace: infra")
	manifests = strings.ReplaceAll(manifests, "name: agents\n  namespace", "name: gw\n  namespace")
	manifests = strings.ReplaceAll(manifests, "- name: agents", "- name: gw")
	res, url := serveManifests(t, manifests, mcpServer("upstream"))
	require.Equal(t, "True", string(routeCond(t, res, "infra", "mcp", "Accepted").Status))
	st := res.Policies[types.NamespacedName{Namespace: "infra", Name: "mcp-limits"}]
	require.Len(t, st, 1)
	require.Equal(t, metav1.ConditionTrue, st[0].Conditions[0].Status)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: url + "/mcp", MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer func() { _ = cs.Close() }()
	list, err := cs.ListTools(ctx, nil)
	require.NoError(t, err)
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	sort.Strings(names)
	require.Equal(t, []string{"everything_echo", "fetch_echo"}, names)
}
