package agentgateway

import (
	"io"
	"net/http"
	"slices"
)

// Phase orders the policies of a route. Whatever order policies are added in — fluently or from a
// config file — the gateway runs them by phase, outermost first; policies of one phase keep the order
// they were given in. So authentication always runs before authorization, and a `Use(authz, jwt)`
// cannot evaluate rules against a request whose token nobody checked.
type Phase int

// The phases, outermost first.
const (
	PhaseCORS           Phase = 10  // CORS: preflights never reach authentication
	PhaseAuthn          Phase = 20  // JWT, API key, basic auth, external authorization
	PhaseAuthz          Phase = 30  // CEL authorization (route, MCP, A2A rules)
	PhaseRateLimit      Phase = 40  // local and remote rate limits, token budgets
	PhaseCustom         Phase = 45  // a plain middleware ([PolicyFunc]) that declares no phase
	PhaseFilter         Phase = 50  // header modifiers, redirect, URL rewrite, direct response
	PhaseTransformation Phase = 60  // CEL transformations
	PhaseTimeout        Phase = 70  // request timeouts
	PhaseRetry          Phase = 80  // retries
	PhaseMirror         Phase = 90  // request mirroring
	PhaseBackend        Phase = 100 // backend TLS and auth, protocol adapters: closest to the backend
)

func (p Phase) String() string {
	switch p {
	case PhaseCORS:
		return "cors"
	case PhaseAuthn:
		return "authn"
	case PhaseAuthz:
		return "authz"
	case PhaseRateLimit:
		return "rateLimit"
	case PhaseCustom:
		return "custom"
	case PhaseFilter:
		return "filter"
	case PhaseTransformation:
		return "transformation"
	case PhaseTimeout:
		return "timeout"
	case PhaseRetry:
		return "retry"
	case PhaseMirror:
		return "mirror"
	case PhaseBackend:
		return "backend"
	}
	return "phase(" + itoa(int(p)) + ")"
}

// Policy is one piece of per-route behaviour in front of the backend: authentication, rate limits,
// CORS, retries, header filters. Wrap is called once, when the configuration is compiled, never per
// request.
//
// A Policy may also implement:
//   - Phase() Phase, to run at a fixed [Phase] (policies without it run at [PhaseCustom]);
//   - io.Closer, to release what it owns (connections, goroutines) once the configuration that uses it
//     has been replaced and its last request has finished — on the fluent path as on the config path;
//   - [Inspector], to read the request before any policy runs.
type Policy interface {
	Wrap(next http.Handler) http.Handler
}

// PolicyFunc adapts an ordinary middleware, such as one written for chi, to a [Policy] that runs at
// [PhaseCustom]: after authentication, authorization and rate limits, before filters.
type PolicyFunc func(next http.Handler) http.Handler

// Wrap calls f(next).
func (f PolicyFunc) Wrap(next http.Handler) http.Handler { return f(next) }

// NewPolicy returns a Policy that runs wrap at phase.
func NewPolicy(phase Phase, wrap func(next http.Handler) http.Handler) Policy {
	return &phased{phase: phase, wrap: wrap}
}

// NewClosingPolicy is [NewPolicy] for a policy that owns resources: close runs once the configuration
// that uses the policy has been retired and drained.
func NewClosingPolicy(phase Phase, wrap func(next http.Handler) http.Handler, close func() error) Policy {
	return &closingPhased{phased: phased{phase: phase, wrap: wrap}, close: close}
}

// At returns p placed at phase, overriding the phase it declares.
func At(phase Phase, p Policy) Policy {
	if p == nil {
		return nil
	}
	return &atPhase{Policy: p, phase: phase}
}

type phased struct {
	phase Phase
	wrap  func(http.Handler) http.Handler
}

func (p *phased) Wrap(next http.Handler) http.Handler { return p.wrap(next) }
func (p *phased) Phase() Phase                        { return p.phase }

type closingPhased struct {
	phased
	close func() error
}

func (p *closingPhased) Close() error { return p.close() }

// atPhase keeps the wrapped policy's Close and Inspect visible.
type atPhase struct {
	Policy
	phase Phase
}

func (p *atPhase) Phase() Phase { return p.phase }

func (p *atPhase) Close() error {
	if c, ok := p.Policy.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (p *atPhase) Inspect(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if in, ok := p.Policy.(Inspector); ok {
		return in.Inspect(w, r)
	}
	return r, true
}

// PhaseOf returns the phase p runs at.
func PhaseOf(p Policy) Phase {
	if ph, ok := p.(interface{ Phase() Phase }); ok {
		return ph.Phase()
	}
	return PhaseCustom
}

// SortPolicies returns policies in the order the gateway runs them: by phase, outermost first, keeping
// the given order within a phase. The input is not modified.
func SortPolicies(policies []Policy) []Policy {
	out := slices.Clone(policies)
	slices.SortStableFunc(out, func(a, b Policy) int { return int(PhaseOf(a)) - int(PhaseOf(b)) })
	return out
}

// Inspector is implemented by backends (and policies) that understand their protocol well enough to
// describe a request before the route's policies run: the MCP federation fills State.MCP (method,
// tool, target), the A2A proxy State.A2A, the LLM router State.LLM. So `mcp.tool.name`, `a2a.method`
// and `llm.requestModel` are visible to authorization and rate limits however the gateway was
// assembled.
//
// Inspect may read and replace the body (it must hand on a request whose body reads the same bytes);
// it returns the request to continue with, or false when it has answered the request itself (a
// malformed JSON-RPC message, an oversized body).
type Inspector interface {
	Inspect(w http.ResponseWriter, r *http.Request) (*http.Request, bool)
}
