package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

// opsServer has a destructive tool "drop", a read-only "read", a tool without annotations "plain",
// and counts the calls that reach it.
func opsServer(calls *atomic.Int64) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "ops", Version: "1.0.0"}, nil)
	yes, no := true, false
	handler := func(name string) sdk.ToolHandler {
		return func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			calls.Add(1)
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: name + " done"}}}, nil
		}
	}
	schema := map[string]any{"type": "object"}
	s.AddTool(&sdk.Tool{Name: "drop", InputSchema: schema, Annotations: &sdk.ToolAnnotations{DestructiveHint: &yes}}, handler("drop"))
	s.AddTool(&sdk.Tool{Name: "read", InputSchema: schema, Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: &no}}, handler("read"))
	s.AddTool(&sdk.Tool{Name: "plain", InputSchema: schema}, handler("plain"))
	s.AddTool(&sdk.Tool{Name: "forbidden", InputSchema: schema, Annotations: &sdk.ToolAnnotations{DestructiveHint: &yes}}, handler("forbidden"))
	return s
}

// webhook is an approval service: decide answers each request (nil: hold until the request ends).
type webhook struct {
	got       chan mcp.ApprovalRequest
	cancelled chan struct{}
	decide    func(mcp.ApprovalRequest) *mcp.ApprovalDecision
}

func newWebhook(t *testing.T, decide func(mcp.ApprovalRequest) *mcp.ApprovalDecision) (*webhook, string) {
	wh := &webhook{got: make(chan mcp.ApprovalRequest, 10), cancelled: make(chan struct{}, 10), decide: decide}
	ts := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req mcp.ApprovalRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("X-Approval-Token") != "s3cret" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		wh.got <- req
		d := wh.decide(req)
		if d == nil {
			<-r.Context().Done()
			wh.cancelled <- struct{}{}
			return
		}
		_ = json.NewEncoder(w).Encode(d)
	}))
	return wh, ts.URL
}

// approvalGateway serves opsServer behind a federation with the approval policy, an identity set by
// an authentication-phase policy, and an mcpAuthorization rule denying "forbidden".
func approvalGateway(t *testing.T, calls *atomic.Int64, hook string, timeout time.Duration) string {
	t.Helper()
	up := serveHTTP(t, opsServer(calls), nil)
	f := mcp.New(mcp.Config{
		Targets: []mcp.Target{mcp.HTTPTarget("ops", up.URL)},
		Approval: &mcp.Approval{
			When:    "!mcp.tool.annotations.readOnlyHint && mcp.tool.annotations.destructiveHint",
			Webhook: hook, Timeout: timeout, Headers: http.Header{"X-Approval-Token": {"s3cret"}},
		},
	})
	require.NoError(t, f.Validate())
	identify := agentgateway.NewPolicy(agentgateway.PhaseAuthn, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := agentgateway.StateFrom(r.Context())
			st.Identity.Subject = "alice"
			st.Identity.JWT = map[string]any{"sub": "alice", "team": "ops"}
			next.ServeHTTP(w, r)
		})
	})
	rules := cel.MustCompileRules(cel.Deny(`mcp.tool.name == "forbidden"`))
	gw := agentgateway.New()
	require.NoError(t, gw.Route("mcp").PathPrefix("/mcp").Use(identify, mcp.Authorization(rules)).To(f))
	return newServer(t, gw, f).URL + "/mcp"
}

func rpcCode(t *testing.T, err error) int {
	t.Helper()
	var we *jsonrpc.Error
	require.True(t, errors.As(err, &we), "%T %v", err, err)
	return int(we.Code)
}

// TestApprovalAllows: the webhook gets the call's target, tool, arguments, annotations and identity;
// its allow lets the call through.
func TestApprovalAllows(t *testing.T) {
	var calls atomic.Int64
	wh, hook := newWebhook(t, func(mcp.ApprovalRequest) *mcp.ApprovalDecision { return &mcp.ApprovalDecision{Allow: true} })
	cs := connect(t, approvalGateway(t, &calls, hook, 0), nil)
	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "drop", Arguments: map[string]any{"table": "users"}})
	require.NoError(t, err)
	assert.Equal(t, "drop done", text(t, res))
	var req mcp.ApprovalRequest
	select {
	case req = <-wh.got:
	default:
		t.Fatal("the webhook was not asked")
	}
	assert.Equal(t, "ops", req.Target)
	assert.Equal(t, "drop", req.Tool)
	assert.JSONEq(t, `{"table":"users"}`, string(req.Arguments))
	assert.Equal(t, true, req.Annotations["destructiveHint"])
	assert.Equal(t, "alice", req.Identity.Subject)
	assert.Equal(t, "ops", req.Identity.JWT["team"])
	assert.Equal(t, int64(1), calls.Load())
}

