package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// DefaultMaxBodyBytes bounds a request body unless [MaxBodyBytes] says otherwise.
const DefaultMaxBodyBytes = 16 << 20

// maxErrorBody bounds how much of a provider's error answer is read; maxResponseBody a complete one.
const (
	maxErrorBody    = 1 << 20
	maxResponseBody = 64 << 20
)

// Router is the LLM gateway: an http.Handler that serves the OpenAI and Anthropic client APIs (see
// the package documentation) and routes each call by model to a provider, translating between wire
// formats as needed. Use it as a route's backend:
//
//	r, err := llm.New(llm.Model("gpt-4o", llm.OpenAI()))
//	gw.Route("llm").PathPrefix("/").To(r)
//
// It implements agentgateway.Inspector (State.LLM is filled before the route's policies run) and
// agentgateway.Provisioner (requests to providers go through the gateway's transport hook).
type Router struct {
	models   []*ModelEntry
	exact    map[string]*ModelEntry
	patterns []*ModelEntry // longest first
	matched  []*ModelEntry // entries with request matches, in configuration order (model_match.go)
	virtuals []*virtual
	virtual  map[string]*virtual

	maxBody      int64
	timeout      time.Duration
	defaultModel string // a request naming no model is routed as this one (defaultmodel.go)
	rt           http.RoundTripper
	logger       *slog.Logger

	// gov is the router's own ai policy and modelGov whether models have guards or caching
	// (aipolicy.go).
	gov      *compiledPolicy
	modelGov bool

	mu      sync.Mutex
	wrapped map[*Upstream]http.RoundTripper
	wrap    func(http.RoundTripper) http.RoundTripper

	catalog atomic.Pointer[Catalog] // prices for State.LLM.Cost (catalog.go)

	probes prober // active health checks (active_health.go)
}

type virtual struct {
	name, kind string
	targets    []Target
	entries    []*ModelEntry  // resolved target entries, parallel to targets
	models     []string       // upstream model per target
	when       []*cel.Program // conditional: each target's condition, nil for the default (conditional.go)
}

var (
	_ agentgateway.Inspector   = (*Router)(nil)
	_ agentgateway.Provisioner = (*Router)(nil)
)

// New builds a Router from options; a configuration error names the model or upstream at fault.
func New(opts ...Option) (*Router, error) {
	r := &Router{exact: map[string]*ModelEntry{}, virtual: map[string]*virtual{}, maxBody: DefaultMaxBodyBytes, wrapped: map[*Upstream]http.RoundTripper{}}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	if len(r.models) == 0 {
		return nil, errors.New("llm: no models")
	}
	if err := checkModelOptions(r.models); err != nil {
		return nil, err
	}
	seen := map[*Upstream]bool{}
	for _, m := range r.models {
		if !seen[m.upstream] {
			seen[m.upstream] = true
			if err := m.upstream.finish(); err != nil {
				return nil, fmt.Errorf("llm: model %q: %w", m.pattern, err)
			}
		}
		if len(m.matches) > 0 { // model_match.go: chosen by request, before the others
			r.matched = append(r.matched, m)
			continue
		}
		if strings.HasSuffix(m.pattern, "*") {
			r.patterns = append(r.patterns, m)
			continue
		}
		if _, dup := r.exact[m.pattern]; dup {
			return nil, fmt.Errorf("llm: model %q is configured twice", m.pattern)
		}
		r.exact[m.pattern] = m
	}
	sort.SliceStable(r.patterns, func(i, j int) bool { return len(r.patterns[i].pattern) > len(r.patterns[j].pattern) })
	if err := checkModelGov(r.models); err != nil {
		return nil, err
	}
	r.modelGov = hasModelGov(r.models)
	for _, v := range r.virtuals {
		if _, dup := r.virtual[v.name]; dup {
			return nil, fmt.Errorf("llm: virtual model %q is configured twice", v.name)
		}
		for i, t := range v.targets {
			e, model := r.match(t.Model, true)
			if e == nil {
				return nil, fmt.Errorf("llm: virtual model %q: target[%d] %q matches no model", v.name, i, t.Model)
			}
			if t.Weight < 0 || t.Priority < 0 {
				return nil, fmt.Errorf("llm: virtual model %q: target[%d]: negative weight or priority", v.name, i)
			}
			v.entries = append(v.entries, e)
			v.models = append(v.models, model)
		}
		r.virtual[v.name] = v
	}
	return r, nil
}

// Provision implements agentgateway.Provisioner.
func (r *Router) Provision(s agentgateway.Services) error {
	r.mu.Lock()
	r.wrap = s.WrapTransport
	r.wrapped = map[*Upstream]http.RoundTripper{}
	if r.logger == nil && s.Logger != nil {
		r.logger = s.Logger
	}
	r.mu.Unlock()
	r.startProbes() // active health checks run while a gateway serves the router
	return nil
}

