package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// go-jose is the JOSE implementation: well kept (the successor of square/go-jose, used by
	// Kubernetes, Dex and oauth2-proxy), it verifies RS/PS/ES/EdDSA signatures, makes callers list the
	// accepted algorithms (so "alg: none" and HS/RS confusion are refused by construction) and bounds
	// what it parses. We never hand-write signature verification.
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// JWTConfig configures JWT authentication (agentgateway's `jwtAuth`).
type JWTConfig struct {
	// Mode is strict (the zero value), optional or permissive; see [Mode].
	Mode Mode
	// Location is where the token is read; nil means the Authorization header with "Bearer ".
	Location *Location
	// Providers are the trusted issuers; a token is checked against the provider of its `iss`.
	Providers []JWTProvider

	// ClockSkew is the leeway for exp and nbf (default 30s).
	ClockSkew time.Duration
	// RefetchInterval is the minimum time between two fetches of a remote JWKS triggered by an
	// unknown key id (default 1m); a fetched set is also refreshed when older than 10 times this.
	RefetchInterval time.Duration
	// HTTPClient fetches remote JWKS. Default: a client with a 10s timeout whose transport the
	// gateway's [agentgateway.Services] wrap (trace propagation, client metrics).
	HTTPClient *http.Client
	// CacheSize bounds the verified-token cache (default 10000; negative disables it).
	CacheSize int
}

// JWTProvider is one trusted issuer.
type JWTProvider struct {
	// Issuer must equal the token's `iss`.
	Issuer string
	// Audiences: when not empty, the token's `aud` must contain one of them.
	Audiences []string
	// JWKS is the provider's key set.
	JWKS JWKS
	// RequiredClaims lists the registered claims a token must carry (exp, nbf, aud, iss, sub, iat,
	// jti). Nil means ["exp"]; an empty, non-nil list requires none.
	RequiredClaims []string
}

// JWKS is a JSON Web Key Set (RFC 7517): exactly one of JSON, the set itself, and URL, where it is
// fetched on first use and refetched when a token names a key id it does not hold.
type JWKS struct {
	JSON []byte
	URL  string
}

// Algorithms accepted in a token header. Symmetric (HS*) and "none" are not: a JWKS of public keys
// cannot verify them safely.
var jwtAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

type jwtProvider struct {
	issuer    string
	audiences []string
	required  []string
	keys      *keySource
}

type jwtAuth struct {
	mode      Mode
	loc       *locator
	providers []*jwtProvider
	skew      time.Duration
	outbound  *policyutil.Outbound // the default client's transport; nil with JWTConfig.HTTPClient

	// The verified-token cache: a signature check costs 30-150 µs (RSA, ECDSA, Ed25519 verification)
	// while a client sends the same token many times. An entry is keyed by the exact token bytes, so
	// it can only ever match the token that was verified; it lives at most jwtCacheTTL (so a key
	// removed from the JWKS stops being honoured soon) and exp/nbf are re-checked on every hit.
	cacheMax int
	cacheMu  sync.RWMutex
	cache    map[string]*verifiedToken
}

const jwtCacheTTL = 5 * time.Minute

type verifiedToken struct {
	claims   map[string]any
	until    time.Time // cache expiry: min(exp, verification + jwtCacheTTL)
	exp, nbf time.Time
}

// NewJWT returns the JWT authentication policy. A verified token's claims (nested objects included)
// go to State.Identity.JWT (CEL: jwt.*), `sub` to Identity.Subject, and the token is removed from the
// request before it is forwarded (backendAuth passthrough puts it back). Failures are 401 with
// `WWW-Authenticate: Bearer` (plus error="invalid_token" for a bad token), never 500.
//
// A verified token is remembered (see JWTConfig.CacheSize), so a client presenting the same token
// again costs a map lookup instead of a signature check; the claims map is then shared by those
// requests and must be treated as read-only.
//
// The policy implements [agentgateway.Provisioner]: behind a Gateway, remote JWKS are fetched through
// the gateway's outbound transport hook (unless cfg.HTTPClient is set).
func NewJWT(cfg JWTConfig) (agentgateway.Policy, error) {
	j, err := newJWT(cfg)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return j, nil
}

