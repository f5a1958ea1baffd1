package policy_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

var (
	keysOnce sync.Once
	rsaKey   testKey
	ecKey    testKey
	edKey    testKey
	psKey    testKey
)

func keys(t testing.TB) {
	keysOnce.Do(func() {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		_, dk, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		rsaKey = testKey{"rsa1", jose.RS256, rk}
		psKey = testKey{"rsa1", jose.PS256, rk}
		ecKey = testKey{"ec1", jose.ES256, ek}
		edKey = testKey{"ed1", jose.EdDSA, dk}
	})
}

func jwks(t testing.TB, ks ...testKey) string {
	var set jose.JSONWebKeySet
	for _, k := range ks {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Use: "sig"})
	}
	b, err := json.Marshal(set)
	require.NoError(t, err)
	return string(b)
}

func mint(t testing.TB, k testKey, claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	tok, err := josejwt.Signed(s).Claims(claims).Serialize()
	require.NoError(t, err)
	return tok
}

func claims(extra map[string]any) map[string]any {
	c := map[string]any{"iss": "https://issuer.example", "aud": []string{"api"}, "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix(), "groups": []string{"admin"}, "org": map[string]any{"id": "o1", "tier": "gold"}}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func newJWT(t testing.TB, mode policy.Mode, ks ...testKey) agentgateway.Policy {
	p, err := policy.NewJWT(policy.JWTConfig{Mode: mode, Providers: []policy.JWTProvider{
		{Issuer: "https://issuer.example", Audiences: []string{"api"}, JWKS: policy.JWKS{JSON: []byte(jwks(t, ks...))}}}})
	require.NoError(t, err)
	return p
}

func TestJWTVerifies(t *testing.T) {
	keys(t)
	p := newJWT(t, policy.ModeStrict, rsaKey, ecKey, edKey)
	for _, k := range []testKey{rsaKey, psKey, ecKey, edKey} {
		t.Run(string(k.alg), func(t *testing.T) {
			var s seen
			w := do(p, s.Handler(200, "ok"), req("GET", "/", "Authorization", "Bearer "+mint(t, k, claims(nil))))
			require.Equal(t, 200, w.Code, w.Body.String())
			assert.Equal(t, "alice", s.State.Identity.Subject)
			assert.Equal(t, "jwt", s.State.Identity.Method)
			assert.Equal(t, "gold", s.State.Identity.JWT["org"].(map[string]any)["tier"], "nested claims kept")
			assert.Empty(t, s.Req.Header.Get("Authorization"), "token not forwarded")
			assert.NotEmpty(t, policy.TokenFrom(s.Req.Context()))
		})
	}
}

func TestJWTRejects(t *testing.T) {
	keys(t)
	p := newJWT(t, policy.ModeStrict, rsaKey, ecKey)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(claims(nil))
	cases := map[string]string{
		"expired":         "Bearer " + mint(t, rsaKey, claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})),
		"not yet valid":   "Bearer " + mint(t, rsaKey, claims(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})),
		"wrong issuer":    "Bearer " + mint(t, rsaKey, claims(map[string]any{"iss": "https://evil.example"})),
		"wrong audience":  "Bearer " + mint(t, ecKey, claims(map[string]any{"aud": "other"})),
		"missing exp":     "Bearer " + mint(t, ecKey, claims(map[string]any{"exp": nil})),
		"unknown kid":     "Bearer " + mint(t, testKey{"nope", jose.RS256, other}, claims(nil)),
		"wrong key":       "Bearer " + mint(t, testKey{"rsa1", jose.RS256, other}, claims(nil)),
		"alg none":        "Bearer " + b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + ".",
		"alg HS256":       "Bearer " + b64([]byte(`{"alg":"HS256","kid":"rsa1"}`)) + "." + b64(payload) + "." + b64([]byte("sig")),
		"garbage":         "Bearer not.a.jwt",
		"empty bearer":    "Bearer ",
		"no scheme space": "Bearer",
		"basic scheme":    "Basic YWxpY2U6cHc=",
		"two dots only":   "Bearer ..",
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			var s seen
			w := do(p, s.Handler(200, ""), req("GET", "/", "Authorization", hdr))
			assert.Equal(t, 401, w.Code)
			assert.Zero(t, s.Calls)
			assert.True(t, strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer "), w.Header().Get("WWW-Authenticate"))
			assert.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
		})
	}
}

