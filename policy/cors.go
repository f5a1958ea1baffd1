package policy

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// CORSConfig configures cross-origin resource sharing (agentgateway's `cors`).
type CORSConfig struct {
	// AllowCredentials adds `Access-Control-Allow-Credentials: true` to allowed responses.
	AllowCredentials bool
	// AllowHeaders are returned in Access-Control-Allow-Headers on allowed preflights; "*" allows
	// whatever the preflight asks for.
	AllowHeaders []string
	// AllowMethods are returned in Access-Control-Allow-Methods on allowed preflights; "*" allows any.
	AllowMethods []string
	// AllowOrigins are the origins that get CORS headers: exact ("https://app.example.com"), "*" for
	// any, or with a wildcard host label ("https://*.example.com", which does not match the apex).
	AllowOrigins []string
	// ExposeHeaders are returned in Access-Control-Expose-Headers on allowed responses and
	// preflights.
	ExposeHeaders []string
	// MaxAge is returned in Access-Control-Max-Age (whole seconds) on allowed preflights; nil sends
	// none (the browser's default), a zero duration tells browsers not to cache the preflight.
	MaxAge *time.Duration
}

var star = []string{"*"}

type originPattern struct{ prefix, suffix string }

type cors struct {
	anyOrigin    bool
	exact        map[string]struct{}
	patterns     []originPattern
	credentials  bool
	methods      string
	anyMethod    bool
	headers      string
	anyHeader    bool
	expose       string
	maxAge       string
	methodSet    map[string]struct{}
	allowHdrList []string
}

// NewCORS returns the CORS policy. Preflight requests (OPTIONS with Origin and
// Access-Control-Request-Method) are answered by the gateway and never reach the backend: 200 with the
// allow headers when the origin and method are allowed, 403 without CORS headers when not. Other
// requests from an allowed origin get Access-Control-Allow-Origin (and credentials / expose headers)
// on the response, overriding whatever the backend set; requests from other origins pass unchanged,
// and the browser enforces the policy.
func NewCORS(spec CORSConfig) (agentgateway.Policy, error) {
	c := &cors{exact: map[string]struct{}{}, credentials: spec.AllowCredentials, methodSet: map[string]struct{}{}}
	for i, o := range spec.AllowOrigins {
		switch {
		case o == "*":
			c.anyOrigin = true
		case strings.Contains(o, "*"):
			pre, suf, _ := strings.Cut(o, "*")
			if strings.Contains(suf, "*") || !strings.HasSuffix(pre, "://") || !strings.HasPrefix(suf, ".") {
				return nil, agentgateway.Errorf(fieldf("allowOrigins", i, ""), "wildcard origin %q must look like scheme://*.domain", o)
			}
			c.patterns = append(c.patterns, originPattern{strings.ToLower(pre), strings.ToLower(suf)})
		default:
			if !strings.Contains(o, "://") || strings.HasSuffix(o, "/") {
				return nil, agentgateway.Errorf(fieldf("allowOrigins", i, ""), "origin %q must be scheme://host[:port] without a path", o)
			}
			c.exact[strings.ToLower(o)] = struct{}{}
		}
	}
	for i, m := range spec.AllowMethods {
		if m == "*" {
			c.anyMethod = true
			continue
		}
		if !validToken(m) {
			return nil, agentgateway.Errorf(fieldf("allowMethods", i, ""), "invalid method %q", m)
		}
		c.methodSet[strings.ToUpper(m)] = struct{}{}
	}
	for i, h := range spec.AllowHeaders {
		if h == "*" {
			c.anyHeader = true
			continue
		}
		if !validToken(h) {
			return nil, agentgateway.Errorf(fieldf("allowHeaders", i, ""), "invalid header name %q", h)
		}
		c.allowHdrList = append(c.allowHdrList, strings.ToLower(h))
	}
	for i, h := range spec.ExposeHeaders {
		if h != "*" && !validToken(h) {
			return nil, agentgateway.Errorf(fieldf("exposeHeaders", i, ""), "invalid header name %q", h)
		}
	}
	c.methods = strings.Join(spec.AllowMethods, ", ")
	c.headers = strings.Join(c.allowHdrList, ", ")
	c.expose = strings.Join(spec.ExposeHeaders, ", ")
	if spec.MaxAge != nil {
		if *spec.MaxAge < 0 {
			return nil, agentgateway.Errorf("maxAge", "must not be negative")
		}
		c.maxAge = strconv.FormatInt(int64(*spec.MaxAge/time.Second), 10)
	}
	return agentgateway.NewPolicy(agentgateway.PhaseCORS, c.middleware), nil
}

