package llm

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// Per-model request matches, CEL transformations and health (the schema's LocalLLMModels matches,
// transformation and health).

// headerMatcher is one compiled header condition of a model's match.
type headerMatcher struct {
	name  string
	exact string
	re    *regexp.Regexp
}

func (h headerMatcher) match(hdr http.Header) bool {
	for _, v := range hdr.Values(h.name) {
		if h.re != nil && h.re.MatchString(v) || h.re == nil && v == h.exact {
			return true
		}
	}
	return false
}

// MatchHeaders makes the model entry apply only to requests with all of headers (exact values, or
// RE2 expressions that must match the whole value), in addition to the model name. Each call adds
// one alternative: the entry applies when any alternative holds. Entries with matches may share a
// name with each other and with one entry without matches, which serves the requests none of them
// matched; they are tried in configuration order, before that entry. They are not targets of
// virtual models and not listed by /models.
func MatchHeaders(headers ...agentgateway.ValueMatch) ModelOption {
	return func(m *ModelEntry) {
		var alt []headerMatcher
		for _, h := range headers {
			if h.Name == "" {
				m.err = errors.Join(m.err, errors.New("matches: a header match needs a name"))
				continue
			}
			hm := headerMatcher{name: http.CanonicalHeaderKey(h.Name), exact: h.Value}
			if h.Regex {
				re, err := regexp.Compile("^(?:" + h.Value + ")$")
				if err != nil {
					m.err = errors.Join(m.err, fmt.Errorf("matches: header %s: %w", h.Name, err))
					continue
				}
				hm.re = re
			}
			alt = append(alt, hm)
		}
		if len(alt) == 0 {
			m.err = errors.Join(m.err, errors.New("matches: an alternative needs at least one header"))
			return
		}
		m.matches = append(m.matches, alt)
	}
}

// matchesRequest reports whether one of the entry's alternatives holds for h.
func (e *ModelEntry) matchesRequest(h http.Header) bool {
	for _, alt := range e.matches {
		ok := true
		for _, hm := range alt {
			if !hm.match(h) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// nameMatches reports whether the entry's pattern matches the requested model name.
func (e *ModelEntry) nameMatches(name string) bool {
	if !strings.HasSuffix(e.pattern, "*") {
		return e.pattern == name
	}
	prefix := strings.TrimSuffix(e.pattern, "*")
	return strings.HasPrefix(name, prefix) && (len(name) > len(prefix) || prefix == "")
}

// resolveMatched finds the first entry with matches that the request satisfies.
func (r *Router) resolveMatched(req *http.Request, name string) []candidate {
	if _, virtual := r.virtual[name]; virtual {
		return nil
	}
	for _, e := range r.matched {
		if e.visibility == Public && e.nameMatches(name) && e.matchesRequest(req.Header) {
			return []candidate{{e, e.upstreamModel(name)}}
		}
	}
	return nil
}

// Transform sets top-level fields of the client's request to the values of CEL expressions (the
// schema's transformation), after Defaults and Overrides and before any translation; a null value
// removes the field. Expressions see the request (request.*, jwt.*, llm.*).
func Transform(fields map[string]string) ModelOption {
	return func(m *ModelEntry) {
		for field, expr := range fields {
			prg, err := cel.Compile(expr, nil)
			if err != nil {
				m.err = errors.Join(m.err, fmt.Errorf("transformation.%s: %w", field, err))
				continue
			}
			m.xforms = append(m.xforms, transform{field, prg})
		}
	}
}

// applyTransforms sets the model's CEL-computed fields on body.
func (c *call) applyTransforms(e *ModelEntry, body []byte) ([]byte, *Error) {
	doc, perr := parseDoc(body)
	if perr != nil {
		return nil, perr
	}
	a := cel.NewActivation(c.req, c.st)
	for _, t := range e.xforms {
		v, err := t.prg.Eval(c.req.Context(), a)
		if err != nil {
			return nil, &Error{Status: 500, Kind: ErrAPI, Message: fmt.Sprintf("transformation of %q failed", t.field), Err: err}
		}
		if nv := cel.Native(v); nv == nil {
			delete(doc, t.field)
		} else {
			doc[t.field] = nv
		}
	}
	out, err := marshalDoc(doc)
	if err != nil {
		return nil, asError(err)
	}
	return out, nil
}

// ModelHealthPolicy is passive health checking of a model entry's provider (the schema's
// LocalHealthPolicy): responses Unhealthy judges bad (default: 5xx) and connection failures count
// as failures; after ConsecutiveFailures of them (default 1) the entry is evicted for EvictFor
// (default: a back-off that doubles with each further failure, 1 s to 1 min, or the provider's
// Retry-After). An evicted entry is tried last by virtual models; a healthy response restores it.
type ModelHealthPolicy struct {
	Unhealthy           func(r *http.Request, resp *http.Response) bool
	ConsecutiveFailures int
	EvictFor            time.Duration
}

// Health sets the model entry's health policy. Without one, a 429 or 5xx answer or a connection
// failure evicts the entry with the default back-off.
func Health(p ModelHealthPolicy) ModelOption {
	return func(m *ModelEntry) {
		if p.ConsecutiveFailures < 0 || p.EvictFor < 0 {
			m.err = errors.Join(m.err, errors.New("health: negative consecutiveFailures or duration"))
			return
		}
		m.health.policy = &p
	}
}

// observe records the outcome of a response in the entry's health.
func (h *health) observe(req *http.Request, resp *http.Response, retryAfter time.Duration) {
	bad := retryable(resp.StatusCode)
	if p := h.policy; p != nil {
		bad = resp.StatusCode >= 500
		if p.Unhealthy != nil {
			bad = p.Unhealthy(req, resp)
		}
	}
	switch {
	case bad:
		h.fail(retryAfter)
	case resp.StatusCode < 400 || h.policy != nil:
		h.ok()
	}
}

// checkModelOptions reports the option errors of the models.
func checkModelOptions(models []*ModelEntry) error {
	var errs []error
	for _, m := range models {
		if m.err != nil {
			errs = append(errs, fmt.Errorf("llm: model %q: %w", m.pattern, m.err))
		}
	}
	return errors.Join(errs...)
}
