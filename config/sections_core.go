package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	celgo "github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// The rows of the root package: HTTP backends and the Gateway API core filters.
var (
	corePolicies = []PolicySection{
		Policy("requestHeaderModifier", func(_ *BuildContext, s HeaderModifierSpec) (agentgateway.Policy, error) {
			return agentgateway.RequestHeaderModifier(s.modifier())
		}),
		Policy("responseHeaderModifier", func(_ *BuildContext, s HeaderModifierSpec) (agentgateway.Policy, error) {
			return agentgateway.ResponseHeaderModifier(s.modifier())
		}),
		Policy("requestRedirect", buildRedirect),
		Policy("urlRewrite", buildRewrite),
		Policy("directResponse", buildDirectResponse),
	}
	coreBackends = []BackendSection{
		Backend("host", func(bc *BuildContext, host string) (http.Handler, error) { return hostBackend(bc, host) }),
		Backend("service", serviceBackend),
	}
	coreTop = []TopSection{}
)

func hostBackend(bc *BuildContext, host string) (http.Handler, error) {
	if host == "" {
		return nil, bc.Errorf("", "host is empty")
	}
	cfg := agentgateway.HTTPBackendConfig{Name: host, Endpoints: []string{host}}
	if err := applyHealth(bc, &cfg); err != nil {
		return nil, err
	}
	if err := applyTunnel(bc, &cfg); err != nil {
		return nil, err
	}
	applyConn(bc, &cfg)
	applyDial(bc, &cfg)
	b, err := agentgateway.NewHTTPBackend(cfg)
	if err != nil {
		return nil, bc.Errorf("", "%v", err)
	}
	return b, nil
}

// serviceBackend resolves a service reference with the context's resolver, by default by DNS name:
// `name` is "namespace/hostname" or a hostname, as the schema's NamespacedHostname.
func serviceBackend(bc *BuildContext, s ServiceRef) (http.Handler, error) {
	if h, ok, err := catalogBackend(bc, s); ok { // a service of the file's `services`
		return h, err
	}
	if bc.ResolveService == nil {
		host := s.Name
		if _, h, ok := strings.Cut(s.Name, "/"); ok {
			host = h
		}
		if host == "" || s.Port <= 0 || s.Port > 65535 {
			return nil, bc.Errorf("", "service needs a name and a port")
		}
	}
	hostPort, err := bc.Service("", s)
	if err != nil {
		return nil, err
	}
	return hostBackend(bc, hostPort)
}

// HeaderModifierSpec is the schema's HeaderModifier.
type HeaderModifierSpec struct {
	Add    map[string]string `json:"add"`
	Set    map[string]string `json:"set"`
	Remove []string          `json:"remove"`
}

func (s HeaderModifierSpec) modifier() agentgateway.HeaderModifier {
	return agentgateway.HeaderModifier{Add: s.Add, Set: s.Set, Remove: s.Remove}
}

// AuthoritySpec is the schema's HostRedirect: {full}, {host}, {port}, "auto" or "none".
type AuthoritySpec struct {
	Full string `json:"full"`
	Host string `json:"host"`
	Port int    `json:"port"`
	Mode string `json:"-"` // "auto" or "none" when given as a string
}

// UnmarshalJSON accepts the object and string forms.
func (a *AuthoritySpec) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "auto" && s != "none" {
			return fmt.Errorf("authority %q: want auto, none, or an object with full, host or port", s)
		}
		a.Mode = s
		return nil
	}
	type plain AuthoritySpec
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("authority: %w", err)
	}
	n := 0
	for _, set := range []bool{p.Full != "", p.Host != "", p.Port != 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("authority: set exactly one of full, host, port")
	}
	*a = AuthoritySpec(p)
	return nil
}

// PathRewriteSpec is the schema's PathRedirect: {full} or {prefix}.
type PathRewriteSpec struct {
	Full   *string `json:"full"`
	Prefix *string `json:"prefix"`
}

func (p *PathRewriteSpec) modifier() *agentgateway.PathModifier {
	if p == nil {
		return nil
	}
	return &agentgateway.PathModifier{ReplaceFullPath: p.Full, ReplacePrefixMatch: p.Prefix}
}