func (r *Router) log() *slog.Logger {
	if r.logger != nil {
		return r.logger
	}
	return slog.Default()
}

func (r *Router) transport(u *Upstream) http.RoundTripper {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rt, ok := r.wrapped[u]; ok {
		return rt
	}
	rt := u.rt
	if rt == nil {
		rt = r.rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	if r.wrap != nil {
		rt = r.wrap(rt)
	}
	r.wrapped[u] = rt
	return rt
}

// match finds the entry for a requested model and the model name to send upstream. Internal models
// match only when internal is true (virtual model targets).
func (r *Router) match(name string, internal bool) (*ModelEntry, string) {
	if e, ok := r.exact[name]; ok && (internal || e.visibility == Public) {
		return e, e.upstreamModel(name)
	}
	for _, e := range r.patterns {
		prefix := strings.TrimSuffix(e.pattern, "*")
		if !strings.HasPrefix(name, prefix) || (!internal && e.visibility != Public) {
			continue
		}
		if len(name) == len(prefix) && prefix != "" {
			continue // "gpt-*" does not match "gpt-"
		}
		return e, e.upstreamModel(name)
	}
	return nil, ""
}

func (e *ModelEntry) upstreamModel(requested string) string {
	switch {
	case e.model != "":
		return e.model
	case e.upstream.model != "":
		return e.upstream.model
	case strings.HasSuffix(e.pattern, "/*"):
		return strings.TrimPrefix(requested, strings.TrimSuffix(e.pattern, "*"))
	}
	return requested
}

// candidate is one model entry to try, with the model to send.
type candidate struct {
	entry *ModelEntry
	model string
}

// resolve lists the candidates for a requested model, in the order to try them.
func (r *Router) resolve(name string) []candidate {
	if v, ok := r.virtual[name]; ok {
		return v.order(name)
	}
	if e, model := r.match(name, false); e != nil {
		return []candidate{{e, model}}
	}
	if v, ok := r.virtual["*"]; ok {
		return v.order(name)
	}
	return nil
}

// order is the try order of a virtual model: failover by priority group, weighted by a weighted
// shuffle; evicted targets go last (tried only when nothing else is left).
func (v *virtual) order(requested string) []candidate {
	if v.kind == "conditional" {
		return v.defaultTarget() // without the request only the default applies (conditional.go)
	}
	idx := make([]int, len(v.targets))
	for i := range idx {
		idx[i] = i
	}
	if v.kind == "weighted" {
		// Efraimidis–Spirakis: sort by u^(1/w) descending.
		keys := make([]float64, len(idx))
		for i, t := range v.targets {
			w := t.Weight
			if w == 0 {
				w = 1
			}
			keys[i] = -rand.ExpFloat64() / float64(w)
		}
		sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] > keys[idx[b]] })
	} else {
		sort.SliceStable(idx, func(a, b int) bool { return v.targets[idx[a]].Priority < v.targets[idx[b]].Priority })
	}
	now := time.Now()
	out := make([]candidate, 0, len(idx))
	var evicted []candidate
	for _, i := range idx {
		c := candidate{v.entries[i], v.models[i]}
		if v.name == "*" {
			// A catch-all (the route backend ai with groups) sends the client's model unless
			// the target names one.
			c.model = v.entries[i].upstreamModel(requested)
		}
		if v.entries[i].health.evicted(now) {
			evicted = append(evicted, c)
			continue
		}
		out = append(out, c)
	}
	return append(out, evicted...)
}

// health is a model entry's eviction state.
type health struct {
	mu       sync.Mutex
	failures int
	until    time.Time
	policy   *ModelHealthPolicy // nil: the default (model_match.go)
}

func (h *health) evicted(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Before(h.until)
}

func (h *health) fail(retryAfter time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	n := h.failures
	if p := h.policy; p != nil && p.ConsecutiveFailures > 1 {
		if n < p.ConsecutiveFailures {
			return // not evicted yet
		}
		n -= p.ConsecutiveFailures - 1
	}
	d := time.Second << min(n-1, 6)
	if d > time.Minute {
		d = time.Minute
	}
	if p := h.policy; p != nil && p.EvictFor > 0 {
		d = p.EvictFor
	}
	if retryAfter > 0 {
		d = min(retryAfter, 5*time.Minute)
	}
	h.until = time.Now().Add(d)
}

func (h *health) ok() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures, h.until = 0, time.Time{}
}

// endpoint is what a path asks for.
type endpoint struct {
	op     Operation
	format Format
}