// Phase is agentgateway.PhaseAuthn.
func (*jwtAuth) Phase() agentgateway.Phase { return agentgateway.PhaseAuthn }

// Wrap authenticates requests before next.
func (j *jwtAuth) Wrap(next http.Handler) http.Handler { return j.middleware(next) }

// Provision routes JWKS fetches through the gateway's transport hook.
func (j *jwtAuth) Provision(svc agentgateway.Services) error {
	if j.outbound != nil {
		j.outbound.Provision(svc)
	}
	return nil
}

func newJWT(cfg JWTConfig) (*jwtAuth, error) {
	mode, err := cfg.Mode.validate("mode", ModeStrict, ModeOptional, ModePermissive)
	if err != nil {
		return nil, err
	}
	loc, err := cfg.Location.compile("location", BearerLocation(), false)
	if err != nil {
		return nil, err
	}
	j := &jwtAuth{mode: mode, loc: loc, skew: cfg.ClockSkew, cacheMax: cfg.CacheSize, cache: map[string]*verifiedToken{}}
	if j.cacheMax == 0 {
		j.cacheMax = 10_000
	}
	if j.skew == 0 {
		j.skew = 30 * time.Second
	}
	if len(cfg.Providers) == 0 {
		return nil, agentgateway.Errorf("providers", "at least one provider is required")
	}
	client := cfg.HTTPClient
	if client == nil {
		j.outbound = policyutil.NewOutbound(nil)
		client = &http.Client{Timeout: 10 * time.Second, Transport: j.outbound}
	}
	seen := map[string]bool{}
	for i, p := range cfg.Providers {
		at := func(sub string) string { return fieldf("providers", i, sub) }
		if p.Issuer == "" {
			return nil, agentgateway.Errorf(at("issuer"), "required")
		}
		if seen[p.Issuer] {
			return nil, agentgateway.Errorf(at("issuer"), "duplicate issuer %q", p.Issuer)
		}
		seen[p.Issuer] = true
		jp := &jwtProvider{issuer: p.Issuer, audiences: p.Audiences, required: []string{"exp"}}
		if p.RequiredClaims != nil {
			jp.required = p.RequiredClaims
			for k, c := range jp.required {
				switch c {
				case "exp", "nbf", "aud", "iss", "sub", "iat", "jti":
				default:
					return nil, agentgateway.Errorf(at(fmt.Sprintf("requiredClaims[%d]", k)), "unknown claim %q", c)
				}
			}
		}
		ks := &keySource{url: p.JWKS.URL, client: client, minRefetch: cfg.RefetchInterval}
		if ks.minRefetch == 0 {
			ks.minRefetch = time.Minute
		}
		switch {
		case (len(p.JWKS.JSON) == 0) == (p.JWKS.URL == ""):
			return nil, agentgateway.Errorf(at("jwks"), "set exactly one of a key set and a URL")
		case p.JWKS.URL != "":
			u, err := url.Parse(p.JWKS.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, agentgateway.Errorf(at("jwks.url"), "invalid URL %q", p.JWKS.URL)
			}
		default:
			set, err := parseJWKS(p.JWKS.JSON)
			if err != nil {
				return nil, agentgateway.Errorf(at("jwks"), "%w", err)
			}
			ks.set.Store(set)
		}
		jp.keys = ks
		j.providers = append(j.providers, jp)
	}
	return j, nil
}

// ErrUnknownKey is wrapped when a token names a key id the provider's JWKS does not hold.
var ErrUnknownKey = errors.New("unknown signing key")

type keySet struct {
	byKID   map[string][]jose.JSONWebKey
	all     []jose.JSONWebKey
	fetched time.Time
}