// RedirectSpec is the schema's RequestRedirect.
type RedirectSpec struct {
	Scheme    string           `json:"scheme"`
	Authority *AuthoritySpec   `json:"authority"`
	Path      *PathRewriteSpec `json:"path"`
	Status    int              `json:"status"`
}

func buildRedirect(bc *BuildContext, s RedirectSpec) (agentgateway.Policy, error) {
	rr := agentgateway.RequestRedirect{Scheme: s.Scheme, Path: s.Path.modifier(), StatusCode: s.Status}
	if a := s.Authority; a != nil {
		switch {
		case a.Full != "":
			host, port, err := net.SplitHostPort(a.Full)
			if err != nil {
				rr.Hostname = a.Full
			} else {
				rr.Hostname = host
				rr.Port, err = strconv.Atoi(port)
				if err != nil {
					return nil, bc.Errorf("authority.full", "invalid port in %q", a.Full)
				}
			}
		case a.Host != "":
			rr.Hostname = a.Host
		case a.Port != 0:
			rr.Port = a.Port
		}
	}
	return agentgateway.Redirect(rr)
}

// RewriteSpec is the schema's UrlRewrite.
type RewriteSpec struct {
	Authority *AuthoritySpec   `json:"authority"`
	Path      *PathRewriteSpec `json:"path"`
}

func buildRewrite(bc *BuildContext, s RewriteSpec) (agentgateway.Policy, error) {
	u := agentgateway.URLRewrite{Path: s.Path.modifier()}
	if a := s.Authority; a != nil {
		switch {
		case a.Full != "":
			u.Hostname = a.Full
		case a.Host != "":
			u.Hostname = a.Host
		case a.Port != 0 || a.Mode == "auto":
			return nil, bc.Errorf("authority", "only full and host authority rewrites are supported")
		}
	}
	if u.Hostname == "" && u.Path == nil {
		return nil, nil // authority "none" and no path: nothing to do
	}
	return agentgateway.Rewrite(u)
}

// DirectResponseSpec is the schema's DirectResponse. Header values are CEL expressions, as in
// agentgateway (a literal is a quoted string: '"text/plain"').
type DirectResponseSpec struct {
	Body           BytesSpec         `json:"body"`
	BodyExpression string            `json:"bodyExpression"`
	Headers        map[string]string `json:"headers"`
	Status         int               `json:"status"`
	Conditional    json.RawMessage   `json:"conditional"`
}

// BytesSpec is the schema's Bytes: a string or a list of byte values.
type BytesSpec []byte

// UnmarshalJSON accepts a string or an array of 0-255 integers.
func (b *BytesSpec) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		*b = []byte(s)
		return nil
	}
	var ints []int
	if err := json.Unmarshal(data, &ints); err != nil {
		return errors.New("body: want a string or a list of bytes")
	}
	out := make([]byte, len(ints))
	for i, v := range ints {
		if v < 0 || v > 255 {
			return fmt.Errorf("body[%d]: %d is not a byte", i, v)
		}
		out[i] = byte(v)
	}
	*b = out
	return nil
}

func buildDirectResponse(bc *BuildContext, s DirectResponseSpec) (agentgateway.Policy, error) {
	if len(s.Conditional) > 0 {
		return buildConditionalDirect(bc, s)
	}
	respond, err := compileDirect(bc, s)
	if err != nil {
		return nil, err
	}
	return agentgateway.NewPolicy(agentgateway.PhaseFilter, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { respond(w, r, cel.NewActivation(r, nil)) })
	}), nil
}

// conditionalDirectSpec is one entry of the schema's LocalConditionalPolicies_DirectResponse.
type conditionalDirectSpec struct {
	Condition      string            `json:"condition"`
	Body           BytesSpec         `json:"body"`
	BodyExpression string            `json:"bodyExpression"`
	Headers        map[string]string `json:"headers"`
	Status         int               `json:"status"`
}

