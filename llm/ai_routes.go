package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
)

// RouteType is the API a request path serves (the schema's RouteType), for [AIPolicy.Routes].
type RouteType string

// Route types served.
const (
	RouteCompletions         RouteType = "completions"         // OpenAI chat completions
	RouteMessages            RouteType = "messages"            // Anthropic messages
	RouteResponses           RouteType = "responses"           // OpenAI Responses
	RouteEmbeddings          RouteType = "embeddings"          // OpenAI embeddings
	RouteModels              RouteType = "models"              // OpenAI model list
	RouteAnthropicTokenCount RouteType = "anthropicTokenCount" // Anthropic count_tokens
	// RoutePassthrough sends the request to the model's provider as it is (method, path, query,
	// body) and its answer back as it is.
	RoutePassthrough RouteType = "passthrough"
	// RouteDetect is RoutePassthrough that also reads the answer's model and usage (JSON, SSE and
	// AWS event streams) into State.LLM for telemetry and budgets; no guards apply.
	RouteDetect RouteType = "detect"
)

// routeRule is one compiled entry of a routes map.
type routeRule struct {
	suffix string // "*" matches every path
	typ    RouteType
}

// compileRoutes checks a routes map and sorts it: longer suffixes first, "*" last.
func compileRoutes(routes map[string]RouteType) ([]routeRule, error) {
	var out []routeRule
	for suffix, t := range routes {
		switch t {
		case RouteCompletions, RouteMessages, RouteResponses, RouteEmbeddings, RouteModels, RouteAnthropicTokenCount, RoutePassthrough, RouteDetect:
		case "realtime", "generateContent", "geminiCountTokens", "rerank":
			return nil, fmt.Errorf("routes[%q]: %s: %w", suffix, t, ErrUnsupported)
		default:
			return nil, fmt.Errorf("routes[%q]: unknown route type %q", suffix, t)
		}
		if suffix == "" {
			return nil, fmt.Errorf("routes: an empty path suffix")
		}
		out = append(out, routeRule{suffix, t})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].suffix, out[j].suffix
		if (a == "*") != (b == "*") {
			return b == "*"
		}
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
	return out, nil
}

// routeFor is the route type the effective routes give the request's path: the innermost policy
// with routes decides; a path none of its suffixes (nor "*") matches keeps the default
// classification.
func (r *Router) routeFor(req *http.Request) (RouteType, bool) {
	layers, _ := req.Context().Value(aiPolicyKey{}).([]*compiledPolicy)
	var rules []routeRule
	for i := len(layers) - 1; i >= 0 && rules == nil; i-- {
		rules = layers[i].routes
	}
	if rules == nil && r.gov != nil {
		rules = r.gov.routes
	}
	p := req.URL.Path
	for _, rr := range rules {
		if rr.suffix == "*" || strings.HasSuffix(p, rr.suffix) {
			return rr.typ, true
		}
	}
	return "", false
}

// routeEndpoint is the endpoint of an API route type.
func routeEndpoint(t RouteType) endpoint {
	switch t {
	case RouteMessages:
		return endpoint{OpChat, AnthropicMessages{}}
	case RouteResponses:
		return endpoint{OpChat, OpenAIResponses{}}
	case RouteEmbeddings:
		return endpoint{OpEmbeddings, OpenAIChat{}}
	case RouteModels:
		return endpoint{OpModels, OpenAIChat{}}
	case RouteAnthropicTokenCount:
		return endpoint{OpCountTokens, AnthropicMessages{}}
	}
	return endpoint{OpChat, OpenAIChat{}}
}

