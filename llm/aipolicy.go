package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// PromptGuard is the guards of requests and responses (the schema's PromptGuard). Guards run in
// order; the first rejection answers.
type PromptGuard struct {
	// Request guards inspect the client's request before it is routed.
	Request []*Guard
	// Response guards inspect the provider's answer before the client sees it, streamed answers
	// included (masking works across delta boundaries) unless PassStreams is set.
	Response []*Guard
	// PassStreams leaves streamed answers unguarded (agentgateway's `streaming: Disabled`, its
	// default there; the Go API guards streams by default).
	PassStreams bool
}

// PromptMessage is a message added to every request (the schema's SimpleChatCompletionMessage).
// Role is "system", "user" or "assistant" ("developer" counts as "system").
type PromptMessage struct {
	Role    string
	Content string
}

// Prompts adds messages before and after the client's (the schema's PromptEnrichment). System
// messages join the system prompt in formats that keep it apart (Anthropic).
type Prompts struct {
	Prepend []PromptMessage
	Append  []PromptMessage
}

// PromptCaching places provider cache markers (Anthropic cache_control, Bedrock cachePoint) on the
// request (the schema's PromptCachingConfig). Use [DefaultPromptCaching] for the schema's defaults.
type PromptCaching struct {
	// CacheSystem marks the end of the system prompt.
	CacheSystem bool
	// CacheMessages marks the last message (less CacheMessageOffset).
	CacheMessages bool
	// CacheTools marks the last tool definition.
	CacheTools bool
	// MinTokens is the estimated prompt size below which no marker is placed.
	MinTokens int
	// CacheMessageOffset moves the message marker this many messages back from the last.
	CacheMessageOffset int
}

// DefaultPromptCaching is the schema's default: system and messages marked, tools not, from 1024
// estimated tokens.
func DefaultPromptCaching() PromptCaching {
	return PromptCaching{CacheSystem: true, CacheMessages: true, MinTokens: 1024}
}

// AIPolicy is the `ai` route policy (the schema's Policy under `ai`): guards, request field defaults
// and overrides, CEL-computed fields, prompt enrichment, model aliases and prompt caching for the
// LLM calls of a route. Use it as a route or backend policy with [NewAIPolicy], or for every call of
// a router with [Govern].
//
// When several apply (router, route, backend), guards add up (router's first); for every other
// field the innermost that sets it wins.
type AIPolicy struct {
	PromptGuard *PromptGuard
	// Defaults sets top-level request fields the client did not set; Overrides sets them whatever
	// the client sent (a nil value removes the field). Both apply to the client's own format.
	Defaults  map[string]any
	Overrides map[string]any
	// Transformations sets top-level request fields to the value of CEL expressions (evaluated
	// against the request, llm.* included); a null result removes the field.
	Transformations map[string]string
	// FinalTransformations is Transformations applied to the request as encoded for the provider
	// (its own field names: "max_tokens" for Anthropic, "inferenceConfig" for Bedrock, ...).
	FinalTransformations map[string]string
	Prompts              *Prompts
	// ModelAliases rewrites the requested model before routing.
	ModelAliases  map[string]string
	PromptCaching *PromptCaching
	// Routes sets the API a path serves, by path suffix ("*" for any path; the longest suffix
	// wins): which paths are chat completions, messages, embeddings, passthrough, ... (ai_routes.go).
	// A path no suffix matches keeps its default API.
	Routes map[string]RouteType
	// Models, when not nil, is what GET /v1/models lists (declared_models.go).
	Models []DeclaredModel
}

// compiledPolicy is a validated AIPolicy.
type compiledPolicy struct {
	AIPolicy
	transforms, final []transform
	routes            []routeRule
}

type transform struct {
	field string
	prg   *cel.Program
}