func TestJWTModes(t *testing.T) {
	keys(t)
	bad := "Bearer " + mint(t, rsaKey, claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	good := "Bearer " + mint(t, rsaKey, claims(nil))
	type want struct{ missing, invalid int }
	for mode, w := range map[policy.Mode]want{
		policy.ModeStrict:     {401, 401},
		policy.ModeOptional:   {200, 401},
		policy.ModePermissive: {200, 200},
	} {
		t.Run(string(mode), func(t *testing.T) {
			p := newJWT(t, mode, rsaKey)
			var s seen
			r := do(p, s.Handler(200, ""), req("GET", "/"))
			assert.Equal(t, w.missing, r.Code, "missing")
			if r.Code == 401 {
				assert.Equal(t, `Bearer realm="agentgateway"`, r.Header().Get("WWW-Authenticate"))
			}
			s = seen{}
			r = do(p, s.Handler(200, ""), req("GET", "/", "Authorization", bad))
			assert.Equal(t, w.invalid, r.Code, "invalid")
			assert.Nil(t, s.State.Identity.JWT, "invalid claims are never recorded")
			s = seen{}
			r = do(p, s.Handler(200, ""), req("GET", "/", "Authorization", good))
			assert.Equal(t, 200, r.Code)
			assert.Equal(t, "alice", s.State.Identity.Subject)
		})
	}
}

func TestJWTProvidersAndLocations(t *testing.T) {
	keys(t)
	p, err := policy.NewJWT(policy.JWTConfig{
		Mode:     policy.ModeStrict,
		Location: &policy.Location{QueryParameter: "token"},
		Providers: []policy.JWTProvider{
			{Issuer: "https://issuer.example", JWKS: policy.JWKS{JSON: []byte(jwks(t, rsaKey))}},
			{Issuer: "https://second.example", JWKS: policy.JWKS{JSON: []byte(jwks(t, ecKey))}, RequiredClaims: []string{"sub"}},
		},
	})
	require.NoError(t, err)
	var s seen
	w := do(p, s.Handler(200, ""), req("GET", "/?token="+mint(t, ecKey, claims(map[string]any{"iss": "https://second.example", "exp": nil}))+"&x=1"))
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "x=1", s.Req.URL.RawQuery, "token removed from the query")
	w = do(p, s.Handler(200, ""), req("GET", "/?token="+mint(t, ecKey, claims(map[string]any{"iss": "https://second.example", "sub": nil}))))
	assert.Equal(t, 401, w.Code, "required sub")
	w = do(p, s.Handler(200, ""), req("GET", "/?token="+mint(t, ecKey, claims(nil))))
	assert.Equal(t, 401, w.Code, "an EC key is not the first provider's key")
}

func TestJWKSRemoteRotation(t *testing.T) {
	keys(t)
	var current atomic.Value
	current.Store(jwks(t, rsaKey))
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_, _ = w.Write([]byte(current.Load().(string)))
	}))
	defer srv.Close()

	build := func(interval time.Duration) agentgateway.Policy {
		p, err := policy.NewJWT(policy.JWTConfig{Mode: policy.ModeStrict, RefetchInterval: interval, HTTPClient: srv.Client(),
			Providers: []policy.JWTProvider{{Issuer: "https://issuer.example", JWKS: policy.JWKS{URL: srv.URL}}}})
		require.NoError(t, err)
		return p
	}
	call := func(p agentgateway.Policy, k testKey) int {
		return do(p, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), req("GET", "/", "Authorization", "Bearer "+mint(t, k, claims(nil)))).Code
	}

	// Unknown kids do not hammer the JWKS endpoint: one refetch per interval.
	p := build(time.Hour)
	assert.Equal(t, 200, call(p, rsaKey))
	assert.Equal(t, int32(1), fetches.Load())
	assert.Equal(t, 200, call(p, rsaKey))
	assert.Equal(t, int32(1), fetches.Load(), "cached")
	for range 5 {
		assert.Equal(t, 401, call(p, ecKey))
	}
	assert.Equal(t, int32(1), fetches.Load(), "refetch rate-limited")

	// Rotation: a new kid triggers a refetch that picks up the new key.
	fetches.Store(0)
	p = build(time.Nanosecond)
	assert.Equal(t, 200, call(p, rsaKey))
	current.Store(jwks(t, ecKey))
	time.Sleep(time.Millisecond) // let the 1ns refetch interval pass
	assert.Equal(t, 200, call(p, ecKey))
	assert.Equal(t, int32(2), fetches.Load())
}