// routed applies the routes to a request: the inspected request read as the route's API (nil, true
// when the request was answered here: a passthrough route).
func (r *Router) routed(w http.ResponseWriter, req *http.Request, in *inspected) (*inspected, bool) {
	t, ok := r.routeFor(req)
	if !ok {
		return in, false
	}
	if t == RoutePassthrough || t == RouteDetect {
		r.servePassthroughRoute(w, req, in, t == RouteDetect)
		return nil, true
	}
	ep := routeEndpoint(t)
	if in != nil && in.ep.op == ep.op && in.ep.format.Name() == ep.format.Name() {
		return in, false
	}
	out := &inspected{ep: ep}
	if ep.op == OpModels || req.Method != http.MethodPost {
		return out, false
	}
	var body []byte
	if in != nil && in.body != nil {
		body = in.body
	} else {
		b, err := readBody(req.Body, req.ContentLength, r.maxBody)
		if err != nil {
			out.err = &Error{Status: 400, Kind: ErrInvalidRequest, Message: "reading the request body failed", Err: fmt.Errorf("%w: %w", ErrMalformedRequest, err)}
			return out, false
		}
		if int64(len(b)) > r.maxBody {
			out.err = &Error{Status: 413, Kind: ErrRequestTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", r.maxBody), Err: ErrBodyTooLarge}
			return out, false
		}
		body = b
	}
	out.body = body
	p, err := ep.format.Peek(body)
	if err != nil {
		out.err = asError(err)
		return out, false
	}
	out.peek = p
	return out, false
}

// passthroughModel is the model a passthrough request names: the body's "model", Bedrock's
// /model/{modelId}/..., or Gemini's models/{model}:method.
func passthroughModel(path string, body []byte) string {
	var doc struct {
		Model string `json:"model"`
	}
	if len(body) > 0 && body[0] == '{' && json.Unmarshal(body, &doc) == nil && doc.Model != "" {
		return doc.Model
	}
	if i := strings.Index(path, "/model/"); i >= 0 {
		rest := path[i+len("/model/"):]
		if j := strings.IndexByte(rest, '/'); j > 0 {
			if m, err := url.PathUnescape(rest[:j]); err == nil {
				return m
			}
		}
	}
	if i := strings.Index(path, "models/"); i >= 0 {
		rest := path[i+len("models/"):]
		if j := strings.IndexByte(rest, ':'); j > 0 {
			return rest[:j]
		}
	}
	return ""
}

// servePassthroughRoute forwards a request of a passthrough or detect route to the provider of the
// model it names (the only model when it names none), failing over as a virtual model does.
func (r *Router) servePassthroughRoute(w http.ResponseWriter, req *http.Request, in *inspected, detect bool) {
	st := agentgateway.StateFrom(req.Context())
	if st == nil {
		st = &agentgateway.State{}
	}
	var body []byte
	if in != nil && in.body != nil {
		body = in.body
	} else if req.Body != nil {
		b, err := readBody(req.Body, req.ContentLength, r.maxBody)
		if err != nil {
			writeError(w, OpenAIChat{}, &Error{Status: 400, Kind: ErrInvalidRequest, Message: "reading the request body failed", Err: fmt.Errorf("%w: %w", ErrMalformedRequest, err)})
			return
		}
		if int64(len(b)) > r.maxBody {
			writeError(w, OpenAIChat{}, &Error{Status: 413, Kind: ErrRequestTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", r.maxBody), Err: ErrBodyTooLarge})
			return
		}
		body = b
	}
	model := passthroughModel(req.URL.Path, body)
	st.LLM.RequestModel = model
	var cands []candidate
	if model != "" {
		cands = r.resolveRequest(req, st, model)
	}
	if len(cands) == 0 && len(r.models) == 1 {
		cands = []candidate{{r.models[0], r.models[0].upstreamModel(model)}}
	}
	if len(cands) == 0 {
		writeError(w, OpenAIChat{}, &Error{Status: 404, Kind: ErrNotFound, Param: "model",
			Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model), Err: ErrUnknownModel})
		return
	}
	c := &call{r: r, w: w, req: req, st: st, in: &inspected{ep: endpoint{OpChat, OpenAIChat{}}, body: body}}
	var last *Error
	for i, cand := range cands {
		e, retry := c.forwardAsIs(cand, i == len(cands)-1, detect)
		if e == nil {
			return
		}
		last = e
		if !retry {
			break
		}
	}
	st.Err = last
	writeError(w, OpenAIChat{}, last)
}

// forwardAsIs sends the client's request unchanged to one candidate's provider host.
func (c *call) forwardAsIs(cand candidate, final, detect bool) (*Error, bool) {
	up := cand.entry.upstream
	p := up.provider
	c.st.LLM.Provider = p.Name()
	target := up.scheme + "://" + up.hostport + c.req.URL.EscapedPath()
	if c.req.URL.RawQuery != "" {
		target += "?" + c.req.URL.RawQuery
	}
	ctx, cancel := context.WithCancel(c.req.Context())
	defer cancel()
	var rd io.Reader
	if c.in.body != nil {
		rd = bytes.NewReader(c.in.body)
	}
	ureq, err := http.NewRequestWithContext(ctx, c.req.Method, target, rd)
	if err != nil {
		return &Error{Status: 502, Kind: ErrAPI, Message: "bad upstream URL", Err: err}, false
	}
	for k, v := range c.req.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key", "Host", "Content-Length", "Connection", "Transfer-Encoding",
			"Keep-Alive", "Te", "Upgrade", "Proxy-Connection", "Accept-Encoding":
			continue
		}
		ureq.Header[k] = v
	}
	accept, ctype := ureq.Header.Get("Accept"), ureq.Header.Get("Content-Type")
	key := up.key
	if up.passKey {
		key = clientKey(c.req.Header)
	}
	p.SetHeaders(ureq.Header, key)
	// The client's own content negotiation wins over the provider's defaults.
	if accept != "" {
		ureq.Header.Set("Accept", accept)
	}
	if ctype != "" {
		ureq.Header.Set("Content-Type", ctype)
	}
	setProviderHeaders(ureq.Header, up, cand.entry)
	if err := up.sign(ureq, c.in.body); err != nil {
		return &Error{Status: 502, Kind: ErrAPI, Message: "signing the provider request failed", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}, false
	}
	resp, e, retry := c.send(ureq, up, cand, cancel)
	if e != nil {
		return e, retry && !final
	}
	defer resp.Body.Close()
	cand.entry.health.observe(ureq, resp, retryAfter(resp.Header))
	if retryable(resp.StatusCode) && !final {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		e := p.DecodeError(resp.StatusCode, raw)
		e.Err = fmt.Errorf("%w: provider answered %d", ErrUpstream, resp.StatusCode)
		return e, true
	}
	c.writeHead(resp)
	detect = detect && resp.StatusCode < 400
	ct := resp.Header.Get("Content-Type")
	fw := &flushWriter{w: c.w, rc: http.NewResponseController(c.w)}
	switch {
	case !detect:
		_, _ = io.Copy(fw, resp.Body)
	case strings.HasPrefix(ct, "application/vnd.amazon.eventstream"):
		s, err := readEventStream(io.TeeReader(resp.Body, fw), c.firstToken)
		_, _ = io.Copy(fw, resp.Body) // the rest (after a malformed message) still reaches the client
		if err != nil {
			c.r.log().Debug("llm: detect: event stream", "error", err)
		}
		c.account(firstNonEmpty(s.model, cand.model), s.usage)
	case strings.HasPrefix(ct, "text/event-stream"):
		wire := p.Wire()
		if wire == "gemini" {
			c.in.ep.format = GeminiNative{Stream: true, SSE: true}
		}
		c.detectStream(io.TeeReader(resp.Body, fw), wire)
	default:
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		_, _ = c.w.Write(raw)
		model, u := p.Usage(raw)
		c.account(firstNonEmpty(model, cand.model), u)
	}
	return nil, false
}
