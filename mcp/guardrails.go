package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
)

// GuardPhase is where a guardrail runs for a method: on the client's request (its params), on the
// response (its result), or both.
type GuardPhase uint8

// The phases of agentgateway's mcpGuardrails `methods` map.
const (
	GuardOff GuardPhase = iota
	GuardRequest
	GuardResponse
	GuardFull
)

// ParseGuardPhase reads a phase as the config writes it: off, request, response or full.
func ParseGuardPhase(s string) (GuardPhase, error) {
	switch s {
	case "off":
		return GuardOff, nil
	case "request":
		return GuardRequest, nil
	case "response":
		return GuardResponse, nil
	case "full":
		return GuardFull, nil
	}
	return GuardOff, fmt.Errorf("want off, request, response or full, got %q", s)
}

func (p GuardPhase) has(q GuardPhase) bool { return p == GuardFull || p == q }

// Guardrail is one in-process MCP guardrail (agentgateway's mcpGuardrails processor of kind cel /
// expression). It runs on the methods Methods lists, at their phase; when When holds (nil: always) it
// either rejects the message with Reject, or replaces the request's params (mcp.params) or the
// response's result (mcp.result) with what Transform returns (null leaves it unchanged).
type Guardrail struct {
	// Methods maps a method to its phase. A key is exact ("tools/call"), a prefix ("tools/*"), a
	// suffix ("*/list") or "*"; an exact key wins over a wildcard, a longer wildcard over a shorter
	// one, and "*" comes last. Methods no key matches are not guarded.
	Methods   map[string]GuardPhase
	When      *cel.Program
	Reject    string
	Transform *cel.Program
}

// ErrGuardrailRejected is what a rejected message's error wraps.
var ErrGuardrailRejected = errors.New("mcp: rejected by a guardrail")

// phaseFor is the phase g runs at for method.
func (g *Guardrail) phaseFor(method string) GuardPhase {
	if p, ok := g.Methods[method]; ok {
		return p
	}
	best, bestLen := GuardOff, -1
	for k, p := range g.Methods {
		var ok bool
		switch {
		case k == "*":
			continue
		case strings.HasSuffix(k, "*"):
			ok = strings.HasPrefix(method, strings.TrimSuffix(k, "*"))
		case strings.HasPrefix(k, "*"):
			ok = strings.HasSuffix(method, strings.TrimPrefix(k, "*"))
		}
		if ok && len(k) > bestLen {
			best, bestLen = p, len(k)
		}
	}
	if bestLen >= 0 {
		return best
	}
	if p, ok := g.Methods["*"]; ok {
		return p
	}
	return GuardOff
}

func (g *Guardrail) validate() error {
	if (g.Reject == "") == (g.Transform == nil) {
		return errors.New("a guardrail has exactly one of reject and transform")
	}
	if len(g.Methods) == 0 {
		return errors.New("methods: a guardrail names at least one method")
	}
	return nil
}

type guardKey struct{}

// Guardrails is the route policy form of mcpGuardrails: the federation behind the route runs gs, in
// order, on the messages of the methods they name. A request guardrail sees the call as it goes to its
// target (a tools/call has the target's own tool name); a response guardrail sees the answer before
// the client does. The first rejection answers the client with a JSON-RPC error carrying the reject
// message, and the target is not called; a failing expression or a transform that does not give a
// JSON object rejects as well. Policies of several layers add up, outer layers first.
func Guardrails(gs ...Guardrail) (agentgateway.Policy, error) {
	own := make([]*Guardrail, len(gs))
	for i := range gs {
		if err := gs[i].validate(); err != nil {
			return nil, agentgateway.Errorf(fmt.Sprintf("processors[%d]", i), "%v", err)
		}
		own[i] = &gs[i]
	}
	return agentgateway.NewPolicy(agentgateway.PhaseAuthz, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			prev, _ := r.Context().Value(guardKey{}).([]*Guardrail)
			all := append(append(make([]*Guardrail, 0, len(prev)+len(own)), prev...), own...)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), guardKey{}, all)))
		})
	}), nil
}

func guardrailsOf(r *http.Request) []*Guardrail {
	gs, _ := r.Context().Value(guardKey{}).([]*Guardrail)
	return gs
}

// guardRequest runs the request guardrails of method on msg (a JSON-RPC request). It returns the
// message to send on (msg itself when nothing changed), or the error the client gets.
func guardRequest(ctx context.Context, r *http.Request, st *agentgateway.State, method string, msg []byte) ([]byte, error) {
	gs := guardrailsOf(r)
	if len(gs) == 0 {
		return msg, nil
	}
	env, err := parseEnvelope(msg)
	if err != nil {
		return msg, nil // the dispatcher answers malformed messages
	}
	var params any = map[string]any{}
	if env.params.ok() {
		if err := json.Unmarshal(env.params.of(msg), &params); err != nil {
			return nil, fmt.Errorf("%w: params: %v", ErrGuardrailRejected, err)
		}
	}
	out, changed, err := runGuardrails(ctx, r, st, gs, method, GuardRequest, "params", params)
	if err != nil || !changed {
		if err != nil {
			return nil, err
		}
		return msg, nil
	}
	if env.params.ok() {
		return splice(msg, env.params, out), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(msg, &obj); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGuardrailRejected, err)
	}
	obj["params"] = out
	return json.Marshal(obj)
}