// classify maps a request path (under any prefix) to its operation and client format.
func classify(r *http.Request) (endpoint, bool) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	if strings.IndexByte(p, ':') >= 0 { // Gemini: models/{model}:{method} (gemini_format.go)
		if ep, ok := classifyGemini(r, p); ok {
			return ep, true
		}
	}
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		return endpoint{OpChat, OpenAIChat{}}, true
	case strings.HasSuffix(p, "/embeddings"): // OpenAI embeddings (embeddings.go)
		return endpoint{OpEmbeddings, OpenAIChat{}}, true
	case strings.HasSuffix(p, "/responses"): // OpenAI Responses (responses.go)
		return endpoint{OpChat, OpenAIResponses{}}, true
	case strings.HasSuffix(p, "/messages/count_tokens"):
		return endpoint{OpCountTokens, AnthropicMessages{}}, true
	case strings.HasSuffix(p, "/messages"):
		return endpoint{OpChat, AnthropicMessages{}}, true
	case strings.HasSuffix(p, "/models"):
		if r.Header.Get("anthropic-version") != "" || r.Header.Get("x-api-key") != "" {
			return endpoint{OpModels, AnthropicMessages{}}, true
		}
		if isGeminiClient(r, p) {
			return endpoint{OpModels, GeminiNative{}}, true
		}
		return endpoint{OpModels, OpenAIChat{}}, true
	}
	return endpoint{}, false
}

// inspected is what Inspect read, handed to ServeHTTP through the request context.
type inspected struct {
	ep   endpoint
	body []byte
	peek Peek
	err  *Error
}

type inspectedKey struct{}

// Inspect implements agentgateway.Inspector: it reads the body (bounded) and the model, and fills
// State.LLM, so that policies see llm.requestModel. Errors are answered by ServeHTTP, after the
// route's policies (authentication first).
func (r *Router) Inspect(w http.ResponseWriter, req *http.Request) (*http.Request, bool) {
	in := r.read(req)
	if in == nil {
		return req, true
	}
	fillRequestState(agentgateway.StateFrom(req.Context()), in)
	if in.body != nil {
		req.Body = io.NopCloser(bytes.NewReader(in.body))
	}
	return req.WithContext(context.WithValue(req.Context(), inspectedKey{}, in)), true
}

func fillRequestState(st *agentgateway.State, in *inspected) {
	if st == nil {
		return
	}
	st.LLM.Operation = string(in.ep.op)
	st.LLM.RequestModel = in.peek.Model
	st.LLM.Streaming = in.peek.Stream
	fillBudgetState(st, in) // what token budgets need before the call (budget.go)
}

// read reads and peeks a POST body; nil for requests that are not LLM calls.
func (r *Router) read(req *http.Request) *inspected {
	ep, ok := classify(req)
	if !ok {
		return nil
	}
	in := &inspected{ep: ep}
	if ep.op == OpModels || req.Method != http.MethodPost {
		return in
	}
	body, err := readBody(req.Body, req.ContentLength, r.maxBody)
	if err != nil {
		in.err = &Error{Status: 400, Kind: ErrInvalidRequest, Message: "reading the request body failed", Err: fmt.Errorf("%w: %w", ErrMalformedRequest, err)}
		return in
	}
	if int64(len(body)) > r.maxBody {
		in.err = &Error{Status: 413, Kind: ErrRequestTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", r.maxBody), Err: ErrBodyTooLarge}
		return in
	}
	if r.defaultModel != "" && bodyNamesModel(ep.format) {
		body = withDefaultModel(body, r.defaultModel)
	}
	in.body = body
	p, err := ep.format.Peek(body)
	if err != nil {
		in.err = asError(err)
		return in
	}
	in.peek = p
	return in
}

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: 400, Kind: ErrInvalidRequest, Message: err.Error(), Err: err}
}