func TestJWTConfigErrors(t *testing.T) {
	inline := policy.JWKS{JSON: []byte(`{"keys":[]}`)}
	remote := policy.JWKS{URL: "https://x"}
	one := []policy.JWTProvider{{Issuer: "i", JWKS: remote}}
	for _, c := range []struct {
		field string
		cfg   policy.JWTConfig
	}{
		{"mode", policy.JWTConfig{Mode: policy.Mode(7), Providers: one}},
		{"providers", policy.JWTConfig{}},
		{"providers[0].issuer", policy.JWTConfig{Providers: []policy.JWTProvider{{JWKS: inline}}}},
		{"providers[0].jwks", policy.JWTConfig{Providers: []policy.JWTProvider{{Issuer: "i", JWKS: inline}}}},
		{"providers[0].jwks", policy.JWTConfig{Providers: []policy.JWTProvider{{Issuer: "i"}}}},
		{"providers[0].jwks", policy.JWTConfig{Providers: []policy.JWTProvider{{Issuer: "i", JWKS: policy.JWKS{JSON: []byte("{}"), URL: "https://x"}}}}},
		{"providers[1].issuer", policy.JWTConfig{Providers: []policy.JWTProvider{{Issuer: "i", JWKS: remote}, {Issuer: "i", JWKS: remote}}}},
		{"providers[0].jwks.url", policy.JWTConfig{Providers: []policy.JWTProvider{{Issuer: "i", JWKS: policy.JWKS{URL: "ftp://x"}}}}},
		{"location", policy.JWTConfig{Providers: one, Location: &policy.Location{}}},
		{"location.prefix", policy.JWTConfig{Providers: one, Location: &policy.Location{Prefix: "Bearer ", Cookie: "c"}}},
		{"providers[0].requiredClaims[1]", policy.JWTConfig{Providers: []policy.JWTProvider{{Issuer: "i", JWKS: remote, RequiredClaims: []string{"sub", "foo"}}}}},
	} {
		p, err := policy.NewJWT(c.cfg)
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, c.field)
		assert.Equal(t, c.field, ce.Path)
		assert.True(t, p == nil, "no policy (not even a typed nil) with an error")
	}
}

func benchJWT(b *testing.B, k testKey) {
	keys(b)
	b.Run("verify", func(b *testing.B) { benchJWTCache(b, k, -1) })
	b.Run("cached", func(b *testing.B) { benchJWTCache(b, k, 0) })
}

func benchJWTCache(b *testing.B, k testKey, cache int) {
	p, err := policy.NewJWT(policy.JWTConfig{Mode: policy.ModeStrict, CacheSize: cache, Providers: []policy.JWTProvider{
		{Issuer: "https://issuer.example", Audiences: []string{"api"}, JWKS: policy.JWKS{JSON: []byte(jwks(b, k))}}}})
	require.NoError(b, err)
	tok := "Bearer " + mint(b, k, claims(nil))
	h := p.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := &benchWriter{h: http.Header{}}
	st := &agentgateway.State{}
	r := req("GET", "/")
	r = r.WithContext(agentgateway.WithState(context.Background(), st))
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"] = []string{tok}
		*st = agentgateway.State{}
		h.ServeHTTP(w, r)
		if w.code != 0 {
			b.Fatal(w.code)
		}
	}
}

func BenchmarkJWTVerifyRS256(b *testing.B) { benchJWT(b, rsaKeyFor(b)) }
func BenchmarkJWTVerifyES256(b *testing.B) { keys(b); benchJWT(b, ecKey) }
func BenchmarkJWTVerifyEdDSA(b *testing.B) { keys(b); benchJWT(b, edKey) }

func rsaKeyFor(b *testing.B) testKey { keys(b); return rsaKey }

func TestJWKSUnreachableIs401(t *testing.T) {
	keys(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	p, err := policy.NewJWT(policy.JWTConfig{Mode: policy.ModeStrict, HTTPClient: srv.Client(),
		Providers: []policy.JWTProvider{{Issuer: "https://issuer.example", JWKS: policy.JWKS{URL: srv.URL}}}})
	require.NoError(t, err)
	w := do(p, http.NotFoundHandler(), req("GET", "/", "Authorization", "Bearer "+mint(t, rsaKey, claims(nil))))
	assert.Equal(t, 401, w.Code)
	assert.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
}

// A Go user who adds an authentication policy without naming a mode gets a closed route: the empty
// mode is strict for JWT, API keys and basic auth alike (config files keep agentgateway's optional
// default, tested in package config).
func TestEmptyModeIsStrict(t *testing.T) {
	keys(t)
	j, err := policy.NewJWT(policy.JWTConfig{Providers: []policy.JWTProvider{
		{Issuer: "https://issuer.example", Audiences: []string{"api"}, JWKS: policy.JWKS{JSON: []byte(jwks(t, rsaKey))}}}})
	require.NoError(t, err)
	k, err := policy.NewAPIKey(policy.APIKeyConfig{Keys: []policy.APIKey{{Key: "k"}}})
	require.NoError(t, err)
	b, err := policy.NewBasicAuth(policy.BasicAuthConfig{Htpasswd: []byte("a:{SHA}hvfkN/qlp/zhXR3cuerq6jd2Z7g=")})
	require.NoError(t, err)
	for name, p := range map[string]agentgateway.Policy{"jwt": j, "apiKey": k, "basicAuth": b} {
		s := seen{}
		w := do(p, s.Handler(200, ""), req("GET", "/"))
		require.Equal(t, http.StatusUnauthorized, w.Code, name)
		require.Zero(t, s.Calls, name)
	}
}
