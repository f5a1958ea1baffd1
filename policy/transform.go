package policy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// TransformationConfig configures CEL transformations of requests and responses (agentgateway's
// `transformations`).
type TransformationConfig struct {
	Request  *Transform
	Response *Transform
}

// Transform edits headers and the body with CEL expressions. Expressions see the usual variables
// (request.*, jwt.*, ...) plus `body` (the body as a string) and `json` (the body parsed as JSON, null
// when it is not JSON); response transforms also see `response.code` and `response.headers`.
// Operations apply in the order: set, add, remove, jsonSet, jsonRemove, body.
type Transform struct {
	// Set replaces headers with the values of CEL expressions.
	Set map[string]string
	// Add appends header values computed by CEL expressions.
	Add map[string]string
	// Remove deletes headers.
	Remove []string
	// Body computes a replacement body: strings and bytes are used as they are, other values are
	// JSON-encoded.
	Body string
	// JSONSet sets fields of a JSON object body, by dotted path, to CEL values.
	JSONSet map[string]string
	// JSONRemove removes fields of a JSON object body by dotted path.
	JSONRemove []string
	// Replace is a CEL expression computing the whole header set (a map of name to string or list of
	// strings); it applies before set/add/remove. Pseudo-headers (":path") are ignored.
	Replace string
	// MaxBodyBytes bounds the body read for body and JSON edits (default 1 MiB); larger bodies pass
	// unchanged.
	MaxBodyBytes int64
}

type namedProgram struct {
	name string
	p    *cel.Program
}

type compiledTransform struct {
	set, add   []namedProgram
	remove     []string
	jsonSet    []namedProgram
	jsonRemove []string
	body       *cel.Program
	replace    *cel.Program
	needsBody  bool
	maxBody    int64
	usesJSON   bool
	response   bool
}

var mapStringDyn = celgo.MapType(celgo.StringType, celgo.DynType)

func compileTransform(field string, t *Transform, response bool) (*compiledTransform, error) {
	if t == nil {
		return nil, nil
	}
	c := &compiledTransform{maxBody: t.MaxBodyBytes, response: response}
	if c.maxBody <= 0 {
		c.maxBody = 1 << 20
	}
	vars := []celgo.EnvOption{celgo.Variable("body", celgo.StringType), celgo.Variable("json", celgo.DynType)}
	if response {
		vars = append(vars, celgo.Variable("response", mapStringDyn))
	}
	comp := func(sub, expr string) (*cel.Program, error) {
		p, err := cel.CompileWith(expr, nil, vars...)
		if err != nil {
			return nil, agentgateway.Errorf(field+"."+sub, "%w", err)
		}
		if p.Uses("body") || p.Uses("json") {
			c.needsBody = true
		}
		if p.Uses("json") {
			c.usesJSON = true
		}
		return p, nil
	}
	headers := func(kind string, m map[string]string) ([]namedProgram, error) {
		var out []namedProgram
		for _, name := range policyutil.SortedKeys(m) {
			if !validToken(name) {
				return nil, agentgateway.Errorf(field+"."+kind+"."+name, "invalid header name")
			}
			p, err := comp(kind+"."+name, m[name])
			if err != nil {
				return nil, err
			}
			out = append(out, namedProgram{http.CanonicalHeaderKey(name), p})
		}
		return out, nil
	}
	var err error
	if t.Replace != "" {
		if c.replace, err = comp("replace", t.Replace); err != nil {
			return nil, err
		}
	}
	if c.set, err = headers("set", t.Set); err != nil {
		return nil, err
	}
	if c.add, err = headers("add", t.Add); err != nil {
		return nil, err
	}
	for i, h := range t.Remove {
		if !validToken(h) {
			return nil, agentgateway.Errorf(fieldf(field+".remove", i, ""), "invalid header name %q", h)
		}
		c.remove = append(c.remove, http.CanonicalHeaderKey(h))
	}
	for _, path := range policyutil.SortedKeys(t.JSONSet) {
		p, err := comp("jsonSet."+path, t.JSONSet[path])
		if err != nil {
			return nil, err
		}
		c.jsonSet = append(c.jsonSet, namedProgram{path, p})
	}
	c.jsonRemove = t.JSONRemove
	if len(c.jsonSet) > 0 || len(c.jsonRemove) > 0 {
		c.needsBody = true
	}
	if t.Body != "" {
		if c.body, err = comp("body", t.Body); err != nil {
			return nil, err
		}
		c.needsBody = true
	}
	return c, nil
}

