package policy

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// OAuth 2.0 grant, token type and assertion type URNs (RFC 8693, RFC 7523, ID-JAG draft).
const (
	GrantTokenExchange    = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer        = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeIDJAG        = "urn:ietf:params:oauth:token-type:id-jag"
	ClientAssertionJWT    = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	defaultTokenCacheSize = 8192
	defaultTokenTTL       = 300 * time.Second
)

// ClientAuth is how the gateway authenticates to a token endpoint: Method "clientSecretBasic"
// (default; RFC 6749 §2.3.1), "clientSecretPost" or "privateKeyJwt" (an RFC 7523 client assertion
// signed with SigningKey).
type ClientAuth struct {
	Method       string
	ClientID     string
	ClientSecret string
	// privateKeyJwt: the key, its algorithm (default RS256), kid, and the assertion's "aud".
	SigningKey        KeySource
	Alg               string
	KID               string
	AssertionAudience string
	// Certificate (PEM chain, leaf first) is announced in the assertion's header as CertificateHeader:
	// "x5c" or "x5t#S256".
	Certificate       []byte
	CertificateHeader string
}

// TokenSource is where a token is read from the incoming request, and its RFC 8693 type URN.
type TokenSource struct {
	// Location defaults to Authorization: Bearer; an Expression is allowed.
	Location  *Location
	TokenType string
	// EnforceMayAct, on an ActorToken, requires the subject token's RFC 8693 may_act claim to name
	// the actor before anything is exchanged (see checkMayAct); otherwise the caller gets 403.
	EnforceMayAct bool
}

// TokenCache bounds the cache of exchanged tokens: MaxEntries (nil: 8192; 0 disables) and DefaultTTL
// (used when the token endpoint omits expires_in; default 300s).
type TokenCache struct {
	MaxEntries *int
	DefaultTTL time.Duration
}

// OAuthTokenExchange obtains the backend's access token from a token endpoint for each caller
// (agentgateway's `backendAuth.oauthTokenExchange`): an RFC 8693 token exchange of the caller's token
// (GrantType "tokenExchange", the default) or an RFC 7523 JWT bearer grant with the caller's token as
// the assertion ("jwtBearer"). Tokens are cached per caller until they expire.
type OAuthTokenExchange struct {
	// TokenURL is the token endpoint.
	TokenURL string
	// GrantType is "tokenExchange" (default) or "jwtBearer".
	GrantType string
	// SubjectToken defaults to the Authorization Bearer token, of type access_token.
	SubjectToken *TokenSource
	// ActorToken is sent as actor_token (delegation, token exchange only); its Location is required.
	ActorToken *TokenSource
	// Audiences, Resources and Scopes are the audience, resource and (space-joined) scope parameters.
	Audiences []string
	Resources []string
	Scopes    []string
	// RequestedTokenType is sent when set.
	RequestedTokenType string
	// ClientAuth authenticates the gateway; nil sends no client authentication.
	ClientAuth *ClientAuth
	// AdditionalParams are more form parameters, values from CEL expressions on the request.
	AdditionalParams map[string]string
	// Location is where the exchanged token goes (default Authorization: Bearer).
	Location *Location
	Cache    TokenCache
	// HTTPClient calls the token endpoint (default: one of its own whose transport the gateway's
	// outbound hook wraps).
	HTTPClient *http.Client
	// Transport is the default client's base transport (e.g. the token endpoint backend's TLS);
	// nil is a clone of http.DefaultTransport. Ignored with HTTPClient.
	Transport http.RoundTripper
	// Now overrides the clock (tests).
	Now func() time.Time
}

// CrossAppAccess obtains the backend's access token by Cross App Access (agentgateway's
// `backendAuth.crossAppAccess`, the Identity Assertion JWT Authorization Grant): the caller's ID token
// is exchanged at the identity provider for an ID-JAG (RFC 8693, requested_token_type id-jag,
// audience the resource authorization server), which the resource authorization server exchanges for
// an access token (RFC 7523 jwt-bearer grant).
type CrossAppAccess struct {
	IdentityProvider            TokenEndpoint
	ResourceAuthorizationServer TokenEndpoint
	// Audience identifies the resource authorization server (the ID-JAG's audience).
	Audience  string
	Resources []string
	// Scopes are requested with the ID-JAG; AccessTokenScopes with the access token (nil inherits
	// Scopes, empty sends none).
	Scopes            []string
	AccessTokenScopes []string
	// SubjectToken defaults to the Authorization Bearer token, of type id_token.
	SubjectToken *TokenSource
	Location     *Location
	Cache        TokenCache
	HTTPClient   *http.Client
	Now          func() time.Time
}

