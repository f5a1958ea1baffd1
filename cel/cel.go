package cel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	celgo "github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	agentgateway "github.com/agentgw/agentgateway"
)

// DefaultCostLimit bounds the work of one evaluation (CEL cost units), so no expression in a config can
// stall a request.
const DefaultCostLimit = 1_000_000

// MaxInputSize is the size bound assumed by the static cost estimate for any string, list or map an
// expression reads: request attributes come from headers and bodies the gateway already limits to a
// few MiB.
const MaxInputSize = 4 << 20

var variables = []string{"request", "source", "jwt", "apiKey", "identity", "mcp", "a2a", "llm", "extauthz"}

var env = sync.OnceValues(func() (*celgo.Env, error) {
	mapType := celgo.MapType(celgo.StringType, celgo.DynType)
	opts := []celgo.EnvOption{
		ext.Strings(), ext.Encoders(), ext.Lists(), ext.Sets(), ext.Math(), celgo.Lib(agentLib{}),
		celgo.Variable("identity", celgo.StringType),
	}
	opts = append(opts, formFunctions()...)
	opts = append(opts, textFunctions()...)
	for _, v := range variables {
		if v != "identity" {
			opts = append(opts, celgo.Variable(v, mapType))
		}
	}
	return celgo.NewEnv(opts...)
})

// Env returns the shared environment.
func Env() *celgo.Env {
	e, err := env()
	if err != nil {
		panic(fmt.Sprintf("cel: building the environment: %v", err)) // a programming error, caught by any test
	}
	return e
}

// Program is a compiled expression.
type Program struct {
	src     string
	prg     celgo.Program
	uses    map[string]bool
	tracked bool
}

// String returns the source expression.
func (p *Program) String() string { return p.src }

// ErrCompile is wrapped by every compile error.
var ErrCompile = errors.New("invalid CEL expression")

type sizeBound struct{}

func (sizeBound) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: MaxInputSize}
}

func (sizeBound) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// Compile compiles expr in the shared environment; want, when not nil, is the required output type
// (celgo.BoolType for rules). Programs are immutable, so an expression compiled before (by another
// route, or by the configuration a reload replaces) is returned from a bounded cache instead of being
// parsed, checked and planned again.
func Compile(expr string, want *celgo.Type) (*Program, error) {
	key := cacheKey{expr: expr}
	if want != nil {
		key.want = want.String()
	}
	if p, ok := cache.get(key); ok {
		return p, nil
	}
	p, err := compile(Env(), expr, want)
	if err != nil {
		return nil, err
	}
	cache.put(key, p)
	return p, nil
}

// cacheSize bounds the compile cache; a config has far fewer distinct expressions.
const cacheSize = 4096

type cacheKey struct{ expr, want string }

// programCache holds compiled programs of the shared environment. When full it starts over, which
// costs one recompilation of each expression still in use and keeps memory bounded however many
// different expressions reloads bring.
type programCache struct {
	mu sync.Mutex
	m  map[cacheKey]*Program
}

var cache programCache

func (c *programCache) get(k cacheKey) (*Program, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[k]
	return p, ok
}

func (c *programCache) put(k cacheKey, p *Program) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= cacheSize {
		c.m = make(map[cacheKey]*Program)
	}
	c.m[k] = p
}

// CompileWith compiles expr in the shared environment extended with a policy's own variables
// (celgo.Variable options), whose values the caller passes in [Activation.Extra].
func CompileWith(expr string, want *celgo.Type, vars ...celgo.EnvOption) (*Program, error) {
	e, err := Env().Extend(vars...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCompile, err)
	}
	return compile(e, expr, want)
}

func compile(e *celgo.Env, expr string, want *celgo.Type) (*Program, error) {
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%w: %s", ErrCompile, iss.Err())
	}
	if want != nil && !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(celgo.DynType) {
		return nil, fmt.Errorf("%w: %q has type %s, want %s", ErrCompile, expr, ast.OutputType(), want)
	}
	opts := []celgo.ProgramOption{celgo.EvalOptions(celgo.OptOptimize), celgo.InterruptCheckFrequency(100)}
	tracked := true
	if est, err := e.EstimateCost(ast, sizeBound{}); err == nil && est.Max <= DefaultCostLimit {
		tracked = false // statically bounded: skip runtime tracking
	}
	if tracked {
		opts = append(opts, celgo.CostLimit(DefaultCostLimit))
	}
	prg, err := e.Program(ast, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCompile, err)
	}
	p := &Program{src: expr, prg: prg, uses: map[string]bool{}, tracked: tracked}
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name != "" {
			root, _, _ := strings.Cut(r.Name, ".")
			p.uses[root] = true
		}
	}
	if p.uses["request"] && readsBody(ast.NativeRep().Expr()) {
		p.uses[RequestBody] = true
	}
	return p, nil
}

// Uses reports whether the expression references the variable (e.g. "mcp"), so callers can skip
// work an expression does not need; [RequestBody] reports whether it reads the request body.
func (p *Program) Uses(variable string) bool { return p.uses[variable] }

// CostTracked reports whether the cost limit is enforced at run time (the static estimate could not
// prove it).
func (p *Program) CostTracked() bool { return p.tracked }

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