// NewTransformation returns the transformation policy. Expression failures leave the affected header
// or field unchanged (they are not request errors).
func NewTransformation(spec TransformationConfig) (agentgateway.Policy, error) {
	req, err := compileTransform("request", spec.Request, false)
	if err != nil {
		return nil, err
	}
	resp, err := compileTransform("response", spec.Response, true)
	if err != nil {
		return nil, err
	}
	if req == nil && resp == nil {
		return nil, agentgateway.Errorf("", "set request or response")
	}
	return agentgateway.NewPolicy(agentgateway.PhaseTransformation, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if req != nil {
				var body []byte
				if req.needsBody && r.Body != nil && r.Body != http.NoBody {
					buf, err := io.ReadAll(io.LimitReader(r.Body, req.maxBody+1))
					if err != nil {
						agentgateway.WriteError(w, agentgateway.RequestBodyStatus(err), "reading request body")
						return
					}
					if int64(len(buf)) > req.maxBody {
						r.Body = struct {
							io.Reader
							io.Closer
						}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
						buf = nil
					}
					body = buf
				}
				act := cel.NewActivation(r, nil)
				newBody, changed := req.apply(r, act, r.Header, body, nil)
				if changed {
					r.Body = io.NopCloser(bytes.NewReader(newBody))
					r.ContentLength = int64(len(newBody))
					r.Header.Set("Content-Length", strconv.Itoa(len(newBody)))
				} else if body != nil {
					r.Body = io.NopCloser(bytes.NewReader(body))
				}
			}
			if resp == nil {
				next.ServeHTTP(w, r)
				return
			}
			tw := &transformWriter{r: r, t: resp}
			tw.init(w)
			next.ServeHTTP(tw, r)
			tw.finish()
		})
	}), nil
}

func (c *compiledTransform) apply(r *http.Request, act *cel.Activation, h http.Header, body []byte, response map[string]any) ([]byte, bool) {
	var parsed any
	if c.needsBody {
		extra := map[string]any{"body": string(body), "json": nil}
		if c.usesJSON || len(c.jsonSet) > 0 || len(c.jsonRemove) > 0 {
			if json.Unmarshal(body, &parsed) == nil {
				extra["json"] = parsed
			}
		}
		act.Extra = extra
	}
	if response != nil {
		if act.Extra == nil {
			act.Extra = map[string]any{"body": "", "json": nil}
		}
		act.Extra["response"] = response
	}
	ctx := r.Context()
	if c.replace != nil {
		if v, err := c.replace.Eval(ctx, act); err == nil {
			if m, ok := cel.Native(v).(map[string]any); ok {
				for k := range h {
					delete(h, k)
				}
				for k, val := range m {
					if strings.HasPrefix(k, ":") || !validToken(k) {
						continue
					}
					switch x := val.(type) {
					case string:
						h[http.CanonicalHeaderKey(k)] = []string{x}
					case []any:
						for _, e := range x {
							if s, ok := e.(string); ok {
								h.Add(k, s)
							}
						}
					}
				}
			}
		}
	}
	for _, op := range c.set {
		if v, err := op.p.EvalString(ctx, act); err == nil {
			h[op.name] = []string{v}
		}
	}
	for _, op := range c.add {
		if v, err := op.p.EvalString(ctx, act); err == nil {
			h[op.name] = append(h[op.name], v)
		}
	}
	for _, name := range c.remove {
		delete(h, name)
	}
	changed := false
	if obj, ok := parsed.(map[string]any); ok && (len(c.jsonSet) > 0 || len(c.jsonRemove) > 0) {
		for _, op := range c.jsonSet {
			v, err := op.p.Eval(ctx, act)
			if err != nil {
				continue
			}
			setPath(obj, op.name, cel.Native(v))
			changed = true
		}
		for _, path := range c.jsonRemove {
			changed = removePath(obj, path) || changed
		}
		if changed {
			if b, err := json.Marshal(obj); err == nil {
				body = b
			} else {
				changed = false
			}
		}
	}
	if c.body != nil {
		if b, err := c.body.EvalBytes(ctx, act); err == nil {
			body, changed = b, true
		}
	}
	return body, changed
}