// ServeHTTP implements http.Handler.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	in, _ := req.Context().Value(inspectedKey{}).(*inspected)
	in, done := r.routed(w, req, in) // the ai policy's routes (ai_routes.go)
	if done {
		return
	}
	if in == nil {
		in = r.read(req)
		if in == nil {
			writeError(w, OpenAIChat{}, &Error{Status: 404, Kind: ErrNotFound, Message: "no LLM API at " + req.URL.Path})
			return
		}
	}
	st := agentgateway.StateFrom(req.Context())
	if st == nil {
		st = &agentgateway.State{Start: time.Now()}
	}
	fillRequestState(st, in)
	if in.err != nil {
		writeError(w, in.ep.format, in.err)
		return
	}
	if in.ep.op == OpModels {
		if req.Method != http.MethodGet {
			writeError(w, in.ep.format, &Error{Status: 405, Kind: ErrInvalidRequest, Message: "use GET"})
			return
		}
		if ms := r.declaredModels(req); ms != nil { // an ai policy's declared models
			serveDeclared(w, in.ep.format, ms, modelFilter(st))
			return
		}
		r.serveModels(w, in.ep.format, modelFilter(st)) // an API key's allowedModels (allowed.go)
		return
	}
	if req.Method != http.MethodPost {
		writeError(w, in.ep.format, &Error{Status: 405, Kind: ErrInvalidRequest, Message: "use POST"})
		return
	}
	if e := r.exact[in.peek.Model]; e != nil && e.serverTools != nil && !isServerToolsInner(req) &&
		r.serveServerTools(w, req, in, e.serverTools) { // servertools.go
		return
	}
	// Governance hook (aipolicy.go): the ai policy's model aliases, request fields, prompts and
	// request guards, applied to the client's body before routing.
	gc, gerr := r.govern(req, st, in)
	if gerr != nil {
		st.Err = gerr
		writeError(w, in.ep.format, gerr)
		return
	}
	if e := checkAllowed(st, in.peek.Model); e != nil { // an API key's allowedModels (allowed.go), after aliases
		writeError(w, in.ep.format, e)
		return
	}
	cands := r.resolveRequest(req, st, in.peek.Model) // by request for conditional virtual models
	if len(cands) == 0 {
		writeError(w, in.ep.format, &Error{Status: 404, Kind: ErrNotFound, Param: "model",
			Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", in.peek.Model), Err: ErrUnknownModel})
		return
	}
	c := &call{r: r, w: w, req: req, st: st, in: in, gov: gc}
	c.run(cands)
}

// call is one client request being served.
type call struct {
	r   *Router
	w   http.ResponseWriter
	req *http.Request
	st  *agentgateway.State
	in  *inspected

	decoded *Request // the client's request decoded once, for translation
	sent    string   // the model sent to the provider, for pricing (catalog.go)
	gov     *govCall // governance of the call, nil when none applies (aipolicy.go)
}

func (c *call) format() Format { return c.in.ep.format }

func (c *call) run(cands []candidate) {
	var last *Error
	for i, cand := range cands {
		final := i == len(cands)-1
		e, retry := c.attempt(cand, final)
		if e == nil {
			return
		}
		last = e
		if !retry || final {
			break
		}
		c.r.log().LogAttrs(c.req.Context(), slog.LevelWarn, "llm: failing over", slog.String("model", cand.model),
			slog.String("provider", cand.entry.upstream.name), slog.Int("status", e.Status), slog.String("error", e.Message))
	}
	if last != nil {
		if c.st.Err == nil && last.Err != nil {
			c.st.Err = last
		}
		writeError(c.w, c.format(), last)
	}
}

// retryable reports whether a failure moves on to the next candidate.
func retryable(status int) bool { return status == 429 || status >= 500 }

// attempt sends the call to one candidate. It returns nil when an answer was written, else the
// error and whether another candidate may be tried (nothing was written then).
func (c *call) attempt(cand candidate, final bool) (*Error, bool) {
	up := cand.entry.upstream
	p := up.provider
	c.st.LLM.Provider = p.Name()
	c.sent = cand.model
	op := c.in.ep.op
	f := c.format()
	if mode := cand.entry.passthrough; mode != "" || c.sameGemini(cand) {
		return c.passthrough(cand, final, mode != PassthroughOpaque) // passthrough.go
	}
	if op == OpEmbeddings {
		return c.embed(cand, final) // embeddings.go
	}
	if op == OpCountTokens && p.Path(OpCountTokens) == "" {
		c.countTokensLocally()
		return nil, false
	}
	fast := p.Wire() == f.Name()
	// Defaults and overrides are fields of the client's request, applied before any translation.
	src := c.in.body
	fields := len(cand.entry.defaults) > 0 || len(cand.entry.overrides) > 0
	if fields {
		var err error
		if src, err = applyFields(src, cand.entry.defaults, cand.entry.overrides); err != nil {
			return asError(err), false
		}
	}
	if len(cand.entry.xforms) > 0 { // the model's CEL transformations (model_match.go)
		var e *Error
		if src, e = c.applyTransforms(cand.entry, src); e != nil {
			return e, false
		}
		fields = true
	}
	// Governance hook: the model's own request guards (aipolicy.go).
	if e := cand.entry.gov; e != nil && e.guard != nil && len(e.guard.Request) > 0 {
		var gerr *Error
		if src, gerr = c.gov.modelRequest(cand.entry, f.Name(), src); gerr != nil {
			return gerr, false
		}
		fields = true // decode this body, not the one cached for other candidates
	}
	var body []byte
	if fast {
		var err error
		if body, err = rewriteNative(src, f.Name(), cand.model, c.in.peek, op); err != nil {
			return asError(err), false
		}
		if pc := c.gov.cachingFor(cand.entry); pc != nil && f.Name() == "anthropic" && op == OpChat {
			if body, err = cacheNative(pc, body); err != nil {
				return asError(err), false
			}
		}
	} else {
		decoded := c.decoded
		if decoded == nil || fields {
			d, err := f.DecodeRequest(src)
			if err != nil {
				return asError(err), false
			}
			decoded = d
			if !fields {
				c.decoded = d
			}
		}
		if c.decoded == nil {
			c.decoded = decoded // the stream encoder reads the client's options from it
		}
		out := *decoded
		out.Model = cand.model
		if op == OpChat {
			cacheMarkers(c.gov.cachingFor(cand.entry), src, &out) // governance hook: prompt caching
		}
		var err error
		if body, err = p.EncodeRequest(&out); err != nil {
			return asError(err), false
		}
		if op == OpCountTokens && p.Wire() == "anthropic" {
			body = countTokensBody(body) // a translated count (Gemini :countTokens) to Anthropic
		}
	}
	if op == OpChat { // governance hook: final transformations, on the provider's own format
		var gerr *Error
		if body, gerr = c.gov.finalRequest(body); gerr != nil {
			return gerr, false
		}
		if len(up.meta) > 0 { // Bedrock requestMetadata (reqmeta.go)
			if body, gerr = up.withMetadata(c.req, c.st, body); gerr != nil {
				return gerr, false
			}
		}
	}
	ctx, cancel := context.WithCancel(context.WithValue(c.req.Context(), clientRequestKey{}, c.req)) // awsrequest.go
	defer cancel()
	ureq, err := http.NewRequestWithContext(ctx, http.MethodPost, up.urlFor(op, cand.model, c.in.peek.Stream), bytes.NewReader(body))
	if err != nil {
		return &Error{Status: 502, Kind: ErrAPI, Message: "bad upstream URL", Err: err}, false
	}
	key := up.key
	if up.passKey {
		key = clientKey(c.req.Header)
	}
	if fast && f.Name() == "anthropic" {
		for _, h := range []string{"anthropic-version", "anthropic-beta"} {
			if v := c.req.Header.Values(h); len(v) > 0 {
				ureq.Header[http.CanonicalHeaderKey(h)] = v
			}
		}
	}
	p.SetHeaders(ureq.Header, key)
	setProviderHeaders(ureq.Header, up, cand.entry)
	if c.in.peek.Stream {
		ureq.Header.Set("Accept", "text/event-stream")
	}
	// Providers that sign over the final request (AWS SigV4) or fetch a token do it last.
	if err := up.sign(ureq, body); err != nil { // cloudauth.go
		return &Error{Status: 502, Kind: ErrAPI, Message: "signing the provider request failed", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}, false
	}
	resp, e, retry := c.send(ureq, up, cand, cancel)
	if e != nil {
		return e, retry
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		e := p.DecodeError(resp.StatusCode, raw)
		e.RetryAfter = retryAfter(resp.Header)
		e.Err = fmt.Errorf("%w: provider answered %d", ErrUpstream, resp.StatusCode)
		cand.entry.health.observe(ureq, resp, e.RetryAfter)
		if retryable(resp.StatusCode) && !final {
			return e, true
		}
		c.st.Status = resp.StatusCode
		if fast {
			// Same wire: the provider's own error object is already in the client's format.
			setRetryAfter(c.w.Header(), e)
			c.w.Header().Set("Content-Type", "application/json")
			c.w.WriteHeader(resp.StatusCode)
			_, _ = c.w.Write(raw)
			return nil, false
		}
		return e, false
	}
	cand.entry.health.observe(ureq, resp, 0)
	c.st.LLM.ResponseModel = cand.model
	if op == OpCountTokens {
		if _, ok := f.(countAnswerer); ok {
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			c.answerCount(resp, raw)
			return nil, false
		}
		c.forwardPlain(resp)
		return nil, false
	}
	// Governance hook: response guards make even a same-wire answer go through the neutral form.
	guards := c.gov.responseGuards(cand.entry, c.in.peek.Stream)
	if len(guards) > 0 && c.decoded == nil {
		d, err := f.DecodeRequest(src)
		if err != nil {
			return asError(err), false
		}
		c.decoded = d
	}
	if c.in.peek.Stream && isUpstreamStream(p, resp.Header) {
		if fast && len(guards) == 0 {
			c.streamNative(resp, p)
		} else {
			c.streamTranslated(resp, p, guards)
		}
		return nil, false
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		e := &Error{Status: 502, Kind: ErrAPI, Message: "reading the provider's answer failed", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}
		return e, false
	}
	if fast && len(guards) == 0 {
		model, u := p.Usage(raw)
		c.account(model, u)
		c.w.Header().Set("Content-Type", "application/json")
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(raw)
		return nil, false
	}
	pr, err := p.DecodeResponse(raw)
	if err != nil {
		return &Error{Status: 502, Kind: ErrAPI, Message: "the provider's answer could not be read", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}, false
	}
	if pr.Model == "" {
		pr.Model = cand.model // Bedrock answers do not name the model
	}
	c.account(pr.Model, pr.Usage)
	if len(guards) > 0 {
		changed, e := c.gov.guardResponse(c.req.Context(), guards, pr)
		if e != nil {
			return e, false
		}
		if fast && !changed && !c.in.peek.Stream { // nothing masked: the provider's own bytes
			c.w.Header().Set("Content-Type", "application/json")
			c.w.WriteHeader(http.StatusOK)
			_, _ = c.w.Write(raw)
			return nil, false
		}
	}
	if c.decoded != nil && c.in.peek.Stream {
		// The client asked for a stream the provider did not give: replay the answer as one.
		c.replayAsStream(pr)
		return nil, false
	}
	out, err := f.EncodeResponse(pr)
	if err != nil {
		return asError(err), false
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(out)
	return nil, false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

func setRetryAfter(h http.Header, e *Error) {
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
}

// clientKey is the credential the client sent: its bearer token or x-api-key.
func clientKey(h http.Header) string {
	if v, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	return h.Get("x-api-key")
}

// account records the response model and usage in the State.
func (c *call) account(model string, u Usage) {
	if model != "" {
		c.st.LLM.ResponseModel = model
	}
	l := &c.st.LLM
	l.InputTokens, l.OutputTokens = u.InputTokens, u.OutputTokens
	l.CachedInputTokens, l.CacheCreationTokens, l.ReasoningTokens = u.CachedInputTokens, u.CacheCreationTokens, u.ReasoningTokens
	l.Cost = c.cost()
}

func (c *call) firstToken() {
	if c.st.LLM.FirstToken == 0 && !c.st.Start.IsZero() {
		c.st.LLM.FirstToken = max(time.Since(c.st.Start), 1)
	}
}

func (c *call) forwardPlain(resp *http.Response) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(c.w, io.LimitReader(resp.Body, maxResponseBody))
}

func sseHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
}

// streamNative forwards a same-wire stream event by event, reading usage on the way. An OpenAI
// client that did not ask for usage does not get the usage chunk the gateway asked for.
func (c *call) streamNative(resp *http.Response, p Provider) {
	sseHeaders(c.w)
	rc := http.NewResponseController(c.w)
	sse := newSSEReader(resp.Body, true)
	openai := p.Wire() == "openai"
	dropUsage := openai && !c.in.peek.IncludeUsage
	var u Usage
	model := ""
	complete := false // the provider ended the stream properly ([DONE], a finish reason, message_stop, error)
	for {
		name, data, err := sse.Next()
		if err != nil {
			if err != io.EOF || !complete {
				e := &Error{Status: 502, Kind: ErrAPI, Message: "the provider's stream ended early", Err: fmt.Errorf("%w: %w", ErrUpstream, io.ErrUnexpectedEOF)}
				if err != io.EOF {
					e.Message, e.Err = "the provider's stream failed", fmt.Errorf("%w: %w", ErrUpstream, err)
				}
				c.st.Err = e
				_, _ = c.w.Write(c.format().(streamErrorer).streamError(e))
			}
			break
		}
		raw := sse.Raw()
		if openai {
			if string(data) == "[DONE]" || bytes.Contains(data, []byte(`"finish_reason":"`)) || bytes.HasPrefix(data, []byte(`{"error"`)) {
				complete = true
			}
			if bytes.Contains(data, []byte(`"usage":{`)) {
				var ch oaChunk
				if json.Unmarshal(data, &ch) == nil {
					if ch.Usage != nil {
						u.merge(ch.Usage.usage())
					}
					if model == "" {
						model = ch.Model
					}
					if dropUsage && len(ch.Choices) == 0 {
						continue
					}
				}
			} else if model == "" && bytes.HasPrefix(data, []byte("{")) {
				var ch struct {
					Model string `json:"model"`
				}
				_ = json.Unmarshal(data, &ch)
				model = ch.Model
			}
			if bytes.Contains(data, []byte(`"content":"`)) || bytes.Contains(data, []byte(`"arguments":"`)) {
				c.firstToken()
			}
		} else {
			switch string(name) {
			case "message_stop", "error":
				complete = true
			case "message_start", "message_delta":
				var ev struct {
					Message *struct {
						Model string   `json:"model"`
						Usage *anUsage `json:"usage"`
					} `json:"message"`
					Usage *anUsage `json:"usage"`
				}
				if json.Unmarshal(data, &ev) == nil {
					if ev.Message != nil {
						model = ev.Message.Model
						u.merge(ev.Message.Usage.usage())
					}
					u.merge(ev.Usage.usage())
				}
			case "content_block_delta":
				c.firstToken()
			}
		}
		if _, err := c.w.Write(raw); err != nil {
			break
		}
		if sse.r.Buffered() == 0 {
			_ = rc.Flush()
		}
	}
	_ = rc.Flush()
	c.account(model, u)
}

// streamErrorer is implemented by the formats: the SSE frames of a mid-stream error.
type streamErrorer interface{ streamError(e *Error) []byte }

func (OpenAIChat) streamError(e *Error) []byte {
	b, _ := json.Marshal(map[string]any{"error": oaErrorObject(e)})
	return appendSSE(nil, "", b)
}

func (AnthropicMessages) streamError(e *Error) []byte {
	return appendSSE(nil, "error", AnthropicMessages{}.ErrorBody(e))
}

// streamTranslated decodes the provider's stream and encodes it in the client's format.
func (c *call) streamTranslated(resp *http.Response, p Provider, guards []*Guard) {
	streamHeaders(c.w, c.format())
	rc := http.NewResponseController(c.w)
	dec := p.NewStreamDecoder(resp.Body)
	enc := c.format().NewStreamEncoder(c.decoded)
	buffered, _ := dec.(interface{ buffered() int })
	var u Usage
	model := ""
	buf := make([]byte, 0, 1024)
	var sg *streamGuard
	if len(guards) > 0 {
		sg = newStreamGuard(c.req.Context(), c.gov, guards)
	}
	for {
		ev, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			ev = Event{Type: EventError, Err: &Error{Status: 502, Kind: ErrAPI, Message: "the provider's stream failed", Err: err}}
		}
		switch ev.Type {
		case EventStart:
			model = ev.Model
			u.merge(ev.Usage)
		case EventUsage:
			u.merge(ev.Usage)
		case EventDelta:
			c.firstToken()
		case EventError:
			c.st.Err = ev.Err
		}
		if sg != nil {
			// Governance hook: response guards see each event; masked text may be held back a little.
			evs, gerr := sg.process(&ev)
			if gerr != nil {
				c.st.Err = gerr
				buf = enc.Encode(buf[:0], &Event{Type: EventError, Err: gerr})
				_, _ = c.w.Write(buf)
				break
			}
			buf = buf[:0]
			for i := range evs {
				buf = enc.Encode(buf, &evs[i])
			}
			if len(buf) > 0 {
				if _, werr := c.w.Write(buf); werr != nil {
					break
				}
				_ = rc.Flush()
			}
			if ev.Type == EventError || ev.Type == EventEnd || err != nil {
				break
			}
			continue
		}
		buf = enc.Encode(buf[:0], &ev)
		if len(buf) > 0 {
			if _, werr := c.w.Write(buf); werr != nil {
				break
			}
			if buffered == nil || buffered.buffered() == 0 {
				_ = rc.Flush()
			}
		}
		if ev.Type == EventError || ev.Type == EventEnd || err != nil {
			break
		}
	}
	_ = rc.Flush()
	c.account(model, u)
}