func (p AIPolicy) compile() (*compiledPolicy, error) {
	c := &compiledPolicy{AIPolicy: p}
	var errs []error
	for i, m := range p.Models {
		if m.ID == "" {
			errs = append(errs, fmt.Errorf("models[%d].id: required", i))
		}
	}
	if pg := p.PromptGuard; pg != nil {
		for i, g := range pg.Request {
			if g == nil {
				errs = append(errs, fmt.Errorf("promptGuard.request[%d]: nil guard", i))
			} else if g.err != nil {
				errs = append(errs, fmt.Errorf("promptGuard.request[%d]: %w", i, g.err))
			}
		}
		for i, g := range pg.Response {
			switch {
			case g == nil:
				errs = append(errs, fmt.Errorf("promptGuard.response[%d]: nil guard", i))
			case g.err != nil:
				errs = append(errs, fmt.Errorf("promptGuard.response[%d]: %w", i, g.err))
			case g.kind == kindModeration:
				errs = append(errs, fmt.Errorf("promptGuard.response[%d]: moderation applies to requests only", i))
			case g.kind == kindAzureContentSafety && g.cloud.svc.(*azureGuard).analyze == nil:
				errs = append(errs, fmt.Errorf("promptGuard.response[%d]: azureContentSafety detectJailbreak applies to requests only; set analyzeText", i))
			case g.webhook != nil && g.webhook.raw != nil:
				errs = append(errs, fmt.Errorf("promptGuard.response[%d]: messageFormat raw applies to request guards only", i))
			case g.kind == kindInjection:
				errs = append(errs, fmt.Errorf("promptGuard.response[%d]: promptInjection applies to requests only", i))
			case len(g.scopes) > 0:
				errs = append(errs, fmt.Errorf("promptGuard.response[%d]: scope applies to request guards only", i))
			}
		}
	}
	for field, expr := range p.Transformations {
		prg, err := cel.Compile(expr, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("transformations.%s: %w", field, err))
			continue
		}
		c.transforms = append(c.transforms, transform{field, prg})
	}
	for field, expr := range p.FinalTransformations {
		prg, err := cel.Compile(expr, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("finalTransformations.%s: %w", field, err))
			continue
		}
		c.final = append(c.final, transform{field, prg})
	}
	if pr := p.Prompts; pr != nil {
		for i, m := range append(append([]PromptMessage{}, pr.Prepend...), pr.Append...) {
			switch m.Role {
			case "system", "developer", "user", "assistant":
			default:
				errs = append(errs, fmt.Errorf("prompts: message %d: role %q: want system, user or assistant", i, m.Role))
			}
		}
	}
	if len(p.Routes) > 0 {
		rs, err := compileRoutes(p.Routes)
		if err != nil {
			errs = append(errs, err)
		}
		c.routes = rs
	}
	if pc := p.PromptCaching; pc != nil && (pc.MinTokens < 0 || pc.CacheMessageOffset < 0) {
		errs = append(errs, errors.New("promptCaching: minTokens and cacheMessageOffset must not be negative"))
	}
	return c, errors.Join(errs...)
}

// NewAIPolicy returns p as a route (or backend) policy for an LLM [Router] backend; a configuration
// error names the field at fault.
func NewAIPolicy(p AIPolicy) (agentgateway.Policy, error) {
	c, err := p.compile()
	if err != nil {
		return nil, err
	}
	return aiPolicyWrapper{c}, nil
}

type aiPolicyKey struct{}

// aiPolicyWrapper hands its policy to the router through the request context.
type aiPolicyWrapper struct{ p *compiledPolicy }

// Phase implements the optional Phase of agentgateway.Policy: next to the backend.
func (aiPolicyWrapper) Phase() agentgateway.Phase { return agentgateway.PhaseBackend }

// Wrap implements agentgateway.Policy.
func (a aiPolicyWrapper) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prev, _ := r.Context().Value(aiPolicyKey{}).([]*compiledPolicy)
		layers := append(prev[:len(prev):len(prev)], a.p)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), aiPolicyKey{}, layers)))
	})
}

// Govern applies p to every call of the router (agentgateway's llm.policies; guards from here run
// first, before those of route policies and models).
func Govern(p AIPolicy) Option {
	return func(r *Router) error {
		c, err := p.compile()
		if err != nil {
			return fmt.Errorf("llm: %w", err)
		}
		r.gov = c
		return nil
	}
}

// modelGov is the governance of one model entry (the schema's models[*].guardrails, promptCaching).
type modelGov struct {
	guard   *PromptGuard
	caching *PromptCaching
	err     error
}

// ModelGuardrails adds guards for this model; they run after the router's and the route's.
func ModelGuardrails(pg PromptGuard) ModelOption {
	return func(m *ModelEntry) {
		g := m.governance()
		c, err := AIPolicy{PromptGuard: &pg}.compile()
		if err != nil {
			g.err = errors.Join(g.err, err)
		}
		cl := c.PromptGuard.clone()
		g.guard = &cl
	}
}