// TokenEndpoint is a token endpoint and the client authentication it wants.
type TokenEndpoint struct {
	TokenURL   string
	ClientAuth ClientAuth
}

// ErrTokenEndpoint is wrapped by errors from a token endpoint (refused grants, bad answers).
var ErrTokenEndpoint = errors.New("token endpoint error")

// tokenClient calls one token endpoint with its client authentication.
type tokenClient struct {
	url      string
	auth     *ClientAuth
	assertor *jwtSigner
	client   *http.Client
	now      func() time.Time
	callout  policyutil.Callout
}

func newTokenClient(field, tokenURL string, auth *ClientAuth, client *http.Client, now func() time.Time) (*tokenClient, error) {
	u, err := url.Parse(tokenURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, agentgateway.Errorf(joinPath(field, "host"), "want a token endpoint URL, got %q", tokenURL)
	}
	c := &tokenClient{url: tokenURL, client: client, now: now}
	if auth != nil {
		a := *auth
		switch a.Method {
		case "", "clientSecretBasic", "clientSecretPost":
			if a.ClientID == "" {
				return nil, agentgateway.Errorf(joinPath(field, "clientAuth.clientId"), "required")
			}
			if a.Method == "" {
				a.Method = "clientSecretBasic"
			}
		case "privateKeyJwt":
			if a.ClientID == "" {
				return nil, agentgateway.Errorf(joinPath(field, "clientAuth.clientId"), "required")
			}
			if a.AssertionAudience == "" {
				return nil, agentgateway.Errorf(joinPath(field, "clientAuth.assertionAudience"), "required")
			}
			s, err := newJWTSigner(joinPath(field, "clientAuth"), a.SigningKey, a.Alg, a.KID)
			if err != nil {
				return nil, err
			}
			if len(a.Certificate) > 0 {
				if a.CertificateHeader == "" {
					return nil, agentgateway.Errorf(joinPath(field, "clientAuth.certificateHeader"), "required with certificate")
				}
				if s.extra, err = certHeaders(a.Certificate, a.CertificateHeader); err != nil {
					return nil, agentgateway.Errorf(joinPath(field, "clientAuth.certificate"), "%w", err)
				}
			}
			c.assertor = s
		default:
			return nil, agentgateway.Errorf(joinPath(field, "clientAuth.method"), "want clientSecretBasic, clientSecretPost or privateKeyJwt, got %q", a.Method)
		}
		c.auth = &a
	}
	return c, nil
}

// tokenResponse is RFC 6749 §5.1 / RFC 8693 §2.2.1.
type tokenResponse struct {
	AccessToken     string          `json:"access_token"`
	IssuedTokenType string          `json:"issued_token_type"`
	TokenType       string          `json:"token_type"`
	ExpiresIn       json.RawMessage `json:"expires_in"`
	Error           string          `json:"error"`
	ErrorDesc       string          `json:"error_description"`
}

// refusedError is a token endpoint's 4xx refusal of the grant (the caller's token is not good enough).
type refusedError struct {
	status int
	code   string
	desc   string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%v: status %d: %s %s", ErrTokenEndpoint, e.status, e.code, e.desc)
}

func (e *refusedError) Unwrap() error { return ErrTokenEndpoint }

// maxTokenResponse bounds a token endpoint's answer.
const maxTokenResponse = 64 << 10