func (d *oaStreamDecoder) buffered() int { return d.sse.r.Buffered() + len(d.queue) }
func (d *anStreamDecoder) buffered() int { return d.sse.r.Buffered() + len(d.pending) }

// replayAsStream writes a complete response as the client's stream.
func (c *call) replayAsStream(pr *Response) {
	streamHeaders(c.w, c.format())
	enc := c.format().NewStreamEncoder(c.decoded)
	var buf []byte
	buf = enc.Encode(buf, &Event{Type: EventStart, ID: pr.ID, Model: pr.Model, Usage: Usage{InputTokens: pr.Usage.InputTokens, CachedInputTokens: pr.Usage.CachedInputTokens, CacheCreationTokens: pr.Usage.CacheCreationTokens}})
	for i, part := range pr.Parts {
		ev := Event{Type: EventBlockStart, Index: i, PartType: part.Type, ToolCallID: part.ToolCallID, ToolName: part.ToolName, Data: part.Data}
		buf = enc.Encode(buf, &ev)
		switch part.Type {
		case PartText, PartThinking:
			buf = enc.Encode(buf, &Event{Type: EventDelta, Index: i, PartType: part.Type, Text: part.Text})
			if part.Signature != "" {
				buf = enc.Encode(buf, &Event{Type: EventDelta, Index: i, PartType: part.Type, Signature: part.Signature})
			}
		case PartToolCall:
			buf = enc.Encode(buf, &Event{Type: EventDelta, Index: i, PartType: part.Type, Arguments: string(part.Arguments)})
		}
		buf = enc.Encode(buf, &Event{Type: EventBlockStop, Index: i})
	}
	buf = enc.Encode(buf, &Event{Type: EventFinish, StopReason: pr.StopReason, StopSequence: pr.StopSequence})
	buf = enc.Encode(buf, &Event{Type: EventUsage, Usage: pr.Usage})
	buf = enc.Encode(buf, &Event{Type: EventEnd})
	_, _ = c.w.Write(buf)
}