func (pg *PromptGuard) clone() PromptGuard {
	return PromptGuard{Request: append([]*Guard(nil), pg.Request...), Response: append([]*Guard(nil), pg.Response...), PassStreams: pg.PassStreams}
}

// ModelPromptCaching sets the prompt caching of this model (it wins over a policy's).
func ModelPromptCaching(pc PromptCaching) ModelOption {
	return func(m *ModelEntry) {
		g := m.governance()
		if pc.MinTokens < 0 || pc.CacheMessageOffset < 0 {
			g.err = errors.Join(g.err, errors.New("promptCaching: minTokens and cacheMessageOffset must not be negative"))
		}
		g.caching = &pc
	}
}

func (m *ModelEntry) governance() *modelGov {
	if m.gov == nil {
		m.gov = &modelGov{}
	}
	return m.gov
}

// govCall is the governance of one call: the effective policy of the router, route and backend.
type govCall struct {
	req       *http.Request
	st        *agentgateway.State
	guard     PromptGuard
	streamed  []*Guard // the response guards of layers that guard streams
	caching   *PromptCaching
	final     []transform
	hasPolicy bool
	bodyLen   int // size of the body the request guards inspect (raw webhooks skip small ones)
}

// govern applies the effective policy to a request before routing: model aliases, request fields,
// prompts and the policy's request guards. It returns nil when nothing governs the call, or the
// error to answer.
func (r *Router) govern(req *http.Request, st *agentgateway.State, in *inspected) (*govCall, *Error) {
	layers, _ := req.Context().Value(aiPolicyKey{}).([]*compiledPolicy)
	if r.gov != nil {
		layers = append([]*compiledPolicy{r.gov}, layers...)
	}
	if len(layers) == 0 && !r.modelGov {
		return nil, nil
	}
	gc := &govCall{req: req, st: st}
	var eff compiledPolicy
	for _, l := range layers {
		gc.hasPolicy = true
		if pg := l.PromptGuard; pg != nil {
			gc.guard.Request = append(gc.guard.Request, pg.Request...)
			gc.guard.Response = append(gc.guard.Response, pg.Response...)
			if !pg.PassStreams {
				gc.streamed = append(gc.streamed, pg.Response...)
			}
		}
		if l.Defaults != nil {
			eff.Defaults = l.Defaults
		}
		if l.Overrides != nil {
			eff.Overrides = l.Overrides
		}
		if l.transforms != nil {
			eff.transforms = l.transforms
		}
		if l.final != nil {
			eff.final = l.final
		}
		if l.Prompts != nil {
			eff.Prompts = l.Prompts
		}
		if l.ModelAliases != nil {
			eff.ModelAliases = l.ModelAliases
		}
		if l.PromptCaching != nil {
			eff.PromptCaching = l.PromptCaching
		}
	}
	gc.caching, gc.final = eff.PromptCaching, eff.final
	f := in.ep.format
	_, aliased := eff.ModelAliases[in.peek.Model]
	if aliased || len(eff.Defaults)+len(eff.Overrides)+len(eff.transforms) > 0 || eff.Prompts != nil || len(gc.guard.Request) > 0 {
		doc, err := parseDoc(in.body)
		if err != nil {
			return nil, err
		}
		setFields(doc, eff.Defaults, eff.Overrides)
		if e := gc.transform(doc, eff.transforms); e != nil {
			return nil, e
		}
		if m, ok := doc["model"].(string); ok {
			if to, ok := eff.ModelAliases[m]; ok && to != "" {
				doc["model"] = to // the body names the model: a same-wire call sends it as is
			}
		}
		if eff.Prompts != nil {
			enrich(f.Name(), doc, eff.Prompts)
		}
		gc.bodyLen = len(in.body)
		if e := gc.guardRequest(req.Context(), f.Name(), doc, gc.guard.Request); e != nil {
			return nil, e
		}
		body, err2 := marshalDoc(doc)
		if err2 != nil {
			return nil, asError(err2)
		}
		in.body = body
		p, perr := f.Peek(body)
		if perr != nil {
			return nil, asError(perr)
		}
		in.peek = p
	}
	if to, ok := eff.ModelAliases[in.peek.Model]; ok && to != "" {
		in.peek.Model = to
	}
	return gc, nil
}

