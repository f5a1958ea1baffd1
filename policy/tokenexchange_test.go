package policy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func pemKey(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func newRSA(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}

// verify parses a JWS with pub, failing the test when the signature or algorithm is wrong.
func verify(t testing.TB, tok string, alg string, pub any) (jwt.MapClaims, map[string]any) {
	t.Helper()
	c := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{alg}), jwt.WithoutClaimsValidation())
	require.NoError(t, err, "token %q", tok)
	return c, parsed.Header
}

func TestBackendAuthJWTSign(t *testing.T) {
	k1 := newRSA(t)
	file := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, os.WriteFile(file, pemKey(t, k1), 0o600))
	now := time.Unix(1_800_000_000, 0)
	p, err := policy.NewBackendAuth(policy.BackendAuthConfig{JWTSign: &policy.JWTSignAuth{
		SigningKey: policy.KeySource{File: file}, KID: "k1", TTL: time.Minute,
		Claims: map[string]any{"iss": "gw", "sub": "svc", "aud": []any{"snowflake"}, "n": 3},
		Now:    func() time.Time { return now },
	}})
	require.NoError(t, err)
	var s seen
	w := do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer client-token"))
	require.Equal(t, 200, w.Code)
	tok, ok := strings.CutPrefix(s.Req.Header.Get("Authorization"), "Bearer ")
	require.True(t, ok)
	c, hdr := verify(t, tok, "RS256", &k1.PublicKey)
	assert.Equal(t, "k1", hdr["kid"])
	assert.Equal(t, "gw", c["iss"])
	assert.Equal(t, "svc", c["sub"])
	assert.Equal(t, []any{"snowflake"}, c["aud"])
	assert.EqualValues(t, 3, c["n"])
	assert.EqualValues(t, now.Unix(), c["iat"])
	assert.EqualValues(t, now.Add(time.Minute).Unix(), c["exp"])

	// The key file is rotated: the next request is signed with the new key, without a reload.
	k2 := newRSA(t)
	require.NoError(t, os.WriteFile(file, pemKey(t, k2), 0o600))
	require.NoError(t, os.Chtimes(file, time.Now(), time.Now().Add(time.Hour)))
	do(p, s.Handler(200, ""), req("GET", "/"))
	tok = strings.TrimPrefix(s.Req.Header.Get("Authorization"), "Bearer ")
	verify(t, tok, "RS256", &k2.PublicKey)

	// A broken file during rotation keeps the last good key.
	require.NoError(t, os.WriteFile(file, []byte("garbage"), 0o600))
	require.NoError(t, os.Chtimes(file, time.Now(), time.Now().Add(2*time.Hour)))
	w = do(p, s.Handler(200, ""), req("GET", "/"))
	require.Equal(t, 200, w.Code)
	verify(t, strings.TrimPrefix(s.Req.Header.Get("Authorization"), "Bearer "), "RS256", &k2.PublicKey)

	// EC keys, inline, at another location.
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p, err = policy.NewBackendAuth(policy.BackendAuthConfig{JWTSign: &policy.JWTSignAuth{
		SigningKey: policy.KeySource{PEM: pemKey(t, ek)}, Alg: "ES256", Location: &policy.Location{Header: "X-Token"},
	}})
	require.NoError(t, err)
	do(p, s.Handler(200, ""), req("GET", "/"))
	c, _ = verify(t, s.Req.Header.Get("X-Token"), "ES256", &ek.PublicKey)
	assert.InDelta(t, float64(time.Now().Add(300*time.Second).Unix()), c["exp"], 5, "default ttl 300s")

	for field, spec := range map[string]policy.JWTSignAuth{
		"jwtSign.signingKey":          {SigningKey: policy.KeySource{PEM: []byte("nope")}},
		"jwtSign.alg":                 {SigningKey: policy.KeySource{PEM: pemKey(t, k1)}, Alg: "HS256"},
		"jwtSign.claims.exp":          {SigningKey: policy.KeySource{PEM: pemKey(t, k1)}, Claims: map[string]any{"exp": 1}},
		"jwtSign.location.expression": {SigningKey: policy.KeySource{PEM: pemKey(t, k1)}, Location: &policy.Location{Expression: `"x"`}},
	} {
		_, err := policy.NewBackendAuth(policy.BackendAuthConfig{JWTSign: &spec})
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
	// An RSA key cannot sign ES256.
	_, err = policy.NewBackendAuth(policy.BackendAuthConfig{JWTSign: &policy.JWTSignAuth{SigningKey: policy.KeySource{PEM: pemKey(t, k1)}, Alg: "ES256"}})
	assert.ErrorIs(t, err, policy.ErrSigningKey)
}

