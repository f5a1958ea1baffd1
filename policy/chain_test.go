package policy_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy"
)

// BenchmarkChain measures CORS + JWT (RS256) + one CEL rule + a local rate limit in front of a trivial
// handler, against the handler alone. "fresh" presents a new token each time (full signature
// verification); "steady" presents the same token, as a client does between refreshes.
func BenchmarkChain(b *testing.B) {
	keys(b)
	cors, err := policy.NewCORS(policy.CORSConfig{AllowOrigins: []string{"https://app.example.com"}})
	require.NoError(b, err)
	jwt := newJWT(b, policy.ModeStrict, rsaKey)
	authz, err := policy.NewAuthorization(policy.AuthorizationConfig{Rules: []cel.Rule{cel.Allow(`jwt.sub == "alice" && request.method == "GET"`)}})
	require.NoError(b, err)
	limit, err := policy.NewLocalRateLimit(policy.LocalRateLimitConfig{Limits: []policy.RateLimit{{MaxTokens: 1 << 50, TokensPerFill: 1 << 50, FillInterval: time.Second}}})
	require.NoError(b, err)
	trivial := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	chain := cors.Wrap(jwt.Wrap(authz.Wrap(limit.Wrap(trivial))))

	tok := "Bearer " + mint(b, rsaKey, claims(nil))
	const fresh = 64
	var toks [fresh]string
	for i := range toks {
		toks[i] = "Bearer " + mint(b, rsaKey, claims(map[string]any{"jti": i, "iat": time.Now().Unix() + int64(i)}))
	}
	st := &agentgateway.State{}
	r := req("GET", "/v1/x", "Origin", "https://app.example.com")
	r = r.WithContext(agentgateway.WithState(context.Background(), st))
	w := &benchWriter{h: http.Header{}}
	run := func(b *testing.B, h http.Handler, token func(i int) string) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if token != nil {
				r.Header["Authorization"] = []string{token(i)}
			}
			i++
			*st = agentgateway.State{}
			clear(w.h)
			w.code = 0
			h.ServeHTTP(w, r)
			if w.code != 204 {
				b.Fatal(w.code)
			}
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, trivial, nil) })
	b.Run("steady", func(b *testing.B) { run(b, chain, func(int) string { return tok }) })
	b.Run("fresh", func(b *testing.B) {
		// Distinct tokens beyond the cache's reach: every request verifies a signature.
		p, err := policy.NewJWT(policy.JWTConfig{Mode: policy.ModeStrict, CacheSize: -1, Providers: []policy.JWTProvider{
			{Issuer: "https://issuer.example", Audiences: []string{"api"}, JWKS: policy.JWKS{JSON: []byte(jwks(b, rsaKey))}}}})
		require.NoError(b, err)
		run(b, cors.Wrap(p.Wrap(authz.Wrap(limit.Wrap(trivial)))), func(i int) string { return toks[i%fresh] })
	})
}

// BenchmarkChainWriters measures the policies that wrap the response writer — CORS, a header-only
// response transformation, timeout and retry — around a handler that writes a small body.
func BenchmarkChainWriters(b *testing.B) {
	cors, err := policy.NewCORS(policy.CORSConfig{AllowOrigins: []string{"https://app.example.com"}})
	require.NoError(b, err)
	tr, err := policy.NewTransformation(policy.TransformationConfig{Response: &policy.Transform{Set: map[string]string{"x-route": `"r1"`}}})
	require.NoError(b, err)
	to, err := policy.NewTimeout(policy.TimeoutConfig{RequestTimeout: time.Minute})
	require.NoError(b, err)
	rt, err := policy.NewRetry(policy.RetryConfig{Attempts: 2, Codes: []int{503}})
	require.NoError(b, err)
	body := []byte(`{"ok":true}`)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	chain := cors.Wrap(tr.Wrap(to.Wrap(rt.Wrap(handler))))
	st := &agentgateway.State{}
	r := req("GET", "/v1/x", "Origin", "https://app.example.com")
	r = r.WithContext(agentgateway.WithState(context.Background(), st))
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		*st = agentgateway.State{}
		clear(w.h)
		chain.ServeHTTP(w, r)
		if w.code != 200 || w.h.Get("X-Route") != "r1" {
			b.Fatal(w.code, w.h)
		}
	}
}