// transform sets the fields computed by CEL expressions on a request document.
func (gc *govCall) transform(doc map[string]any, ts []transform) *Error {
	for _, t := range ts {
		v, err := t.prg.Eval(gc.req.Context(), cel.NewActivation(gc.req, gc.st))
		if err != nil {
			return &Error{Status: 500, Kind: ErrAPI, Message: fmt.Sprintf("transformation of %q failed", t.field), Err: err}
		}
		if nv := cel.Native(v); nv == nil {
			delete(doc, t.field)
		} else {
			doc[t.field] = nv
		}
	}
	return nil
}

// finalRequest applies the final transformations to the body encoded for the provider.
func (gc *govCall) finalRequest(body []byte) ([]byte, *Error) {
	if gc == nil || len(gc.final) == 0 {
		return body, nil
	}
	doc, e := parseDoc(body)
	if e != nil {
		return nil, e
	}
	if e := gc.transform(doc, gc.final); e != nil {
		return nil, e
	}
	out, err := marshalDoc(doc)
	if err != nil {
		return nil, asError(err)
	}
	return out, nil
}

// modelRequest runs a model's own request guards on the body about to be sent.
func (gc *govCall) modelRequest(e *ModelEntry, format string, body []byte) ([]byte, *Error) {
	if gc == nil || e.gov == nil || e.gov.guard == nil || len(e.gov.guard.Request) == 0 {
		return body, nil
	}
	doc, err := parseDoc(body)
	if err != nil {
		return nil, err
	}
	gc.bodyLen = len(body)
	if e := gc.guardRequest(gc.req.Context(), format, doc, e.gov.guard.Request); e != nil {
		return nil, e
	}
	out, err2 := marshalDoc(doc)
	if err2 != nil {
		return nil, asError(err2)
	}
	return out, nil
}

// responseGuards are the response guards of a call to model entry e; nil when none apply.
func (gc *govCall) responseGuards(e *ModelEntry, stream bool) []*Guard {
	if gc == nil {
		return nil
	}
	out := gc.guard.Response
	if stream {
		out = gc.streamed
	}
	if e.gov != nil && e.gov.guard != nil && !(stream && e.gov.guard.PassStreams) && len(e.gov.guard.Response) > 0 {
		out = append(out[:len(out):len(out)], e.gov.guard.Response...)
	}
	return out
}

// guardResponse applies response guards to a complete answer; changed reports a masked text.
func (gc *govCall) guardResponse(ctx context.Context, guards []*Guard, pr *Response) (changed bool, _ *Error) {
	set := func(i int, text string) {
		if pr.Parts[i].Text != text {
			pr.Parts[i].Text, changed = text, true
		}
	}
	for _, g := range guards {
		var idx []int
		var texts []string
		for i, p := range pr.Parts {
			if p.Type == PartText {
				idx, texts = append(idx, i), append(texts, p.Text)
			}
		}
		if len(texts) == 0 {
			return changed, nil
		}
		switch g.kind {
		case kindRegex:
			for k, t := range texts {
				out, rejected := g.regexText(t)
				if rejected {
					return changed, rejectionError(g)
				}
				set(idx[k], out)
			}
		case kindWebhook:
			out, e := g.webhook.judgeChoices(ctx, gc.req, g, texts)
			if e != nil {
				return changed, e
			}
			for k := range out {
				set(idx[k], out[k])
			}
		case kindBedrockGuardrails, kindModelArmor, kindAzureContentSafety:
			out, e := g.cloud.judge(ctx, g, texts, true)
			if e != nil {
				return changed, e
			}
			for k := range out {
				set(idx[k], out[k])
			}
		}
	}
	return changed, nil
}

// judgeResponseText runs a buffering (webhook or cloud) guard on one streamed text block.
func (gc *govCall) judgeResponseText(ctx context.Context, g *Guard, text string) (string, *Error) {
	if text == "" || (g.webhook == nil && g.cloud == nil) {
		return text, nil
	}
	var out []string
	var e *Error
	if g.cloud != nil {
		out, e = g.cloud.judge(ctx, g, []string{text}, true)
	} else {
		out, e = g.webhook.judgeChoices(ctx, gc.req, g, []string{text})
	}
	if e != nil {
		return "", e
	}
	if out == nil {
		return text, nil
	}
	return out[0], nil
}