func (c *cors) allowed(origin string) bool {
	if c.anyOrigin {
		return true
	}
	if _, ok := c.exact[origin]; ok {
		return true
	}
	if len(c.patterns) > 0 || hasUpper(origin) {
		o := strings.ToLower(origin)
		if _, ok := c.exact[o]; ok {
			return true
		}
		for _, p := range c.patterns {
			if len(o) > len(p.prefix)+len(p.suffix) && strings.HasPrefix(o, p.prefix) && strings.HasSuffix(o, p.suffix) &&
				!strings.ContainsAny(o[len(p.prefix):len(o)-len(p.suffix)], "/?#@") {
				return true
			}
		}
	}
	return false
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// allowOrigin is the Access-Control-Allow-Origin value: "*" only for a wildcard policy without
// credentials (browsers reject "*" with credentials).
func (c *cors) allowOrigin(origin string) string {
	if c.anyOrigin && !c.credentials {
		return "*"
	}
	return origin
}

func (c *cors) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ov := r.Header["Origin"]
		if len(ov) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		origin := ov[0]
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			c.preflight(w, r, origin)
			return
		}
		if !c.allowed(origin) {
			next.ServeHTTP(w, r)
			return
		}
		cw := &corsWriter{c: c, origin: origin}
		cw.Init(w, cw, nil)
		next.ServeHTTP(cw, r)
	})
}

// corsWriter sets the CORS response headers just before the backend's headers are sent, overriding
// any the backend set.
type corsWriter struct {
	agentgateway.HookedWriter
	c      *cors
	origin string
}

func (w *corsWriter) BeforeHeader(h http.Header, status int) int {
	w.c.actual(h, w.origin)
	return status
}

func (c *cors) actual(h http.Header, origin string) {
	if c.anyOrigin && !c.credentials {
		h["Access-Control-Allow-Origin"] = star
	} else {
		h["Access-Control-Allow-Origin"] = []string{origin}
	}
	if c.credentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	if c.expose != "" {
		h["Access-Control-Expose-Headers"] = []string{c.expose}
	}
	if !c.anyOrigin || c.credentials {
		h["Vary"] = append(h["Vary"], "Origin")
	}
}

func (c *cors) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	h["Vary"] = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
	method := r.Header.Get("Access-Control-Request-Method")
	if !c.allowed(origin) || !c.methodAllowed(method) || !c.headersAllowed(r.Header.Get("Access-Control-Request-Headers")) {
		agentgateway.WriteError(w, http.StatusForbidden, "CORS preflight not allowed")
		return
	}
	h["Access-Control-Allow-Origin"] = []string{c.allowOrigin(origin)}
	if c.credentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	switch {
	case c.anyMethod:
		h["Access-Control-Allow-Methods"] = []string{method}
	case c.methods != "":
		h["Access-Control-Allow-Methods"] = []string{c.methods}
	}
	if reqH := r.Header.Get("Access-Control-Request-Headers"); c.anyHeader && reqH != "" {
		h["Access-Control-Allow-Headers"] = []string{reqH}
	} else if c.headers != "" {
		h["Access-Control-Allow-Headers"] = []string{c.headers}
	}
	if c.maxAge != "" {
		h["Access-Control-Max-Age"] = []string{c.maxAge}
	}
	// Browsers ignore it here, but Gateway API's CORS filter requires the exposed headers on
	// allowed preflight answers too.
	if c.expose != "" {
		h["Access-Control-Expose-Headers"] = []string{c.expose}
	}
	h["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusOK)
}

// methodAllowed: CORS-safelisted methods (GET, HEAD, POST) are always allowed, as browsers do not
// check them against Access-Control-Allow-Methods.
func (c *cors) methodAllowed(m string) bool {
	if c.anyMethod {
		return true
	}
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost:
		return true
	}
	_, ok := c.methodSet[m]
	return ok
}

func (c *cors) headersAllowed(list string) bool {
	if c.anyHeader || list == "" {
		return true
	}
	for _, h := range strings.Split(list, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		ok := false
		for _, a := range c.allowHdrList {
			if a == h {
				ok = true
				break
			}
		}
		if !ok && !safelisted(h) {
			return false
		}
	}
	return true
}

// safelisted request headers need no permission (Fetch standard).
func safelisted(h string) bool {
	switch h {
	case "accept", "accept-language", "content-language", "content-type", "range":
		return true
	}
	return false
}