// TestApprovalDenies: a denial never reaches the target, and the client gets a JSON-RPC error with
// CodeApprovalDenied and the reason. An elicitation handler that would accept anything is never asked:
// the client cannot approve its own call.
func TestApprovalDenies(t *testing.T) {
	var calls, elicited atomic.Int64
	_, hook := newWebhook(t, func(mcp.ApprovalRequest) *mcp.ApprovalDecision {
		return &mcp.ApprovalDecision{Allow: false, Reason: "change freeze"}
	})
	cs := connect(t, approvalGateway(t, &calls, hook, 0), &sdk.ClientOptions{
		ElicitationHandler: func(context.Context, *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			elicited.Add(1)
			return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"approve": true}}, nil
		},
	})
	for _, name := range []string{"drop", "plain"} { // plain: no annotations, so destructive by default
		_, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: name})
		require.Error(t, err, name)
		assert.Equal(t, mcp.CodeApprovalDenied, rpcCode(t, err))
		assert.Contains(t, err.Error(), "tools/call not approved: denied: change freeze")
	}
	assert.Zero(t, calls.Load())
	assert.Zero(t, elicited.Load())
}

// TestApprovalTimeout: no answer within the timeout denies.
func TestApprovalTimeout(t *testing.T) {
	var calls atomic.Int64
	wh, hook := newWebhook(t, func(mcp.ApprovalRequest) *mcp.ApprovalDecision { return nil })
	cs := connect(t, approvalGateway(t, &calls, hook, 50*time.Millisecond), nil)
	_, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "drop"})
	require.Error(t, err)
	assert.Equal(t, mcp.CodeApprovalDenied, rpcCode(t, err))
	assert.Contains(t, err.Error(), "approval timed out")
	select { // the pending webhook request was abandoned, not leaked
	case <-wh.cancelled:
	case <-ctxT(t).Done():
		t.Fatal("the webhook request was not cancelled")
	}
	assert.Zero(t, calls.Load())
}

// TestApprovalWebhookFails: a webhook error status denies, without showing the client its details.
func TestApprovalWebhookFails(t *testing.T) {
	var calls atomic.Int64
	hook := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "internal detail", http.StatusInternalServerError)
	})).URL
	cs := connect(t, approvalGateway(t, &calls, hook, 0), nil)
	_, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "drop"})
	require.Error(t, err)
	assert.Equal(t, mcp.CodeApprovalDenied, rpcCode(t, err))
	assert.Contains(t, err.Error(), "approval unavailable")
	assert.NotContains(t, err.Error(), "internal detail")
	assert.Zero(t, calls.Load())
}

// TestApprovalClientGone: when the client disconnects while its call is held, the webhook request
// is cancelled and the call never reaches the target.
func TestApprovalClientGone(t *testing.T) {
	var calls atomic.Int64
	wh, hook := newWebhook(t, func(mcp.ApprovalRequest) *mcp.ApprovalDecision { return nil })
	url := approvalGateway(t, &calls, hook, time.Hour)
	sid := initSession(t, url)
	ctx, cancel := context.WithCancel(ctxT(t))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"drop","arguments":{}}}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-wh.got:
	case <-ctxT(t).Done():
		t.Fatal("the call was not held for approval")
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	select {
	case <-wh.cancelled:
	case <-ctxT(t).Done():
		t.Fatal("the webhook request outlived the client")
	}
	assert.Zero(t, calls.Load())
}

// TestApprovalScope: tools the rule does not select are not held, and mcpAuthorization still
// answers a denied tool as unknown without asking the webhook.
func TestApprovalScope(t *testing.T) {
	var calls atomic.Int64
	wh, hook := newWebhook(t, func(mcp.ApprovalRequest) *mcp.ApprovalDecision { return &mcp.ApprovalDecision{Allow: true} })
	cs := connect(t, approvalGateway(t, &calls, hook, 0), nil)
	res, err := cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "read"})
	require.NoError(t, err)
	assert.Equal(t, "read done", text(t, res))
	_, err = cs.CallTool(ctxT(t), &sdk.CallToolParams{Name: "forbidden"})
	require.ErrorContains(t, err, `unknown tool "forbidden"`)
	assert.NotContains(t, toolNames(t, cs), "forbidden")
	assert.Equal(t, int64(1), calls.Load())
	select {
	case r := <-wh.got:
		t.Fatalf("webhook asked about %s", r.Tool)
	default:
	}
}

// TestApprovalConfigErrors: a bad webhook URL or rule is a configuration error at its field.
func TestApprovalConfigErrors(t *testing.T) {
	for _, a := range []mcp.Approval{{Webhook: "ftp://x"}, {Webhook: "http://x", When: "mcp.tool.name =="}, {Webhook: "http://x", When: `"not bool"`}} {
		f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("a", pinServer(""))}, Approval: &a})
		err := f.Validate()
		require.Error(t, err)
		assert.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
		assert.Contains(t, err.Error(), "approval.")
		require.NoError(t, f.Close())
	}
}