// EvalString evaluates an expression expected to produce a string (header values, rate-limit keys).
// Numbers and booleans are formatted; other types are an error.
func (p *Program) EvalString(ctx context.Context, a *Activation) (string, error) {
	out, err := p.Eval(ctx, a)
	if err != nil {
		return "", err
	}
	switch v := out.(type) {
	case types.String:
		return string(v), nil
	case types.Int, types.Uint, types.Double, types.Bool:
		return fmt.Sprint(v.Value()), nil
	case types.Bytes:
		return string(v), nil
	}
	return "", fmt.Errorf("expression %q returned %s, not string", p.src, out.Type())
}

// EvalBytes evaluates an expression that produces a body: a string or bytes is used as is, any other
// value (a map, a list, a number) is encoded as JSON.
func (p *Program) EvalBytes(ctx context.Context, a *Activation) ([]byte, error) {
	out, err := p.Eval(ctx, a)
	if err != nil {
		return nil, err
	}
	switch x := out.(type) {
	case types.String:
		return []byte(x), nil
	case types.Bytes:
		return []byte(x), nil
	}
	return json.Marshal(Native(out))
}

// Native converts a CEL value to plain Go values that encoding/json understands: maps become
// map[string]any, lists []any, null nil.
func Native(v ref.Val) any {
	switch x := v.(type) {
	case traits.Mapper:
		m := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			m[fmt.Sprint(k.Value())] = Native(x.Get(k))
		}
		return m
	case traits.Lister:
		var l []any
		for it := x.Iterator(); it.HasNext() == types.True; {
			l = append(l, Native(it.Next()))
		}
		return l
	case types.Null:
		return nil
	}
	return v.Value()
}

// Activation exposes one request to CEL. It is cheap to build; reuse one across the rules of a
// request. Variables are views built on first use, and the request's State is read at lookup time, so
// an activation sees what earlier policies have written.
type Activation struct {
	Request *http.Request
	State   *agentgateway.State
	// Extra adds or overrides variables (a policy's own attributes).
	Extra map[string]any
	// MaxBodyBytes bounds the body buffered for request.body (0: the request context's bound, see
	// [WithMaxBodyBytes], else DefaultMaxBodyBytes).
	MaxBodyBytes int64

	views [numViews]view
	query url.Values
	full  *[numViews]traits.Mapper
}

var _ interpreter.Activation = (*Activation)(nil)

// NewActivation returns the activation for r; st defaults to the request's State.
func NewActivation(r *http.Request, st *agentgateway.State) *Activation {
	a := &Activation{}
	a.Reset(r, st)
	return a
}

// Reset points a at another request, so a policy can reuse one Activation.
func (a *Activation) Reset(r *http.Request, st *agentgateway.State) {
	if st == nil && r != nil {
		st = agentgateway.StateFrom(r.Context())
	}
	*a = Activation{Request: r, State: st, MaxBodyBytes: a.MaxBodyBytes}
	for i := range a.views {
		a.views[i] = view{a: a, kind: viewKind(i)}
	}
}

// Parent implements interpreter.Activation.
func (a *Activation) Parent() interpreter.Activation { return nil }

var (
	empty      = map[string]any{}
	emptyState agentgateway.State
)

func (a *Activation) state() *agentgateway.State {
	if a.State == nil {
		return &emptyState
	}
	return a.State
}

// ResolveName implements interpreter.Activation.
func (a *Activation) ResolveName(name string) (any, bool) {
	if a.Extra != nil {
		if v, ok := a.Extra[name]; ok {
			return v, true
		}
	}
	if a.views[0].a != a { // a zero Activation built as a literal
		a.Reset(a.Request, a.State)
	}
	st := a.state()
	switch name {
	case "request":
		return &a.views[viewRequest], true
	case "source":
		return &a.views[viewSource], true
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
		return &a.views[viewMCP], true
	case "a2a":
		return &a.views[viewA2A], true
	case "llm":
		return &a.views[viewLLM], true
	case "extauthz":
		if st.Identity.ExtAuthz == nil {
			return empty, true
		}
		return st.Identity.ExtAuthz, true
	}
	return nil, false
}

func nameIf(m *agentgateway.MCPState, methods ...string) string {
	for _, x := range methods {
		if m.Method == x {
			return m.Name
		}
	}
	return ""
}

// RequestAttributes builds the `request` variable as a plain map (for logging and for callers that
// need every attribute). Header names are lower-case; multiple values are joined with ",".
func RequestAttributes(r *http.Request) map[string]any {
	if r == nil {
		return map[string]any{"method": "", "path": "", "host": "", "scheme": "", "uri": "", "headers": empty, "query": empty}
	}
	headers := make(map[string]any, len(r.Header))
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	query := map[string]any{}
	if r.URL != nil {
		for k, vs := range r.URL.Query() {
			if len(vs) > 0 {
				query[k] = vs[0]
			}
		}
	}
	return map[string]any{
		"method":  r.Method,
		"path":    urlPath(r),
		"host":    r.Host,
		"scheme":  scheme(r),
		"uri":     requestURI(r),
		"headers": headers,
		"query":   query,
	}
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func urlPath(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.Path
}

func requestURI(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.RequestURI()
}