// tokenServer is a token endpoint that records each request's form and Basic credentials and answers
// with answer(form) (status 200 unless the answer has "error").
type tokenServer struct {
	*httptest.Server
	mu    sync.Mutex
	forms []url.Values
	basic []string
}

func newTokenServer(t *testing.T, answer func(url.Values) map[string]any) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "want a form POST", 400)
			return
		}
		require.NoError(t, r.ParseForm())
		ts.mu.Lock()
		ts.forms = append(ts.forms, r.PostForm)
		ts.basic = append(ts.basic, r.Header.Get("Authorization"))
		ts.mu.Unlock()
		out := answer(r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		if _, bad := out["error"]; bad {
			w.WriteHeader(400)
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) calls() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.forms)
}

func (ts *tokenServer) form(i int) url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.forms[i]
}

func TestBackendAuthTokenExchange(t *testing.T) {
	ck := newRSA(t) // the gateway's client key (private_key_jwt)
	ts := newTokenServer(t, func(f url.Values) map[string]any {
		if f.Get("subject_token") == "bad" {
			return map[string]any{"error": "invalid_grant", "error_description": "subject token expired"}
		}
		return map[string]any{"access_token": "exchanged-for-" + f.Get("subject_token"), "issued_token_type": policy.TokenTypeAccessToken, "token_type": "Bearer", "expires_in": 60}
	})
	now := time.Unix(1_800_000_000, 0)
	var clock sync.Mutex
	tick := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	p, err := policy.NewBackendAuth(policy.BackendAuthConfig{TokenExchange: &policy.OAuthTokenExchange{
		TokenURL:           ts.URL + "/oauth2/token",
		Audiences:          []string{"https://api.example"},
		Resources:          []string{"https://api.example/v1", "https://api.example/v2"},
		Scopes:             []string{"read", "write"},
		RequestedTokenType: policy.TokenTypeAccessToken,
		ActorToken:         &policy.TokenSource{Location: &policy.Location{Header: "X-Actor"}, TokenType: "urn:ietf:params:oauth:token-type:jwt"},
		AdditionalParams:   map[string]string{"tenant": `request.headers["x-tenant"]`},
		ClientAuth: &policy.ClientAuth{Method: "privateKeyJwt", ClientID: "gateway", SigningKey: policy.KeySource{PEM: pemKey(t, ck)},
			KID: "ck1", AssertionAudience: ts.URL + "/oauth2/token"},
		Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now },
	}})
	require.NoError(t, err)
	var s seen
	call := func(subject string) *httptest.ResponseRecorder {
		return do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer "+subject, "X-Actor", "actor-1", "X-Tenant", "acme"))
	}
	w := call("user-token")
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "Bearer exchanged-for-user-token", s.Req.Header.Get("Authorization"))

	require.Equal(t, 1, ts.calls())
	f := ts.form(0)
	assert.Equal(t, policy.GrantTokenExchange, f.Get("grant_type"))
	assert.Equal(t, "user-token", f.Get("subject_token"))
	assert.Equal(t, policy.TokenTypeAccessToken, f.Get("subject_token_type"))
	assert.Equal(t, "actor-1", f.Get("actor_token"))
	assert.Equal(t, "urn:ietf:params:oauth:token-type:jwt", f.Get("actor_token_type"))
	assert.Equal(t, policy.TokenTypeAccessToken, f.Get("requested_token_type"))
	assert.Equal(t, []string{"https://api.example"}, f["audience"])
	assert.Equal(t, []string{"https://api.example/v1", "https://api.example/v2"}, f["resource"])
	assert.Equal(t, "read write", f.Get("scope"))
	assert.Equal(t, "acme", f.Get("tenant"))
	assert.Equal(t, "gateway", f.Get("client_id"))
	assert.Equal(t, policy.ClientAssertionJWT, f.Get("client_assertion_type"))
	assert.Empty(t, f.Get("client_secret"))
	c, hdr := verify(t, f.Get("client_assertion"), "RS256", &ck.PublicKey)
	assert.Equal(t, "ck1", hdr["kid"])
	assert.Equal(t, "gateway", c["iss"])
	assert.Equal(t, "gateway", c["sub"])
	assert.Equal(t, ts.URL+"/oauth2/token", c["aud"])
	assert.NotEmpty(t, c["jti"])
	assert.Greater(t, c["exp"], c["iat"])

	// Cached until expiry: the same caller does not call the endpoint again; another caller does.
	call("user-token")
	assert.Equal(t, 1, ts.calls())
	call("other-token")
	assert.Equal(t, 2, ts.calls())
	assert.Equal(t, "Bearer exchanged-for-other-token", s.Req.Header.Get("Authorization"))
	tick(61 * time.Second)
	call("user-token")
	assert.Equal(t, 3, ts.calls(), "expired token exchanged again")
	assert.NotEqual(t, c["jti"], func() any {
		c, _ := verify(t, ts.form(2).Get("client_assertion"), "RS256", &ck.PublicKey)
		return c["jti"]
	}(), "a fresh assertion per request")

	// A refused exchange is 401 for the caller; a missing token never reaches the endpoint.
	s.Calls = 0
	w = call("bad")
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, 0, s.Calls)
	n := ts.calls()
	w = do(p, s.Handler(200, ""), req("GET", "/", "X-Actor", "a"))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, n, ts.calls())
}