func parseJWKS(data []byte) (*keySet, error) {
	var raw jose.JSONWebKeySet
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("invalid JWKS: %w", err)
	}
	s := &keySet{byKID: map[string][]jose.JSONWebKey{}, fetched: time.Now()}
	for _, k := range raw.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			k = k.Public()
		}
		if !k.Valid() {
			continue
		}
		s.all = append(s.all, k)
		s.byKID[k.KeyID] = append(s.byKID[k.KeyID], k)
	}
	if len(s.all) == 0 {
		return nil, errors.New("JWKS holds no usable signing key")
	}
	return s, nil
}

// keySource holds a provider's keys; a remote one is fetched on first use, refetched when a token
// names an unknown key id (at most once per minRefetch) and refreshed when stale.
type keySource struct {
	url        string
	client     *http.Client
	minRefetch time.Duration

	set       atomic.Pointer[keySet]
	mu        sync.Mutex
	lastFetch time.Time
	fetches   atomic.Int64
}

func (ks *keySource) keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	s := ks.set.Load()
	if ks.url == "" {
		return s.lookup(kid)
	}
	if s != nil && time.Since(s.fetched) < 10*ks.minRefetch {
		if k, err := s.lookup(kid); err == nil {
			return k, nil
		}
	}
	// Unknown kid, stale, or never fetched: refetch, rate-limited.
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if cur := ks.set.Load(); cur != s && cur != nil { // someone else fetched while we waited
		return cur.lookup(kid)
	}
	if s == nil || time.Since(ks.lastFetch) >= ks.minRefetch {
		ks.lastFetch = time.Now()
		fresh, err := ks.fetch(ctx)
		if err != nil && s == nil {
			return nil, err
		}
		if err == nil {
			ks.set.Store(fresh)
			s = fresh
		}
	}
	if s == nil {
		return nil, errors.New("JWKS not available yet")
	}
	return s.lookup(kid)
}

func (s *keySet) lookup(kid string) ([]jose.JSONWebKey, error) {
	if kid == "" {
		return s.all, nil
	}
	if k := s.byKID[kid]; len(k) > 0 {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKey, kid)
}

func (ks *keySource) fetch(ctx context.Context) (*keySet, error) {
	ks.fetches.Add(1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS: status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	return parseJWKS(data)
}

type tokenKey struct{}

// TokenFrom returns the raw bearer token a JWT policy verified for this request ("" when none);
// backend auth's passthrough mode forwards it.
func TokenFrom(ctx context.Context) string {
	s, _ := ctx.Value(tokenKey{}).(string)
	return s
}

const bearerChallenge = `Bearer realm="agentgateway"`

func (j *jwtAuth) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, present := j.loc.extract(r)
		if !present {
			if j.mode == ModeStrict {
				challenge(w, bearerChallenge, "missing JWT")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		claims, err := j.verify(r.Context(), raw)
		if err != nil {
			if j.mode == ModePermissive {
				next.ServeHTTP(w, r)
				return
			}
			challenge(w, `Bearer realm="agentgateway", error="invalid_token", error_description="`+sanitize(err.Error())+`"`, "invalid JWT: "+err.Error())
			return
		}
		st, r := stateOf(r)
		st.Identity.JWT = claims
		if sub, ok := claims["sub"].(string); ok {
			st.Identity.Subject = sub
		}
		st.Identity.Method = "jwt"
		j.loc.remove(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, raw)))
	})
}

// sanitize keeps an error description fit for a quoted-string header parameter.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' || r > '~' {
			return '\''
		}
		return r
	}, s)
}