// countTokensLocally answers count_tokens with an estimate (about four bytes a token) when the
// provider has no counting endpoint.
func (c *call) countTokensLocally() {
	n := EstimateTokens(c.in.body)
	c.st.LLM.InputTokens = int64(n)
	writeCount(c.w, c.format(), int64(n))
}

// EstimateTokens estimates the tokens of a request body: about one token per four bytes of JSON
// string content (text, arguments, schemas; an escape sequence counts as one), never less than 1.
// It runs on every LLM request (token budgets charge it up front), so it scans with bytes.IndexByte
// and bytes.Count rather than byte by byte.
func EstimateTokens(body []byte) int {
	n := 0
	for {
		i := bytes.IndexByte(body, '"')
		if i < 0 {
			break
		}
		body = body[i+1:] // inside a string: find its closing quote, skipping escaped ones
		end := 0
		for {
			j := bytes.IndexByte(body[end:], '"')
			if j < 0 {
				end = len(body)
				break
			}
			end += j
			k := end
			for k > 0 && body[k-1] == '\\' {
				k--
			}
			if (end-k)%2 == 0 {
				break
			}
			end++ // an escaped quote
		}
		span := body[:end]
		n += len(span) - bytes.Count(span, []byte{'\\'})
		if end < len(body) {
			end++
		}
		body = body[end:]
	}
	return max(1, (n+3)/4)
}