// exchange posts form (plus client authentication) and returns the token and its lifetime (0 when
// the endpoint does not say).
func (c *tokenClient) exchange(ctx context.Context, form url.Values) (string, time.Duration, error) {
	if c.auth != nil {
		switch c.auth.Method {
		case "clientSecretPost":
			form.Set("client_id", c.auth.ClientID)
			if c.auth.ClientSecret != "" {
				form.Set("client_secret", c.auth.ClientSecret)
			}
		case "privateKeyJwt":
			now := c.now()
			a, err := c.assertor.sign(jwt.MapClaims{
				"iss": c.auth.ClientID, "sub": c.auth.ClientID, "aud": c.auth.AssertionAudience,
				"jti": randomID(), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			})
			if err != nil {
				return "", 0, err
			}
			form.Set("client_id", c.auth.ClientID)
			form.Set("client_assertion_type", ClientAssertionJWT)
			form.Set("client_assertion", a)
		}
	}
	cctx, span := c.callout.Start(ctx, "oauth token "+form.Get("grant_type"))
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, c.url, strings.NewReader(form.Encode()))
	if err != nil {
		policyutil.EndSpan(span, err)
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.auth != nil && c.auth.Method == "clientSecretBasic" {
		// RFC 6749 §2.3.1: both are form-urlencoded before the Basic encoding.
		req.SetBasicAuth(url.QueryEscape(c.auth.ClientID), url.QueryEscape(c.auth.ClientSecret))
	}
	for k, v := range policyutil.Outgoing(cctx) {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	policyutil.EndSpan(span, err)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrTokenEndpoint, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return "", 0, fmt.Errorf("%w: reading the answer: %w", ErrTokenEndpoint, err)
	}
	if len(b) > maxTokenResponse {
		return "", 0, fmt.Errorf("%w: answer larger than %d bytes", ErrTokenEndpoint, maxTokenResponse)
	}
	return parseTokenResponse(resp.StatusCode, resp.Header.Get("Content-Type"), b)
}

// parseTokenResponse reads a token endpoint's answer: the token and its lifetime (0 when not said),
// a refusedError for a 4xx, an ErrTokenEndpoint error for anything else unusable.
func parseTokenResponse(status int, contentType string, b []byte) (string, time.Duration, error) {
	var tr tokenResponse
	jsonErr := json.Unmarshal(b, &tr)
	if status != http.StatusOK {
		if status >= 400 && status < 500 {
			return "", 0, &refusedError{status: status, code: tr.Error, desc: tr.ErrorDesc}
		}
		return "", 0, fmt.Errorf("%w: status %d", ErrTokenEndpoint, status)
	}
	if ct, _, _ := mime.ParseMediaType(contentType); jsonErr != nil || (ct != "" && ct != "application/json") {
		return "", 0, fmt.Errorf("%w: not a JSON token response (%s)", ErrTokenEndpoint, ct)
	}
	if tr.AccessToken == "" {
		return "", 0, fmt.Errorf("%w: no access_token in the answer", ErrTokenEndpoint)
	}
	return tr.AccessToken, expiresIn(tr.ExpiresIn), nil
}

// expiresIn reads expires_in, a number of seconds (some servers send it as a string).
func expiresIn(raw json.RawMessage) time.Duration {
	if len(raw) == 0 {
		return 0
	}
	var n float64
	if json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		if _, err := fmt.Sscan(s, &n); err != nil {
			return 0
		}
	}
	if n <= 0 || n > 366*24*3600 {
		return 0
	}
	return time.Duration(n * float64(time.Second))
}

// tokenCache maps a caller's credentials to the token issued for them, until it expires. It is
// bounded: when full, expired entries go first, then arbitrary ones.
type tokenCache struct {
	mu   sync.Mutex
	max  int
	ttl  time.Duration
	now  func() time.Time
	m    map[[32]byte]cachedToken
	inFl map[[32]byte]*flight
}

type cachedToken struct {
	token   string
	expires time.Time
}

// flight is one exchange in progress, shared by the requests that need the same token.
type flight struct {
	done  chan struct{}
	token string
	err   error
}

// expirySkew is taken off a token's lifetime, so it is not sent as it expires.
const expirySkew = 5 * time.Second