// verify checks a raw token and returns its claims (shared between requests that present the same
// token: read-only).
func (j *jwtAuth) verify(ctx context.Context, raw string) (map[string]any, error) {
	if j.cacheMax > 0 {
		j.cacheMu.RLock()
		e := j.cache[raw]
		j.cacheMu.RUnlock()
		if e != nil {
			now := time.Now()
			switch {
			case now.After(e.until):
			case !e.exp.IsZero() && now.Add(-j.skew).After(e.exp):
				return nil, fmt.Errorf("%w: token is expired", ErrInvalidCredential)
			case !e.nbf.IsZero() && now.Add(j.skew).Before(e.nbf):
				return nil, fmt.Errorf("%w: token is not valid yet", ErrInvalidCredential)
			default:
				return e.claims, nil
			}
		}
	}
	claims, err := j.verifySignature(ctx, raw)
	if err != nil || j.cacheMax <= 0 {
		return claims, err
	}
	e := &verifiedToken{claims: claims, until: time.Now().Add(jwtCacheTTL)}
	if exp, ok := claims["exp"].(float64); ok {
		e.exp = time.Unix(int64(exp), 0)
		if e.exp.Add(j.skew).Before(e.until) {
			e.until = e.exp.Add(j.skew)
		}
	}
	if nbf, ok := claims["nbf"].(float64); ok {
		e.nbf = time.Unix(int64(nbf), 0)
	}
	j.cacheMu.Lock()
	if len(j.cache) >= j.cacheMax {
		now := time.Now()
		for k, old := range j.cache { // drop expired entries, or an arbitrary one
			if now.After(old.until) || len(j.cache) >= j.cacheMax {
				delete(j.cache, k)
			}
			if len(j.cache) < j.cacheMax*3/4 {
				break
			}
		}
	}
	j.cache[raw] = e
	j.cacheMu.Unlock()
	return claims, nil
}

func (j *jwtAuth) verifySignature(ctx context.Context, raw string) (map[string]any, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: malformed authorization header", ErrInvalidCredential)
	}
	tok, err := josejwt.ParseSigned(raw, jwtAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCredential, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: want exactly one signature", ErrInvalidCredential)
	}
	p := j.providers[0]
	if len(j.providers) > 1 {
		var peek struct {
			Iss string `json:"iss"`
		}
		if err := tok.UnsafeClaimsWithoutVerification(&peek); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidCredential, err)
		}
		p = nil
		for _, c := range j.providers {
			if c.issuer == peek.Iss {
				p = c
				break
			}
		}
		if p == nil {
			return nil, fmt.Errorf("%w: untrusted issuer", ErrInvalidCredential)
		}
	}
	keys, err := p.keys.keys(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCredential, err)
	}
	var claims map[string]any
	verified := false
	for i := range keys {
		if keys[i].Algorithm != "" && keys[i].Algorithm != tok.Headers[0].Algorithm {
			continue
		}
		if err = tok.Claims(keys[i].Key, &claims); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, fmt.Errorf("%w: signature verification failed", ErrInvalidCredential)
	}
	if err := p.validate(claims, time.Now(), j.skew); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCredential, err)
	}
	return claims, nil
}

func (p *jwtProvider) validate(c map[string]any, now time.Time, skew time.Duration) error {
	for _, name := range p.required {
		if _, ok := c[name]; !ok {
			return fmt.Errorf("missing required claim %q", name)
		}
	}
	if v, ok := c["exp"]; ok {
		exp, ok := v.(float64)
		if !ok {
			return errors.New("exp is not a number")
		}
		if now.Add(-skew).After(time.Unix(int64(exp), 0)) {
			return errors.New("token is expired")
		}
	}
	if v, ok := c["nbf"]; ok {
		nbf, ok := v.(float64)
		if !ok {
			return errors.New("nbf is not a number")
		}
		if now.Add(skew).Before(time.Unix(int64(nbf), 0)) {
			return errors.New("token is not valid yet")
		}
	}
	if iss, _ := c["iss"].(string); iss != p.issuer {
		return errors.New("wrong issuer")
	}
	if len(p.audiences) > 0 && !audienceMatches(c["aud"], p.audiences) {
		return errors.New("wrong audience")
	}
	return nil
}

func audienceMatches(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		for _, w := range want {
			if a == w {
				return true
			}
		}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && audienceMatches(s, want) {
				return true
			}
		}
	}
	return false
}