// runGuardrails evaluates gs on one value (mcp.<field>); it returns the value's new JSON when a
// transform changed it.
func runGuardrails(ctx context.Context, r *http.Request, st *agentgateway.State, gs []*Guardrail, method string, phase GuardPhase, fieldName string, v any) ([]byte, bool, error) {
	changed := false
	for _, g := range gs {
		if !g.phaseFor(method).has(phase) {
			continue
		}
		act := cel.NewActivation(r, st)
		act.Extra = map[string]any{"mcp": guardVars(st, method, fieldName, v)}
		if g.When != nil {
			ok, err := g.When.EvalBool(ctx, act)
			if err != nil {
				return nil, false, fmt.Errorf("%w: when: %v", ErrGuardrailRejected, err)
			}
			if !ok {
				continue
			}
		}
		if g.Reject != "" {
			return nil, false, fmt.Errorf("%w: %s", ErrGuardrailRejected, g.Reject)
		}
		res, err := g.Transform.Eval(ctx, act)
		if err != nil {
			return nil, false, fmt.Errorf("%w: transform: %v", ErrGuardrailRejected, err)
		}
		b, err := cel.ToJSON(res)
		if err != nil {
			return nil, false, fmt.Errorf("%w: transform: %v", ErrGuardrailRejected, err)
		}
		if bytes.Equal(b, []byte("null")) {
			continue
		}
		var next any
		if err := json.Unmarshal(b, &next); err != nil {
			return nil, false, fmt.Errorf("%w: transform: %v", ErrGuardrailRejected, err)
		}
		if _, ok := next.(map[string]any); !ok {
			return nil, false, fmt.Errorf("%w: transform: the %s must be a JSON object, got %s", ErrGuardrailRejected, fieldName, truncate(b, 64))
		}
		v, changed = next, true
	}
	if !changed {
		return nil, false, nil
	}
	b, err := json.Marshal(v)
	return b, err == nil, err
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// guardVars is the mcp variable of a guardrail expression: mcpAuthorization's attributes plus the
// message's params or result.
func guardVars(st *agentgateway.State, method, fieldName string, v any) map[string]any {
	return map[string]any{
		"method": method, "methodName": method, "sessionId": st.MCP.SessionID, "target": st.MCP.Target,
		"tool":     map[string]any{"name": st.MCP.ToolName, "target": st.MCP.ToolTarget},
		"prompt":   map[string]any{"name": nameIf(st, "prompts/get"), "target": st.MCP.Target},
		"resource": map[string]any{"uri": nameIf(st, "resources/read"), "name": nameIf(st, "resources/read"), "target": st.MCP.Target},
		fieldName:  v,
	}
}

func nameIf(st *agentgateway.State, method string) string {
	if st.MCP.Method == method {
		return st.MCP.Name
	}
	return ""
}

// guardReply runs the response guardrails of one request on its final answer.
type guardReply struct {
	reply
	ctx    context.Context
	r      *http.Request
	st     *agentgateway.State
	method string
	gs     []*Guardrail
}

func (g *guardReply) unwrap() reply { return g.reply }

func (g *guardReply) final(msg []byte) {
	g.reply.final(g.guard(msg))
}

func (g *guardReply) guard(msg []byte) []byte {
	env, err := parseEnvelope(msg)
	if err != nil || !env.result.ok() {
		return msg
	}
	var result any
	if err := json.Unmarshal(env.result.of(msg), &result); err != nil {
		return rpcmsg.Error(env.id.of(msg), codeInternal, "guardrail: result: "+err.Error())
	}
	out, changed, err := runGuardrails(g.ctx, g.r, g.st, g.gs, g.method, GuardResponse, "result", result)
	switch {
	case err != nil:
		g.st.Policy.DeniedBy = "mcpGuardrails"
		return rpcmsg.Error(env.id.of(msg), codeInvalidRequest, guardMessage(err))
	case changed:
		return splice(msg, env.result, out)
	}
	return msg
}

// guardMessage is the client's error text: the reject message itself, or why the guardrail failed.
func guardMessage(err error) string {
	return strings.TrimPrefix(err.Error(), ErrGuardrailRejected.Error()+": ")
}

// withResponseGuard wraps out when a guardrail of r runs on method's responses.
func withResponseGuard(ctx context.Context, r *http.Request, st *agentgateway.State, method string, out reply) reply {
	gs := guardrailsOf(r)
	for _, g := range gs {
		if g.phaseFor(method).has(GuardResponse) {
			return &guardReply{reply: out, ctx: ctx, r: r, st: st, method: method, gs: gs}
		}
	}
	return out
}

// guardedElsewhere are the methods whose request guardrails run once the call is routed (callNamed,
// callURI), so that they see the target's own names.
func guardedElsewhere(method string) bool {
	switch method {
	case "tools/call", "prompts/get", "resources/read", "resources/subscribe", "resources/unsubscribe", "completion/complete":
		return true
	}
	return false
}

// rejectGuarded answers a request a guardrail rejected.
func rejectGuarded(st *agentgateway.State, id []byte, err error, out reply) {
	st.Policy.DeniedBy = "mcpGuardrails"
	out.final(rpcmsg.Error(id, codeInvalidRequest, guardMessage(err)))
}