// cachingFor is the prompt caching of a call to e: the model's, else the policy's.
func (gc *govCall) cachingFor(e *ModelEntry) *PromptCaching {
	if e.gov != nil && e.gov.caching != nil {
		return e.gov.caching
	}
	if gc == nil {
		return nil
	}
	return gc.caching
}

// ephemeral is the cache marker placed on the neutral form (Anthropic's; Bedrock makes a cachePoint).
var ephemeral = []byte(`{"type":"ephemeral"}`)

// cacheMarkers places cache markers on a request about to be encoded for a provider. Slices that
// change are copied: req shares them with the decoded client request.
func cacheMarkers(pc *PromptCaching, body []byte, req *Request) {
	if pc == nil || EstimateTokens(body) < pc.MinTokens {
		return
	}
	if pc.CacheSystem && len(req.System) > 0 && req.System[len(req.System)-1].CacheControl == nil {
		req.System = append([]Part(nil), req.System...)
		req.System[len(req.System)-1].CacheControl = ephemeral
	}
	if pc.CacheTools && len(req.Tools) > 0 && req.Tools[len(req.Tools)-1].CacheControl == nil {
		req.Tools = append([]Tool(nil), req.Tools...)
		req.Tools[len(req.Tools)-1].CacheControl = ephemeral
	}
	if i := len(req.Messages) - 1 - pc.CacheMessageOffset; pc.CacheMessages && i >= 0 {
		m := req.Messages[i]
		if n := len(m.Parts); n > 0 && m.Parts[n-1].CacheControl == nil && m.Parts[n-1].Type != PartThinking && m.Parts[n-1].Type != PartRedactedThinking {
			req.Messages = append([]Message(nil), req.Messages...)
			m.Parts = append([]Part(nil), m.Parts...)
			m.Parts[n-1].CacheControl = ephemeral
			req.Messages[i] = m
		}
	}
}

// cacheNative places cache markers on a same-wire Anthropic request body.
func cacheNative(pc *PromptCaching, body []byte) ([]byte, error) {
	if pc == nil || EstimateTokens(body) < pc.MinTokens {
		return body, nil
	}
	doc, e := parseDoc(body)
	if e != nil {
		return nil, e
	}
	mark := func(blocks []any) {
		if n := len(blocks); n > 0 {
			if b, ok := blocks[n-1].(map[string]any); ok && b["cache_control"] == nil {
				if t, _ := b["type"].(string); t != "thinking" && t != "redacted_thinking" {
					b["cache_control"] = map[string]any{"type": "ephemeral"}
				}
			}
		}
	}
	asBlocks := func(v any) []any {
		switch x := v.(type) {
		case string:
			return []any{map[string]any{"type": "text", "text": x}}
		case []any:
			return x
		}
		return nil
	}
	if pc.CacheSystem && doc["system"] != nil {
		if b := asBlocks(doc["system"]); b != nil {
			mark(b)
			doc["system"] = b
		}
	}
	if tools, _ := doc["tools"].([]any); pc.CacheTools && len(tools) > 0 {
		mark(tools)
	}
	msgs, _ := doc["messages"].([]any)
	if i := len(msgs) - 1 - pc.CacheMessageOffset; pc.CacheMessages && i >= 0 {
		if m, ok := msgs[i].(map[string]any); ok {
			if b := asBlocks(m["content"]); b != nil {
				mark(b)
				m["content"] = b
			}
		}
	}
	return marshalDoc(doc)
}

// hasModelGov reports whether any model entry has governance (guards or caching).
func hasModelGov(models []*ModelEntry) bool {
	for _, m := range models {
		if m.gov != nil {
			return true
		}
	}
	return false
}

// checkModelGov reports the configuration errors of the models' governance.
func checkModelGov(models []*ModelEntry) error {
	var errs []error
	for _, m := range models {
		if m.gov != nil && m.gov.err != nil {
			errs = append(errs, fmt.Errorf("llm: model %q: %w", m.pattern, m.gov.err))
		}
	}
	return errors.Join(errs...)
}

// roleScope is the request scope of a message role.
func roleScope(role string) Scope {
	switch strings.ToLower(role) {
	case "system", "developer":
		return ScopeSystemPrompt
	case "tool", "function":
		return ScopeToolOutput
	}
	return ScopeMessages
}
