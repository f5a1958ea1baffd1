package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
)

// DefaultApprovalTimeout is how long a held call waits for its approval when [Approval.Timeout] is
// not set.
const DefaultApprovalTimeout = 60 * time.Second

// CodeApprovalDenied is the JSON-RPC error code of a tools/call that was held for approval and not
// approved: denied, timed out, or the approval webhook failed. It is in JSON-RPC's range for
// implementation-defined server errors, clear of the codes MCP and its SDKs give meanings to.
const CodeApprovalDenied = -32060

// ErrNotApproved is the cause of every refusal of a held call; the ones below wrap it.
var (
	ErrNotApproved     = errors.New("mcp: call not approved")
	errApprovalDenied  = fmt.Errorf("%w: denied", ErrNotApproved)
	errApprovalTimeout = fmt.Errorf("%w: no approval in time", ErrNotApproved)
)

// Approval holds the tools/call requests that When selects until an out-of-band approval arrives:
// the federation POSTs an [ApprovalRequest] to Webhook and forwards the call only when the answer is
// 200 with {"allow": true}. Any other answer, an unreachable webhook or no answer within Timeout
// denies, and the client gets a JSON-RPC error with code [CodeApprovalDenied]. When the client goes
// away the webhook request is cancelled and the call is never forwarded.
//
// Approval is only ever asked of the webhook: the gateway never asks the client (no elicitation), so
// nothing a client answers can approve its own call. Authorization applies first: a call the client
// may not make is answered as unknown, without asking the webhook.
type Approval struct {
	// When is a CEL expression selecting the calls to hold, for example
	// `!mcp.tool.annotations.readOnlyHint && mcp.tool.annotations.destructiveHint`. It sees the
	// variables of authorization rules (jwt, source, request, ...), and mcp.tool with name, target,
	// description, arguments and annotations: title, readOnlyHint, destructiveHint, idempotentHint and
	// openWorldHint, with the MCP defaults for hints the target does not give (destructiveHint and
	// openWorldHint true, the others false). An evaluation error holds the call. Empty: every call.
	// Annotations are the target's own: pin its tools ([Config.Pins]) so it cannot drop a hint later.
	When string
	// Webhook is the http(s) URL the approval requests are POSTed to.
	Webhook string
	// Timeout is how long a call waits for the webhook's answer (default DefaultApprovalTimeout).
	Timeout time.Duration
	// Headers are added to each webhook request (a credential for the approval service, say).
	Headers http.Header
	// HTTPClient sends the webhook requests (default: the federation's pooled client).
	HTTPClient *http.Client
}

// ApprovalRequest is the JSON body POSTed to an approval webhook.
type ApprovalRequest struct {
	// Target and Tool name the tool as the target knows it.
	Target string `json:"target"`
	Tool   string `json:"tool"`
	// Arguments are the call's arguments as the client sent them.
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Annotations are the tool's annotations, MCP defaults filled in.
	Annotations map[string]any `json:"annotations"`
	// Identity is what authentication established about the caller.
	Identity ApprovalIdentity `json:"identity"`
}

// ApprovalIdentity is the caller of a held call.
type ApprovalIdentity struct {
	// Subject is the principal's name (JWT "sub", API key name, basic-auth user).
	Subject string `json:"subject,omitempty"`
	// JWT holds the verified claims of the caller's JWT.
	JWT map[string]any `json:"jwt,omitempty"`
}

// ApprovalDecision is the webhook's answer.
type ApprovalDecision struct {
	Allow bool `json:"allow"`
	// Reason is passed to the client in the error of a denied call.
	Reason string `json:"reason,omitempty"`
}

// approver is a compiled Approval.
type approver struct {
	Approval
	when *cel.Program
}

func (a *Approval) compile() (*approver, error) {
	ap := &approver{Approval: *a}
	if ap.Timeout <= 0 {
		ap.Timeout = DefaultApprovalTimeout
	}
	if u, err := url.Parse(a.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ap, agentgateway.Errorf("approval.webhook", "%q is not an http(s) URL", a.Webhook)
	}
	if a.When != "" {
		p, err := cel.Compile(a.When, celgo.BoolType)
		if err != nil {
			return ap, agentgateway.Errorf("approval.when", "%v", err)
		}
		ap.when = p
	}
	return ap, nil
}