// buildConditionalDirect answers with the first entry whose condition holds (an entry without a
// condition is the fallback, and must be last); a request no entry matches goes on to the backend.
// This is fault injection: `condition: random() < 0.1` answers one request in ten with an error.
func buildConditionalDirect(bc *BuildContext, s DirectResponseSpec) (agentgateway.Policy, error) {
	if s.Status != 0 || len(s.Body) > 0 || s.BodyExpression != "" || len(s.Headers) > 0 {
		return nil, bc.Errorf("conditional", "conditional replaces status, body, bodyExpression and headers")
	}
	var specs []conditionalDirectSpec
	if err := unmarshalStrict(s.Conditional, &specs); err != nil {
		return nil, bc.Errorf("conditional", "%v", err)
	}
	type entry struct {
		cond    *cel.Program
		respond func(http.ResponseWriter, *http.Request, *cel.Activation)
	}
	entries := make([]entry, 0, len(specs))
	for i, c := range specs {
		at := bc.At(fmt.Sprintf("conditional[%d]", i))
		var e entry
		if c.Condition != "" {
			p, err := cel.Compile(c.Condition, celgo.BoolType)
			if err != nil {
				return nil, at.Errorf("condition", "%v", err)
			}
			e.cond = p
		} else if i != len(specs)-1 {
			return nil, at.Errorf("condition", "an entry without a condition is the fallback and must be last")
		}
		respond, err := compileDirect(at, DirectResponseSpec{Body: c.Body, BodyExpression: c.BodyExpression, Headers: c.Headers, Status: c.Status})
		if err != nil {
			return nil, err
		}
		e.respond = respond
		entries = append(entries, e)
	}
	return agentgateway.NewPolicy(agentgateway.PhaseFilter, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			act := cel.NewActivation(r, nil)
			for _, e := range entries {
				if e.cond != nil {
					if ok, err := e.cond.EvalBool(r.Context(), act); err != nil || !ok {
						continue // a condition that fails to evaluate does not fire
					}
				}
				e.respond(w, r, act)
				return
			}
			next.ServeHTTP(w, r)
		})
	}), nil
}

// compileDirect compiles one direct response into the function that writes it.
func compileDirect(bc *BuildContext, s DirectResponseSpec) (func(http.ResponseWriter, *http.Request, *cel.Activation), error) {
	if s.Status == 0 {
		return nil, bc.Errorf("status", "status is required")
	}
	if s.Status < 100 || s.Status > 999 {
		return nil, bc.Errorf("status", "status %d out of range", s.Status)
	}
	type hdr struct {
		name string
		prg  *cel.Program
	}
	var hdrs []hdr
	for k, expr := range s.Headers {
		p, err := cel.Compile(expr, celgo.StringType)
		if err != nil {
			return nil, bc.Errorf("headers."+k, "%v", err)
		}
		hdrs = append(hdrs, hdr{http.CanonicalHeaderKey(k), p})
	}
	var bodyExpr *cel.Program
	if s.BodyExpression != "" {
		p, err := cel.Compile(s.BodyExpression, nil)
		if err != nil {
			return nil, bc.Errorf("bodyExpression", "%v", err)
		}
		bodyExpr = p
	}
	static := []byte(s.Body)
	length := strconv.Itoa(len(static))
	return func(w http.ResponseWriter, r *http.Request, act *cel.Activation) {
		for _, h := range hdrs {
			if v, err := h.prg.Eval(r.Context(), act); err == nil {
				if s, ok := v.(types.String); ok {
					w.Header().Set(h.name, string(s))
				}
			}
		}
		body, n := static, length
		if bodyExpr != nil {
			v, err := bodyExpr.Eval(r.Context(), act)
			if err != nil {
				agentgateway.WriteError(w, http.StatusInternalServerError, "directResponse body expression failed")
				return
			}
			switch x := v.Value().(type) {
			case string:
				body = []byte(x)
			case []byte:
				body = x
			default:
				body, _ = json.Marshal(x)
			}
			n = strconv.Itoa(len(body))
		}
		w.Header().Set("Content-Length", n)
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		w.WriteHeader(s.Status)
		_, _ = w.Write(body)
	}, nil
}