// writeError answers e in the client's format.
func writeError(w http.ResponseWriter, f Format, e *Error) {
	setRetryAfter(w.Header(), e)
	w.Header().Set("Content-Type", "application/json")
	if rej := rejectionOf(e); rej != nil { // a guard's rejection: its headers, maybe its own body
		if raw := writeRejectionHeaders(w.Header(), rej); raw != nil {
			w.WriteHeader(e.Status)
			_, _ = w.Write(raw)
			return
		}
	}
	status := e.Status
	if status < 400 || status > 599 {
		status = kindStatus(e.Kind)
	}
	w.WriteHeader(status)
	_, _ = w.Write(f.ErrorBody(e))
}

// rewriteNative prepares a same-wire request body: the model replaced and, for OpenAI streams, usage
// asked for. A body that needs neither passes unchanged.
func rewriteNative(body []byte, wire, model string, p Peek, op Operation) ([]byte, error) {
	needUsage := wire == "openai" && p.Stream && !p.IncludeUsage && op == OpChat
	if model == p.Model && !needUsage {
		return body, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, malformed(err)
	}
	m["model"], _ = json.Marshal(model)
	if needUsage {
		var so map[string]json.RawMessage
		_ = json.Unmarshal(m["stream_options"], &so)
		if so == nil {
			so = map[string]json.RawMessage{}
		}
		so["include_usage"] = json.RawMessage("true")
		m["stream_options"], _ = json.Marshal(so)
	}
	return json.Marshal(m)
}