// annotationsOf returns a tool's annotations with the MCP defaults for absent hints.
func annotationsOf(f *Federation, t *target, tool string) map[string]any {
	m := map[string]any{"title": "", "readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true}
	def := f.toolDef(t, tool)
	if def == nil || def.Annotations == nil {
		return m
	}
	a := def.Annotations
	m["title"], m["readOnlyHint"], m["idempotentHint"] = a.Title, a.ReadOnlyHint, a.IdempotentHint
	if a.DestructiveHint != nil {
		m["destructiveHint"] = *a.DestructiveHint
	}
	if a.OpenWorldHint != nil {
		m["openWorldHint"] = *a.OpenWorldHint
	}
	return m
}

// approved decides a tools/call under Config.Approval: true when it may be forwarded; otherwise the
// client has been answered (or has gone away).
func (f *Federation) approved(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, t *target, tool string, env envelope, body []byte, out reply) bool {
	a := f.approval
	if a == nil {
		return true
	}
	id := env.id.of(body)
	if f.toolDef(t, tool) == nil {
		// The annotations come from the target's list; this process has not listed it yet.
		if up, err := sess.upstream(ctx, t); err == nil {
			var p listPage
			_ = f.fetchAll(ctx, t, up, &toolsKind, &p)
		}
	}
	ann := annotationsOf(f, t, tool)
	var args json.RawMessage
	if s := field(body, env.params, "arguments"); s.ok() {
		args = json.RawMessage(s.of(body))
	}
	if a.when != nil {
		var argv any
		_ = json.Unmarshal(args, &argv)
		desc := ""
		if d := f.toolDef(t, tool); d != nil {
			desc = d.Description
		}
		m := map[string]any{
			"method": st.MCP.Method, "methodName": st.MCP.Method, "sessionId": st.MCP.SessionID, "target": t.Name,
			"tool":   map[string]any{"name": tool, "target": t.Name, "description": desc, "annotations": ann, "arguments": argv},
			"prompt": map[string]any{"name": "", "target": ""}, "resource": map[string]any{"uri": "", "name": "", "target": ""},
		}
		act := cel.NewActivation(r, st)
		act.Extra = map[string]any{"mcp": m}
		hold, err := a.when.EvalBool(ctx, act)
		if err != nil {
			f.logger().Warn("mcp: approval rule failed; holding the call", "target", t.Name, "tool", tool, "error", err)
			hold = true
		}
		if !hold {
			return true
		}
	}
	req := ApprovalRequest{Target: t.Name, Tool: tool, Arguments: args, Annotations: ann,
		Identity: ApprovalIdentity{Subject: st.Identity.Subject, JWT: st.Identity.JWT}}
	dec, err := a.ask(ctx, &req)
	msg := "tools/call not approved: "
	switch {
	case err == nil && dec.Allow:
		f.logger().Info("mcp: call approved", "target", t.Name, "tool", tool, "subject", st.Identity.Subject)
		return true
	case ctx.Err() != nil && !errors.Is(err, errApprovalTimeout):
		f.logger().Info("mcp: client went away while its call awaited approval", "target", t.Name, "tool", tool)
		return false
	case err == nil:
		err, msg = errApprovalDenied, msg+"denied"
		if dec.Reason != "" {
			err, msg = fmt.Errorf("%w: %s", errApprovalDenied, dec.Reason), msg+": "+dec.Reason
		}
	case errors.Is(err, errApprovalTimeout):
		msg += "approval timed out"
	default:
		msg += "approval unavailable" // the webhook's failure is logged, not shown to the client
	}
	f.logger().Warn("mcp: call not approved", "target", t.Name, "tool", tool, "subject", st.Identity.Subject, "error", err)
	out.final(rpcmsg.Error(id, CodeApprovalDenied, msg))
	return false
}

// maxDecisionBytes bounds a webhook's answer.
const maxDecisionBytes = 64 << 10

// ask POSTs the request to the webhook and waits for the decision, at most Timeout.
func (a *approver) ask(ctx context.Context, req *ApprovalRequest) (ApprovalDecision, error) {
	var dec ApprovalDecision
	body, err := json.Marshal(req)
	if err != nil {
		return dec, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, a.Timeout, errApprovalTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Webhook, bytes.NewReader(body))
	if err != nil {
		return dec, err
	}
	for k, v := range a.Headers {
		hr.Header[k] = append([]string(nil), v...)
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := a.HTTPClient.Do(hr)
	if err != nil {
		if errors.Is(context.Cause(ctx), errApprovalTimeout) {
			return dec, errApprovalTimeout
		}
		return dec, fmt.Errorf("approval webhook: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDecisionBytes))
	if err != nil {
		if errors.Is(context.Cause(ctx), errApprovalTimeout) {
			return dec, errApprovalTimeout
		}
		return dec, fmt.Errorf("approval webhook: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return dec, fmt.Errorf("approval webhook answered %d", resp.StatusCode)
	}
	if err := json.Unmarshal(b, &dec); err != nil {
		return dec, fmt.Errorf("approval webhook: decoding the answer: %w", err)
	}
	return dec, nil
}