func setPath(obj map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := obj[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[p] = next
		}
		obj = next
	}
	obj[parts[len(parts)-1]] = v
}

func removePath(obj map[string]any, path string) bool {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := obj[p].(map[string]any)
		if !ok {
			return false
		}
		obj = next
	}
	_, ok := obj[parts[len(parts)-1]]
	delete(obj, parts[len(parts)-1])
	return ok
}

// transformWriter applies a response transform: header edits as the status is written; with body
// edits, the response is held and its body buffered (up to maxBody, beyond which it passes unchanged)
// until the handler returns.
type transformWriter struct {
	agentgateway.HookedWriter
	r        *http.Request
	t        *compiledTransform
	buffered bool // the transform edits the body
	status   int  // the held status, while the body is buffered
	buf      bytes.Buffer
	passthru bool // the body outgrew maxBody and streams unchanged
}

func (t *transformWriter) init(w http.ResponseWriter) {
	// A HEAD response has no body to edit, and its Content-Length is the GET's: headers only.
	if !t.t.needsBody || t.r.Method == http.MethodHead {
		t.Init(w, t, nil)
		return
	}
	t.buffered = true
	t.Init(w, t, t)
	t.SetHeader(http.Header{}) // the handler's headers, edited in finish and sent with the new body
}

func responseVars(h http.Header, status int) map[string]any {
	hdr := make(map[string]any, len(h))
	for k, v := range h {
		hdr[toLower(k)] = strings.Join(v, ",")
	}
	return map[string]any{"code": int64(status), "headers": hdr}
}

func (t *transformWriter) BeforeHeader(h http.Header, status int) int {
	if t.buffered && status != http.StatusNoContent && status != http.StatusNotModified {
		t.status = status
		return 0 // held until finish, or until the body outgrows the buffer
	}
	t.t.apply(t.r, cel.NewActivation(t.r, nil), h, nil, responseVars(h, status))
	return status
}

func (t *transformWriter) WriteBody(p []byte) (int, error) {
	if t.status == 0 || t.passthru { // a bodiless status, or past the buffer
		return t.Unwrap().Write(p)
	}
	if int64(t.buf.Len()+len(p)) <= t.t.maxBody {
		return t.buf.Write(p)
	}
	t.passthru = true
	t.Commit(t.status)
	if _, err := t.Unwrap().Write(t.buf.Bytes()); err != nil {
		return 0, err
	}
	t.buf.Reset()
	return t.Unwrap().Write(p)
}

// finish sends a held response, edited, once the handler has returned.
func (t *transformWriter) finish() {
	if t.Status() == 0 && t.status == 0 {
		t.WriteHeader(http.StatusOK) // the handler wrote nothing: the transform applies to an empty 200
	}
	if t.status == 0 || t.passthru {
		return
	}
	h := t.Header()
	body, changed := t.t.apply(t.r, cel.NewActivation(t.r, nil), h, t.buf.Bytes(), responseVars(h, t.status))
	if changed {
		h.Del("Content-Encoding") // the new body is not encoded
		t.Unwrap().Header().Del("Content-Encoding")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	t.Commit(t.status)
	_, _ = t.Unwrap().Write(body)
}