func TestBackendAuthTokenExchangeClientSecretAndJWTBearer(t *testing.T) {
	ts := newTokenServer(t, func(f url.Values) map[string]any {
		return map[string]any{"access_token": "at", "token_type": "Bearer"}
	})
	zero := 0
	p, err := policy.NewBackendAuth(policy.BackendAuthConfig{TokenExchange: &policy.OAuthTokenExchange{
		TokenURL: ts.URL, GrantType: "jwtBearer", Scopes: []string{"s"},
		ClientAuth: &policy.ClientAuth{ClientID: "id:with space", ClientSecret: "p@ss/word"},
		Cache:      policy.TokenCache{MaxEntries: &zero},
		Location:   &policy.Location{Header: "X-Upstream-Token"},
	}})
	require.NoError(t, err)
	var s seen
	do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer assertion-jwt"))
	do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer assertion-jwt"))
	assert.Equal(t, "at", s.Req.Header.Get("X-Upstream-Token"))
	require.Equal(t, 2, ts.calls(), "maxEntries 0 disables the cache")
	f := ts.form(0)
	assert.Equal(t, policy.GrantJWTBearer, f.Get("grant_type"))
	assert.Equal(t, "assertion-jwt", f.Get("assertion"))
	assert.Empty(t, f.Get("subject_token"))
	assert.Equal(t, "s", f.Get("scope"))
	assert.Empty(t, f.Get("client_id"), "clientSecretBasic sends no client_id in the form")
	// RFC 6749 §2.3.1: id and secret are form-urlencoded, then Basic-encoded.
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("id:with space")+":"+url.QueryEscape("p@ss/word")))
	assert.Equal(t, want, ts.basic[0])

	p, err = policy.NewBackendAuth(policy.BackendAuthConfig{TokenExchange: &policy.OAuthTokenExchange{
		TokenURL: ts.URL, ClientAuth: &policy.ClientAuth{Method: "clientSecretPost", ClientID: "cid", ClientSecret: "sec"},
	}})
	require.NoError(t, err)
	do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer x"))
	f = ts.form(2)
	assert.Equal(t, "cid", f.Get("client_id"))
	assert.Equal(t, "sec", f.Get("client_secret"))
	assert.Empty(t, ts.basic[2])
	assert.Empty(t, f.Get("requested_token_type"), "omitted unless configured")

	// An unreachable endpoint is a gateway error, not the caller's fault.
	ts.Close()
	w := do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer y"))
	assert.Equal(t, http.StatusBadGateway, w.Code)

	for field, spec := range map[string]policy.OAuthTokenExchange{
		"oauthTokenExchange.host":                  {TokenURL: "not a url"},
		"oauthTokenExchange.grantType":             {TokenURL: "http://x", GrantType: "password"},
		"oauthTokenExchange.actorToken.source":     {TokenURL: "http://x", ActorToken: &policy.TokenSource{}},
		"oauthTokenExchange.clientAuth.method":     {TokenURL: "http://x", ClientAuth: &policy.ClientAuth{Method: "mtls", ClientID: "a"}},
		"oauthTokenExchange.clientAuth.signingKey": {TokenURL: "http://x", ClientAuth: &policy.ClientAuth{Method: "privateKeyJwt", ClientID: "a", AssertionAudience: "x"}},
		"oauthTokenExchange.additionalParams.a":    {TokenURL: "http://x", AdditionalParams: map[string]string{"a": "1 +"}},
	} {
		_, err := policy.NewBackendAuth(policy.BackendAuthConfig{TokenExchange: &spec})
		var ce *agentgateway.ConfigError
		require.ErrorAs(t, err, &ce, field)
		assert.Equal(t, field, ce.Path)
	}
}