func newTokenCache(field string, c TokenCache, now func() time.Time) (*tokenCache, error) {
	tc := &tokenCache{max: defaultTokenCacheSize, ttl: c.DefaultTTL, now: now, m: map[[32]byte]cachedToken{}, inFl: map[[32]byte]*flight{}}
	if c.MaxEntries != nil {
		if *c.MaxEntries < 0 {
			return nil, agentgateway.Errorf(joinPath(field, "cache.maxEntries"), "must not be negative")
		}
		tc.max = *c.MaxEntries
	}
	if tc.ttl < 0 {
		return nil, agentgateway.Errorf(joinPath(field, "cache.defaultTtl"), "must not be negative")
	}
	if tc.ttl == 0 {
		tc.ttl = defaultTokenTTL
	}
	return tc, nil
}

// get returns the cached token for key, or runs fetch once for all concurrent callers with that key.
func (c *tokenCache) get(ctx context.Context, key [32]byte, fetch func(context.Context) (string, time.Duration, error)) (string, error) {
	c.mu.Lock()
	if e, ok := c.m[key]; ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		return e.token, nil
	}
	if f, ok := c.inFl[key]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.token, f.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	c.inFl[key] = f
	c.mu.Unlock()

	// The exchange outlives a caller that gives up, since others may wait for it; the token
	// endpoint client's own timeout bounds it.
	tok, ttl, err := fetch(context.WithoutCancel(ctx))
	f.token, f.err = tok, err
	c.mu.Lock()
	delete(c.inFl, key)
	if err == nil && c.max > 0 {
		if ttl == 0 {
			ttl = c.ttl
		}
		if ttl > 2*expirySkew {
			ttl -= expirySkew
		}
		c.evict()
		c.m[key] = cachedToken{token: tok, expires: c.now().Add(ttl)}
	}
	c.mu.Unlock()
	close(f.done)
	return tok, err
}

// evict makes room for one entry (mu held).
func (c *tokenCache) evict() {
	if len(c.m) < c.max {
		return
	}
	now := c.now()
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) < c.max {
			break
		}
		delete(c.m, k)
	}
}