// applyFields sets defaults (where absent) and overrides (always) on a request body's top level.
func applyFields(body []byte, defaults, overrides map[string]any) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, malformed(err)
	}
	for k, v := range defaults {
		if _, ok := m[k]; !ok {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("llm: default %q: %w", k, err)
			}
			m[k] = b
		}
	}
	for k, v := range overrides {
		if v == nil {
			delete(m, k)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("llm: override %q: %w", k, err)
		}
		m[k] = b
	}
	return json.Marshal(m)
}

// send sends ureq to the provider within the call's timeout (the router's, else the route's backend
// timeout; cancel ends ureq's context). A failure to get an answer is a 499 when the client went
// away, a 504 on the timeout, else a 502, and counts against the candidate's health; retry says
// whether another candidate may be tried.
func (c *call) send(ureq *http.Request, up *Upstream, cand candidate, cancel context.CancelFunc) (resp *http.Response, _ *Error, retry bool) {
	timeout := c.r.timeout
	if timeout == 0 {
		timeout = c.st.BackendTimeout
	}
	var timedOut atomic.Bool
	var timer *time.Timer
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() { timedOut.Store(true); cancel() })
	}
	resp, err := c.r.transport(up).RoundTrip(ureq)
	if timer != nil && !timer.Stop() && err == nil {
		// The timer fired as the header came: treat as a timeout, the context is cancelled.
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err == nil {
		return resp, nil, false
	}
	if c.req.Context().Err() != nil {
		return nil, &Error{Status: 499, Kind: ErrAPI, Message: "client went away", Err: err}, false
	}
	e := &Error{Status: 502, Kind: ErrAPI, Message: "the provider could not be reached", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}
	if timedOut.Load() || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		e = &Error{Status: 504, Kind: ErrTimeout, Message: "the provider did not answer in time", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}
	}
	cand.entry.health.fail(0)
	return nil, e, true
}