func TestBackendAuthCrossAppAccess(t *testing.T) {
	ck := newRSA(t)
	// The identity provider issues an ID-JAG for the ID token; the resource authorization server
	// exchanges it for an access token.
	idp := newTokenServer(t, func(f url.Values) map[string]any {
		return map[string]any{"access_token": "jag-for-" + f.Get("subject_token"), "issued_token_type": policy.TokenTypeIDJAG, "token_type": "N_A", "expires_in": 300}
	})
	ras := newTokenServer(t, func(f url.Values) map[string]any {
		return map[string]any{"access_token": "at-from-" + f.Get("assertion"), "token_type": "Bearer", "expires_in": "3600"}
	})
	p, err := policy.NewBackendAuth(policy.BackendAuthConfig{CrossAppAccess: &policy.CrossAppAccess{
		IdentityProvider: policy.TokenEndpoint{TokenURL: idp.URL + "/token", ClientAuth: policy.ClientAuth{Method: "privateKeyJwt", ClientID: "agent",
			SigningKey: policy.KeySource{PEM: pemKey(t, ck)}, AssertionAudience: idp.URL}},
		ResourceAuthorizationServer: policy.TokenEndpoint{TokenURL: ras.URL + "/token", ClientAuth: policy.ClientAuth{Method: "clientSecretPost", ClientID: "agent-at-ras", ClientSecret: "s3"}},
		Audience:                    "https://ras.example", Resources: []string{"https://api.example/"},
		Scopes: []string{"chat.read"}, AccessTokenScopes: []string{},
	}})
	require.NoError(t, err)
	var s seen
	w := do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer id-token-1"))
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "Bearer at-from-jag-for-id-token-1", s.Req.Header.Get("Authorization"))

	f := idp.form(0)
	assert.Equal(t, policy.GrantTokenExchange, f.Get("grant_type"))
	assert.Equal(t, policy.TokenTypeIDJAG, f.Get("requested_token_type"))
	assert.Equal(t, "https://ras.example", f.Get("audience"))
	assert.Equal(t, "https://api.example/", f.Get("resource"))
	assert.Equal(t, "chat.read", f.Get("scope"))
	assert.Equal(t, "id-token-1", f.Get("subject_token"))
	assert.Equal(t, policy.TokenTypeIDToken, f.Get("subject_token_type"))
	assert.Equal(t, policy.ClientAssertionJWT, f.Get("client_assertion_type"))
	c, _ := verify(t, f.Get("client_assertion"), "RS256", &ck.PublicKey)
	assert.Equal(t, "agent", c["iss"])
	assert.Equal(t, idp.URL, c["aud"])

	f = ras.form(0)
	assert.Equal(t, policy.GrantJWTBearer, f.Get("grant_type"))
	assert.Equal(t, "jag-for-id-token-1", f.Get("assertion"))
	assert.False(t, f.Has("scope"), "empty accessTokenScopes omits scope")
	assert.Equal(t, "agent-at-ras", f.Get("client_id"))
	assert.Equal(t, "s3", f.Get("client_secret"))

	do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer id-token-1"))
	assert.Equal(t, 1, idp.calls(), "cached")
	assert.Equal(t, 1, ras.calls(), "cached")
	_, err = policy.NewBackendAuth(policy.BackendAuthConfig{CrossAppAccess: &policy.CrossAppAccess{}})
	assert.ErrorContains(t, err, "audience")
}

// TestPrivateKeyJWTCertificateHeaders: with a certificate, the client assertion announces it as
// x5t#S256 (the leaf's SHA-256 thumbprint) or x5c (the chain, standard base64 DER).
func TestPrivateKeyJWTCertificateHeaders(t *testing.T) {
	k := newRSA(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	ts := newTokenServer(t, func(url.Values) map[string]any { return map[string]any{"access_token": "a"} })
	for header, want := range map[string]any{
		"x5t#S256": base64.RawURLEncoding.EncodeToString(func() []byte { s := sha256.Sum256(der); return s[:] }()),
		"x5c":      []any{base64.StdEncoding.EncodeToString(der)},
	} {
		p, err := policy.NewBackendAuth(policy.BackendAuthConfig{TokenExchange: &policy.OAuthTokenExchange{TokenURL: ts.URL, ClientAuth: &policy.ClientAuth{
			Method: "privateKeyJwt", ClientID: "c", AssertionAudience: "aud", SigningKey: policy.KeySource{PEM: pemKey(t, k)}, Certificate: certPEM, CertificateHeader: header}}})
		require.NoError(t, err)
		var s seen
		do(p, s.Handler(200, ""), req("GET", "/", "Authorization", "Bearer "+header))
		_, hdr := verify(t, ts.form(ts.calls()-1).Get("client_assertion"), "RS256", &k.PublicKey)
		assert.Equal(t, want, hdr[header], header)
	}
	_, err = policy.NewBackendAuth(policy.BackendAuthConfig{TokenExchange: &policy.OAuthTokenExchange{TokenURL: ts.URL, ClientAuth: &policy.ClientAuth{
		Method: "privateKeyJwt", ClientID: "c", AssertionAudience: "aud", SigningKey: policy.KeySource{PEM: pemKey(t, k)}, Certificate: certPEM}}})
	assert.ErrorContains(t, err, "certificateHeader")
}
