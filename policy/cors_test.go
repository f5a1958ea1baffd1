package policy_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func TestCORS(t *testing.T) {
	maxAge := 10 * time.Minute
	spec := policy.CORSConfig{
		AllowOrigins:  []string{"https://app.example.com", "https://*.tenant.example"},
		AllowMethods:  []string{"GET", "PUT", "DELETE"},
		AllowHeaders:  []string{"Authorization", "X-Custom"},
		ExposeHeaders: []string{"X-Request-Id"},
		MaxAge:        &maxAge, AllowCredentials: true,
	}
	p, err := policy.NewCORS(spec)
	require.NoError(t, err)

	cases := []struct {
		name        string
		r           *http.Request
		status      int
		reached     bool
		allowOrigin string
		check       func(t *testing.T, h http.Header)
	}{
		{"preflight allowed", req("OPTIONS", "/x", "Origin", "https://app.example.com", "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "x-custom, content-type"),
			200, false, "https://app.example.com", func(t *testing.T, h http.Header) {
				assert.Equal(t, "GET, PUT, DELETE", h.Get("Access-Control-Allow-Methods"))
				assert.Equal(t, "authorization, x-custom", h.Get("Access-Control-Allow-Headers"))
				assert.Equal(t, "600", h.Get("Access-Control-Max-Age"))
				assert.Equal(t, "true", h.Get("Access-Control-Allow-Credentials"))
			}},
		{"preflight wildcard subdomain", req("OPTIONS", "/x", "Origin", "https://a.tenant.example", "Access-Control-Request-Method", "DELETE"), 200, false, "https://a.tenant.example", nil},
		{"preflight apex does not match wildcard", req("OPTIONS", "/x", "Origin", "https://tenant.example", "Access-Control-Request-Method", "GET"), 403, false, "", nil},
		{"preflight other origin", req("OPTIONS", "/x", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET"), 403, false, "", nil},
		{"preflight method not allowed", req("OPTIONS", "/x", "Origin", "https://app.example.com", "Access-Control-Request-Method", "PATCH"), 403, false, "", nil},
		{"preflight header not allowed", req("OPTIONS", "/x", "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-secret"), 403, false, "", nil},
		{"plain OPTIONS reaches backend", req("OPTIONS", "/x", "Origin", "https://app.example.com"), 204, true, "https://app.example.com", nil},
		{"simple request", req("GET", "/x", "Origin", "https://app.example.com"), 204, true, "https://app.example.com", func(t *testing.T, h http.Header) {
			assert.Equal(t, "X-Request-Id", h.Get("Access-Control-Expose-Headers"))
			assert.Contains(t, h.Values("Vary"), "Origin")
		}},
		{"origin case-insensitive", req("GET", "/x", "Origin", "HTTPS://APP.example.com"), 204, true, "HTTPS://APP.example.com", nil},
		{"disallowed origin passes without CORS headers", req("GET", "/x", "Origin", "https://evil.example"), 204, true, "", nil},
		{"no origin", req("GET", "/x"), 204, true, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s seen
			w := do(p, s.Handler(204, ""), c.r)
			assert.Equal(t, c.status, w.Code)
			assert.Equal(t, c.reached, s.Calls == 1, "backend reached")
			assert.Equal(t, c.allowOrigin, w.Header().Get("Access-Control-Allow-Origin"))
			if c.check != nil {
				c.check(t, w.Header())
			}
		})
	}
}

func TestCORSWildcardAndOverride(t *testing.T) {
	p, err := policy.NewCORS(policy.CORSConfig{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}})
	require.NoError(t, err)
	w := do(p, http.NotFoundHandler(), req("OPTIONS", "/", "Origin", "https://x.example", "Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers", "x-a, x-b"))
	assert.Equal(t, 200, w.Code)
	assert.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "PATCH", w.Header().Get("Access-Control-Allow-Methods"))
	assert.Equal(t, "x-a, x-b", w.Header().Get("Access-Control-Allow-Headers"))

	// The gateway's answer overrides a backend's own CORS header.
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "https://backend-says.example")
		w.WriteHeader(200)
	})
	w = do(p, backend, req("GET", "/", "Origin", "https://x.example"))
	assert.Equal(t, "*", w.Header().Get("Access-Control-Allow-Origin"))
}

func TestCORSConfigErrors(t *testing.T) {
	neg := -time.Second
	for field, spec := range map[string]policy.CORSConfig{
		"allowOrigins[1]":  {AllowOrigins: []string{"https://ok.example", "https://a.*.example"}},
		"allowOrigins[0]":  {AllowOrigins: []string{"app.example.com"}},
		"allowMethods[0]":  {AllowMethods: []string{"GE T"}},
		"allowHeaders[0]":  {AllowHeaders: []string{"bad:header"}},
		"exposeHeaders[0]": {ExposeHeaders: []string{""}},
		"maxAge":           {MaxAge: &neg},
	} {
		_, err := policy.NewCORS(spec)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
		assert.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
	}
}

func BenchmarkCORSSimpleRequest(b *testing.B) {
	p, err := policy.NewCORS(policy.CORSConfig{AllowOrigins: []string{"https://app.example.com"}, ExposeHeaders: []string{"X-Id"}})
	require.NoError(b, err)
	noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	h := p.Wrap(noop)
	r := req("GET", "/", "Origin", "https://app.example.com")
	w := &benchWriter{h: http.Header{}}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			noop.ServeHTTP(w, r)
		}
	})
	b.Run("cors", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
}

// benchWriter is a ResponseWriter that keeps nothing.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(c int)           { w.code = c }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }

var _ = httptest.NewRecorder
