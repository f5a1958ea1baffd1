package mcp_test

import (
	"github.com/agentgw/agentgateway/internal/logbuf"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

// The federation describes each call before the route's policies run, so a plain route policy — here a
// CEL rule on mcp.tool.name, as `authorization` or a rate limit would use it — sees the tool, its
// target and the method, with no MCP-specific wiring.
func TestRoutePoliciesSeeTheMCPCall(t *testing.T) {
	f := mcp.Federate(mcp.ServerTarget("a", demoServer("a")), mcp.ServerTarget("b", demoServer("b")))
	rules := cel.MustCompileRules(cel.Deny(`mcp.tool.name == "secret" && mcp.tool.target == "b"`))
	var seen []agentgateway.MCPState
	authz := agentgateway.NewPolicy(agentgateway.PhaseAuthz, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := agentgateway.StateFrom(r.Context())
			if r.Method == http.MethodPost {
				seen = append(seen, st.MCP)
			}
			if !rules.Allowed(r.Context(), cel.NewActivation(r, st)) {
				http.Error(w, "denied by the route", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	gw := agentgateway.New(agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(authz).To(f))
	cs := connect(t, newServer(t, gw, f).URL+"/mcp", nil)
	ctx := ctxT(t)

	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "a_secret"})
	require.NoError(t, err)
	require.Equal(t, "secret of a", text(t, res))
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "b_echo", Arguments: map[string]any{"text": "hi"}})
	require.NoError(t, err)
	require.Equal(t, "b:hi", text(t, res))
	// An HTTP 403 ends the go-sdk client's session, so this call comes last.
	_, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "b_secret"})
	require.ErrorContains(t, err, "Forbidden", "the route's rule saw target b and tool secret")

	var calls []agentgateway.MCPState
	for _, s := range seen {
		if s.Method == "tools/call" {
			calls = append(calls, s)
		}
	}
	require.Len(t, calls, 3)
	require.Equal(t, "a", calls[0].ToolTarget)
	require.Equal(t, "secret", calls[0].ToolName)
	require.Equal(t, "b", calls[1].ToolTarget)
	require.Equal(t, "echo", calls[1].ToolName)
	require.NotEmpty(t, calls[1].SessionID, "the session id is known to policies too")
	require.Equal(t, agentgateway.MCPState{Method: "tools/call", SessionID: calls[1].SessionID, Target: "b", Name: "secret",
		ToolTarget: "b", ToolName: "secret"}, calls[2])
	var methods []string
	for _, s := range seen {
		methods = append(methods, s.Method)
	}
	require.Contains(t, methods, "initialize")
}

// A federation built without a logger logs through the gateway's (agentgateway.Provisioner).
func TestFederationLogsThroughTheGateway(t *testing.T) {
	var buf syncBuffer
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("a", demoServer("a")), mcp.ServerTarget("b", demoServer("b"))}, Prefix: mcp.PrefixNever})
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").To(f))
	cs := connect(t, newServer(t, gw, f).URL+"/mcp", nil)
	toolNames(t, cs)
	require.Contains(t, buf.String(), "dropping a name that several targets share")
	require.Contains(t, buf.String(), "component=mcp")
}

type syncBuffer = logbuf.Buffer

// HTTP targets are reached through the gateway's transport hook (trace propagation, client metrics).
func TestFederationUsesTheGatewayTransportHook(t *testing.T) {
	up := serveHTTP(t, demoServer("a"), nil)
	var hooked atomic.Int32
	gw := agentgateway.New(agentgateway.WithAccessLog(false), agentgateway.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			hooked.Add(1)
			return rt.RoundTrip(r)
		})
	}))
	f := mcp.Federate(mcp.HTTPTarget("a", up.URL))
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").To(f))
	cs := connect(t, newServer(t, gw, f).URL+"/mcp", nil)
	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
	require.NoError(t, err)
	require.Equal(t, "a:x", text(t, res))
	require.GreaterOrEqual(t, hooked.Load(), int32(2), "initialize and the call went through the hook")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