// Len reports the number of cached tokens (tests).
func (c *tokenCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func cacheKey(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// defaultHTTPClient is a token endpoint client that follows no redirects (a token request must not
// be replayed elsewhere) and whose transport the gateway's outbound hook wraps.
func defaultHTTPClient(base http.RoundTripper) (*http.Client, *policyutil.Outbound) {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	out := policyutil.NewOutbound(base)
	return &http.Client{Transport: out, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, out
}

// tokenAuth is the compiled oauthTokenExchange or crossAppAccess policy.
type tokenAuth struct {
	subject  *locator
	subjType string
	actor    *locator
	actType  string
	mayAct   bool // ActorToken.EnforceMayAct
	place    *locator
	cache    *tokenCache
	params   []namedExpr
	fetch    func(ctx context.Context, subject, actor string, extra url.Values) (string, time.Duration, error)
	clients  []*tokenClient
	outbound *policyutil.Outbound
}

type namedExpr struct {
	name string
	p    *cel.Program
}

// Provision implements [agentgateway.Provisioner]: token requests run in client spans of the
// gateway's tracer, through its outbound hook.
func (t *tokenAuth) Provision(svc agentgateway.Services) error {
	for _, c := range t.clients {
		c.callout.Provision(svc)
	}
	if t.outbound != nil {
		t.outbound.Provision(svc)
	}
	return nil
}

// Close releases idle connections to the token endpoints.
func (t *tokenAuth) Close() error {
	if t.outbound != nil {
		t.outbound.CloseIdleConnections()
	}
	return nil
}

// Phase is agentgateway.PhaseBackend.
func (*tokenAuth) Phase() agentgateway.Phase { return agentgateway.PhaseBackend }

// Wrap exchanges the caller's token and writes the result into the backend request.
func (t *tokenAuth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		subject, _ := t.subject.extract(r)
		if subject == "" {
			w.Header().Set("WWW-Authenticate", bearerChallenge)
			agentgateway.WriteError(w, http.StatusUnauthorized, "a token to exchange is required")
			return
		}
		var actor string
		if t.actor != nil {
			if actor, _ = t.actor.extract(r); actor == "" {
				agentgateway.WriteError(w, http.StatusUnauthorized, "an actor token is required")
				return
			}
			if t.mayAct {
				if err := checkMayAct(subject, actor); err != nil {
					if st := agentgateway.StateFrom(r.Context()); st != nil {
						st.Err = fmt.Errorf("backendAuth: %w", err)
					}
					agentgateway.WriteError(w, http.StatusForbidden, "the actor may not act for the subject")
					return
				}
			}
		}
		var extra url.Values
		keyParts := []string{subject, actor}
		if len(t.params) > 0 {
			extra = url.Values{}
			act := cel.NewActivation(r, nil)
			for _, p := range t.params {
				v, err := p.p.EvalString(r.Context(), act)
				if err != nil {
					agentgateway.WriteError(w, http.StatusBadRequest, "evaluating token request parameter "+p.name)
					return
				}
				extra.Set(p.name, v)
				keyParts = append(keyParts, p.name, v)
			}
		}
		tok, err := t.cache.get(r.Context(), cacheKey(keyParts...), func(ctx context.Context) (string, time.Duration, error) {
			return t.fetch(ctx, subject, actor, extra)
		})
		if err != nil {
			if st := agentgateway.StateFrom(r.Context()); st != nil {
				st.Err = fmt.Errorf("backendAuth: %w", err)
			}
			var re *refusedError
			if errors.As(err, &re) {
				w.Header().Set("WWW-Authenticate", bearerChallenge)
				agentgateway.WriteError(w, http.StatusUnauthorized, "token exchange refused")
				return
			}
			agentgateway.WriteError(w, http.StatusBadGateway, "backend credentials unavailable")
			return
		}
		t.place.place(r, tok)
		next.ServeHTTP(w, r.WithContext(agentgateway.WithBackendCredentials(r.Context(), func(out *http.Request) { t.place.place(out, tok) })))
	})
}

func compileSubject(field string, src *TokenSource, defType string) (*locator, string, error) {
	var loc *Location
	typ := defType
	if src != nil {
		loc = src.Location
		if src.TokenType != "" {
			typ = src.TokenType
		}
	}
	l, err := loc.compile(field+".source", BearerLocation(), false)
	return l, typ, err
}

func newOAuthTokenExchange(spec *OAuthTokenExchange) (*tokenAuth, error) {
	const field = "oauthTokenExchange"
	now := spec.Now
	if now == nil {
		now = time.Now
	}
	t := &tokenAuth{}
	client := spec.HTTPClient
	if client == nil {
		client, t.outbound = defaultHTTPClient(spec.Transport)
	}
	tc, err := newTokenClient(field, spec.TokenURL, spec.ClientAuth, client, now)
	if err != nil {
		return nil, err
	}
	t.clients = []*tokenClient{tc}
	grant := GrantTokenExchange
	switch spec.GrantType {
	case "", "tokenExchange":
	case "jwtBearer":
		grant = GrantJWTBearer
		if spec.ActorToken != nil {
			return nil, agentgateway.Errorf(field+".actorToken", "only with the tokenExchange grant")
		}
	default:
		return nil, agentgateway.Errorf(field+".grantType", "want tokenExchange or jwtBearer, got %q", spec.GrantType)
	}
	if t.subject, t.subjType, err = compileSubject(field+".subjectToken", spec.SubjectToken, TokenTypeAccessToken); err != nil {
		return nil, err
	}
	if a := spec.ActorToken; a != nil {
		if a.Location == nil {
			return nil, agentgateway.Errorf(field+".actorToken.source", "required")
		}
		if t.actor, t.actType, err = compileSubject(field+".actorToken", a, TokenTypeAccessToken); err != nil {
			return nil, err
		}
		t.mayAct = a.EnforceMayAct
	}
	if t.place, err = spec.Location.compile(field+".authorizationLocation", BearerLocation(), true); err != nil {
		return nil, err
	}
	if t.cache, err = newTokenCache(field, spec.Cache, now); err != nil {
		return nil, err
	}
	for _, name := range policyutil.SortedKeys(spec.AdditionalParams) {
		p, err := cel.Compile(spec.AdditionalParams[name], nil)
		if err != nil {
			return nil, agentgateway.Errorf(field+".additionalParams."+name, "%w", err)
		}
		t.params = append(t.params, namedExpr{name, p})
	}
	requested := spec.RequestedTokenType
	if requested == "" && googleSTS(spec.Audiences) {
		// Google's STS requires requested_token_type (and accepts only access_token), where RFC
		// 8693 makes it optional; its workload identity audiences say the endpoint is Google's.
		requested = TokenTypeAccessToken
	}
	t.fetch = func(ctx context.Context, subject, actor string, extra url.Values) (string, time.Duration, error) {
		form := url.Values{"grant_type": {grant}}
		if grant == GrantTokenExchange {
			form.Set("subject_token", subject)
			form.Set("subject_token_type", t.subjType)
			if actor != "" {
				form.Set("actor_token", actor)
				form.Set("actor_token_type", t.actType)
			}
			if requested != "" {
				form.Set("requested_token_type", requested)
			}
		} else {
			form.Set("assertion", subject)
		}
		addList(form, "audience", spec.Audiences)
		addList(form, "resource", spec.Resources)
		if len(spec.Scopes) > 0 {
			form.Set("scope", strings.Join(spec.Scopes, " "))
		}
		for k, vs := range extra {
			form[k] = append(form[k], vs...)
		}
		return tc.exchange(ctx, form)
	}
	return t, nil
}

// googleSTS reports whether an audience is a Google workload identity pool provider (or workforce
// pool), which only Google's Security Token Service accepts.
func googleSTS(audiences []string) bool {
	for _, a := range audiences {
		if strings.HasPrefix(a, "//iam.googleapis.com/") {
			return true
		}
	}
	return false
}

func addList(form url.Values, name string, vs []string) {
	for _, v := range vs {
		form.Add(name, v)
	}
}

func newCrossAppAccess(spec *CrossAppAccess) (*tokenAuth, error) {
	const field = "crossAppAccess"
	now := spec.Now
	if now == nil {
		now = time.Now
	}
	if spec.Audience == "" {
		return nil, agentgateway.Errorf(field+".audience", "required")
	}
	t := &tokenAuth{}
	client := spec.HTTPClient
	if client == nil {
		client, t.outbound = defaultHTTPClient(nil)
	}
	idp, err := newTokenClient(field+".identityProvider", spec.IdentityProvider.TokenURL, &spec.IdentityProvider.ClientAuth, client, now)
	if err != nil {
		return nil, err
	}
	ras, err := newTokenClient(field+".resourceAuthorizationServer", spec.ResourceAuthorizationServer.TokenURL, &spec.ResourceAuthorizationServer.ClientAuth, client, now)
	if err != nil {
		return nil, err
	}
	t.clients = []*tokenClient{idp, ras}
	if t.subject, t.subjType, err = compileSubject(field+".subjectToken", spec.SubjectToken, TokenTypeIDToken); err != nil {
		return nil, err
	}
	if t.place, err = spec.Location.compile(field+".location", BearerLocation(), true); err != nil {
		return nil, err
	}
	if t.cache, err = newTokenCache(field, spec.Cache, now); err != nil {
		return nil, err
	}
	atScopes := spec.AccessTokenScopes
	if atScopes == nil {
		atScopes = spec.Scopes
	}
	t.fetch = func(ctx context.Context, subject, _ string, _ url.Values) (string, time.Duration, error) {
		form := url.Values{
			"grant_type":           {GrantTokenExchange},
			"requested_token_type": {TokenTypeIDJAG},
			"audience":             {spec.Audience},
			"subject_token":        {subject},
			"subject_token_type":   {t.subjType},
		}
		addList(form, "resource", spec.Resources)
		if len(spec.Scopes) > 0 {
			form.Set("scope", strings.Join(spec.Scopes, " "))
		}
		jag, _, err := idp.exchange(ctx, form)
		if err != nil {
			return "", 0, fmt.Errorf("identity provider: %w", err)
		}
		form = url.Values{"grant_type": {GrantJWTBearer}, "assertion": {jag}}
		if len(atScopes) > 0 {
			form.Set("scope", strings.Join(atScopes, " "))
		}
		tok, ttl, err := ras.exchange(ctx, form)
		if err != nil {
			return "", 0, fmt.Errorf("resource authorization server: %w", err)
		}
		return tok, ttl, nil
	}
	return t, nil
}
