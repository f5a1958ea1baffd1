// Package celenv holds the one CEL environment every expression of the gateway compiles in, and the
// activation that exposes a request to it.
//
// Variables (names follow agentgateway's CEL reference, so expressions carry over):
//
//	request.method, request.path, request.host, request.scheme, request.uri,
//	request.headers["lower-case-name"] (values joined with ","), request.query["name"] (first value)
//	source.address, source.port
//	jwt.*      verified JWT claims, nested objects included ({} when none)
//	apiKey.*   metadata of the matched API key ({} when none)
//	identity   the authenticated subject ("" when none)
//	mcp.method, mcp.methodName, mcp.sessionId, mcp.tool.name, mcp.tool.target, mcp.prompt.name,
//	mcp.resource.uri, mcp.resource.name, mcp.target
//	a2a.method, a2a.taskId, a2a.contextId, a2a.skill, a2a.version
//	llm.provider, llm.requestModel, llm.responseModel, llm.streaming, llm.inputTokens, llm.outputTokens
//
// Programs are compiled once per configuration and are safe for concurrent use; evaluation builds only
// the variables an expression references.
package celenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	agentgateway "github.com/agentgw/agentgateway"
)

// DefaultCostLimit bounds the work of one evaluation (CEL cost units), so no expression in a config can
// stall a request.
const DefaultCostLimit = 1_000_000

var variables = []string{"request", "source", "jwt", "apiKey", "identity", "mcp", "a2a", "llm"}

var env = sync.OnceValues(func() (*cel.Env, error) {
	mapType := cel.MapType(cel.StringType, cel.DynType)
	opts := []cel.EnvOption{
		ext.Strings(), ext.Encoders(), ext.Lists(), ext.Sets(), ext.Math(),
		cel.Variable("identity", cel.StringType),
	}
	for _, v := range variables {
		if v != "identity" {
			opts = append(opts, cel.Variable(v, mapType))
		}
	}
	return cel.NewEnv(opts...)
})

// Env returns the shared environment.
func Env() *cel.Env {
	e, err := env()
	if err != nil {
		panic(fmt.Sprintf("celenv: building the environment: %v", err)) // a programming error, caught by any test
	}
	return e
}

// Program is a compiled expression.
type Program struct {
	src  string
	prg  cel.Program
	uses map[string]bool
}

// String returns the source expression.
func (p *Program) String() string { return p.src }

// ErrCompile is wrapped by every compile error.
var ErrCompile = errors.New("invalid CEL expression")

// Compile compiles expr; want, when not nil, is the required output type (cel.BoolType for rules).
func Compile(expr string, want *cel.Type) (*Program, error) {
	e := Env()
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%w: %s", ErrCompile, iss.Err())
	}
	if want != nil && !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
		return nil, fmt.Errorf("%w: %q has type %s, want %s", ErrCompile, expr, ast.OutputType(), want)
	}
	prg, err := e.Program(ast, cel.CostLimit(DefaultCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCompile, err)
	}
	p := &Program{src: expr, prg: prg, uses: map[string]bool{}}
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name != "" {
			root, _, _ := strings.Cut(r.Name, ".")
			p.uses[root] = true
		}
	}
	return p, nil
}

// Uses reports whether the expression references the variable (e.g. "mcp"), so callers can skip
// work an expression does not need.
func (p *Program) Uses(variable string) bool { return p.uses[variable] }

// Eval evaluates the program for a request.
func (p *Program) Eval(ctx context.Context, a *Activation) (ref.Val, error) {
	out, _, err := p.prg.ContextEval(ctx, a)
	return out, err
}

// EvalBool evaluates a rule; a non-bool result or an error (a missing key, say) is reported as an
// error, which callers treat as "does not match".
func (p *Program) EvalBool(ctx context.Context, a *Activation) (bool, error) {
	out, err := p.Eval(ctx, a)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression %q returned %s, not bool", p.src, out.Type())
	}
	return bool(b), nil
}

// Activation exposes one request to CEL. Build it per evaluation (it is cheap) or reuse it across the
// rules of one request; variables are built on first use.
type Activation struct {
	Request *http.Request
	State   *agentgateway.State
	// Extra adds or overrides variables (a policy's own attributes).
	Extra map[string]any

	request map[string]any
}

var _ interpreter.Activation = (*Activation)(nil)

// NewActivation returns the activation for r; st defaults to the request's State.
func NewActivation(r *http.Request, st *agentgateway.State) *Activation {
	if st == nil && r != nil {
		st = agentgateway.StateFrom(r.Context())
	}
	return &Activation{Request: r, State: st}
}

// Parent implements interpreter.Activation.
func (a *Activation) Parent() interpreter.Activation { return nil }

var empty = map[string]any{}

// ResolveName implements interpreter.Activation.
func (a *Activation) ResolveName(name string) (any, bool) {
	if v, ok := a.Extra[name]; ok {
		return v, true
	}
	st := a.State
	if st == nil {
		st = &agentgateway.State{}
	}
	switch name {
	case "request":
		if a.request == nil {
			a.request = RequestAttributes(a.Request)
		}
		return a.request, true
	case "source":
		return map[string]any{"address": st.Source.Addr().String(), "port": int64(st.Source.Port())}, true
	case "jwt":
		if st.Identity.JWT == nil {
			return empty, true
		}
		return st.Identity.JWT, true
	case "apiKey":
		if st.Identity.APIKey == nil {
			return empty, true
		}
		return st.Identity.APIKey, true
	case "identity":
		return st.Identity.Subject, true
	case "mcp":
		m := st.MCP
		return map[string]any{
			"method": m.Method, "methodName": m.Method, "sessionId": m.SessionID, "target": m.Target,
			"tool":     map[string]any{"name": m.ToolName, "target": m.ToolTarget},
			"prompt":   map[string]any{"name": nameIf(m, "prompts/get"), "target": m.Target},
			"resource": map[string]any{"uri": nameIf(m, "resources/read", "resources/subscribe", "resources/unsubscribe"), "name": nameIf(m, "resources/read"), "target": m.Target},
		}, true
	case "a2a":
		x := st.A2A
		return map[string]any{"method": x.Method, "taskId": x.TaskID, "contextId": x.ContextID, "skill": x.Skill, "version": x.Version}, true
	case "llm":
		l := st.LLM
		return map[string]any{"provider": l.Provider, "requestModel": l.RequestModel, "responseModel": l.ResponseModel,
			"streaming": l.Streaming, "inputTokens": l.InputTokens, "outputTokens": l.OutputTokens}, true
	}
	return nil, false
}

func nameIf(m agentgateway.MCPState, methods ...string) string {
	for _, x := range methods {
		if m.Method == x {
			return m.Name
		}
	}
	return ""
}

// RequestAttributes builds the `request` variable. Header names are lower-case; multiple values are
// joined with ",".
func RequestAttributes(r *http.Request) map[string]any {
	if r == nil {
		return map[string]any{"method": "", "path": "", "host": "", "scheme": "", "uri": "", "headers": empty, "query": empty}
	}
	headers := make(map[string]any, len(r.Header))
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	query := map[string]any{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			query[k] = vs[0]
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return map[string]any{
		"method":  r.Method,
		"path":    r.URL.Path,
		"host":    r.Host,
		"scheme":  scheme,
		"uri":     r.URL.RequestURI(),
		"headers": headers,
		"query":   query,
	}
}
