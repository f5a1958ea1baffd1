package policy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// OIDCTokenEndpointAuth is how the gateway authenticates to the token endpoint.
type OIDCTokenEndpointAuth string

// The client authentication methods (agentgateway's TokenEndpointAuth).
const (
	// OIDCClientSecretBasic sends the client id and secret in an Authorization: Basic header.
	OIDCClientSecretBasic OIDCTokenEndpointAuth = "clientSecretBasic"
	// OIDCClientSecretPost sends them as client_id and client_secret form parameters.
	OIDCClientSecretPost OIDCTokenEndpointAuth = "clientSecretPost"
)

// OIDCConfig configures browser login with OpenID Connect (agentgateway's `oidc`).
//
// Provider metadata comes from discovery (the default: <Issuer>/.well-known/openid-configuration,
// or DiscoveryURL / DiscoveryJSON) or, in explicit mode, from AuthorizationEndpoint, TokenEndpoint
// and JWKS, which must then all be set.
type OIDCConfig struct {
	// Issuer must equal the discovery document's `issuer` and the ID token's `iss`.
	Issuer string
	// DiscoveryURL replaces <Issuer>/.well-known/openid-configuration; DiscoveryJSON is the document
	// itself. At most one of them.
	DiscoveryURL  string
	DiscoveryJSON []byte
	// AuthorizationEndpoint and TokenEndpoint select explicit mode (no discovery).
	AuthorizationEndpoint string
	TokenEndpoint         string
	// EndSessionEndpoint is where logout sends the browser (RP-initiated logout); discovery fills it
	// from `end_session_endpoint`. Empty: logout only clears the session cookie.
	EndSessionEndpoint string
	// TokenEndpointAuth is the client authentication method. Default: client_secret_basic, unless the
	// discovered `token_endpoint_auth_methods_supported` lists only client_secret_post.
	TokenEndpointAuth OIDCTokenEndpointAuth
	// JWKS verifies ID tokens; discovery mode defaults it to the document's `jwks_uri`.
	JWKS JWKS

	// ClientID is the OAuth client; ID tokens must name it in `aud`.
	ClientID string
	// ClientSecret authenticates ClientID at the token endpoint. It is never logged.
	ClientSecret string
	// RedirectURI is the absolute callback URL registered at the provider; the policy answers its path
	// itself. It should be on the host users browse, so that the cookies set there are sent back.
	RedirectURI string
	// Scopes are requested besides `openid`, which is always requested.
	Scopes []string

	// LogoutPath is answered with a logout (GET or POST): the session cookie is cleared and, when the
	// provider has an end_session_endpoint, the browser is sent there. Default: "logout" next to the
	// callback path (RedirectURI https://app/oauth/callback -> /oauth/logout).
	LogoutPath string
	// LocalLogout makes LogoutPath only clear the session: the browser is not sent on to the
	// provider's end_session_endpoint (agentgateway's oauth2 signOutPath).
	LocalLogout bool
	// NoLogoutPath turns the logout path off: every path but the callback is the backend's.
	NoLogoutPath bool
	// PostLogoutRedirectURI is passed to the end_session_endpoint (it must be registered there), or,
	// without one, where the browser goes after logout. Empty: a plain "logged out" page.
	PostLogoutRedirectURI string

	// PassAccessToken forwards the access token of the login to the backend as
	// "Authorization: Bearer <token>" (replacing any Authorization header the browser sent). The token
	// is kept in the session cookie, and a session ends when its access token expires.
	PassAccessToken bool
	// PassThroughPaths are path prefixes (whole segments: "/public" matches /public and /public/x,
	// not /publicity) the policy lets through untouched, without a session.
	PassThroughPaths []string
	// DenyRedirectPaths are path prefixes (matched as PassThroughPaths) answered 401 without a
	// session, never with a redirect to the provider: API paths a browser does not navigate to.
	DenyRedirectPaths []string
	// UnauthorizedUnlessHTML answers 401 with WWW-Authenticate: Bearer realm="<Issuer>" to every
	// request without a session whose Accept does not name text/html, in place of the fetch/XHR
	// check: only what asks for a page is sent to the provider (agentgateway's oauth2).
	UnauthorizedUnlessHTML bool
	// RefreshSessionTTL, when set, keeps the provider's refresh token in the session: the session
	// cookie then lives RefreshSessionTTL, and a request arriving when the access token has expired
	// (or expires within a few seconds) first refreshes it at the token endpoint (agentgateway's
	// oauth2 refreshableCookieMaxAgeSeconds). Logins without a refresh token are unaffected.
	RefreshSessionTTL time.Duration

	// CookieName names the session cookie. Default: "agw_oidc_" and a hash of Issuer and ClientID, so
	// two policies for different clients do not overwrite each other's sessions.
	CookieName string
	// CookieKey is the AES key (16, 24 or 32 bytes) sealing the cookies, used as is. Default: a key
	// derived (HKDF-SHA256) from SessionSecret, else from ClientSecret, bound to Issuer and ClientID:
	// sessions survive restarts and are shared by replicas configured alike, and rotating the secret
	// ends them. Policies for another issuer or client never accept each other's cookies.
	CookieKey []byte
	// SessionSecret is key material (config.session.key) the cookie key is derived from in place of
	// ClientSecret, so that sessions outlive a rotation of the client secret.
	SessionSecret []byte
	// SessionTTL is how long a login lasts (default 1h), independent of the ID token's own `exp`.
	SessionTTL time.Duration
	// LoginTTL bounds the time between leaving for the provider and coming back (default 10m).
	LoginTTL time.Duration

	// ClockSkew is the leeway for the ID token's exp and nbf (default 30s).
	ClockSkew time.Duration
	// HTTPClient fetches discovery and the JWKS and calls the token endpoint. Default: a client with a
	// 10s timeout whose transport the gateway's [agentgateway.Services] wrap.
	HTTPClient *http.Client
}

type oidcAuth struct {
	issuer       string
	clientID     string
	secret       string
	redirectURI  string
	callbackPath string
	logoutPath   string
	postLogout   string
	localLogout  bool
	passToken    bool
	htmlOnly     bool
	refreshTTL   time.Duration
	passThrough  []string
	denyRedirect []string
	scopes       []string
	wwwAuth      string // the 401 challenge (oidcChallenge)
	cookieName   string
	secure       bool
	codec        *cookieCodec
	sessionTTL   time.Duration
	loginTTL     time.Duration
	skew         time.Duration
	client       *http.Client
	outbound     *policyutil.Outbound
	now          func() time.Time // tests move the clock

	// Provider metadata: fixed in explicit mode, discovered on first use otherwise.
	discoveryURL  string
	discoveryJSON []byte
	explicit      oidcMetadata
	authStyle     OIDCTokenEndpointAuth
	jwks          JWKS

	provMu  sync.Mutex
	prov    *oidcProvider
	provErr error
	provAt  time.Time

	// Opened sessions, keyed by a hash of the cookie value: a browser sends the same cookie with every
	// request, and opening it (AES-GCM, then JSON) costs more than the rest of the policy. Only the
	// exact bytes that were authenticated can hit; expiry is checked on every hit. The claims maps are
	// shared by the requests of a session and treated as read-only.
	cacheMu sync.RWMutex
	cache   map[[32]byte]*oidcSession

	// Refreshes in flight or just done, keyed like cache: the requests of one expired session share
	// one call to the token endpoint.
	flightMu sync.Mutex
	flights  map[[32]byte]*oidcRefreshFlight
}

// oidcSessionCacheSize bounds the opened-session cache.
const oidcSessionCacheSize = 4096

// oidcMetadata is the part of an OpenID Provider's metadata (OpenID Connect Discovery 1.0 §3) the
// policy uses.
type oidcMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
}

// oidcProvider is the resolved provider: where to send the browser, how to exchange a code, how to
// verify an ID token.
type oidcProvider struct {
	oauth      *oauth2.Config
	verifier   *jwtAuth
	endSession string
}

// oidcDiscoveryRetry: after a failed discovery, requests get the same error for this long instead of
// each waiting on a provider that is down.
const oidcDiscoveryRetry = 5 * time.Second

// NewOIDC returns the OIDC browser login policy (agentgateway's `oidc`): the gateway is an OpenID
// Connect relying party that logs users in with the authorization code flow and keeps them logged in
// with an encrypted session cookie.
//
//   - A request without a valid session is sent to the provider's authorization endpoint (302) with
//     PKCE (S256), a state and a nonce; the login in progress is kept in a short-lived encrypted
//     cookie scoped to the callback path. Fetch/XHR requests (Sec-Fetch-Mode other than navigate,
//     X-Requested-With, or an Accept of JSON without HTML) get 401 instead: a script cannot follow a
//     redirect to a login page.
//   - The callback (RedirectURI's path) checks the state, exchanges the code (golang.org/x/oauth2),
//     verifies the ID token as [NewJWT] verifies tokens (signature against the provider's JWKS,
//     issuer, audience = ClientID, exp/nbf) plus its nonce and `azp`, sets the session cookie and
//     sends the browser back to the page it asked for. Only a same-origin path is ever returned to,
//     so the flow cannot be used as an open redirect. A provider's error= is answered with 401 (403
//     for access_denied) naming it.
//   - The session cookie is AES-GCM sealed (see OIDCConfig.CookieKey), HttpOnly, SameSite=Lax, Secure
//     when RedirectURI is https, at most 4000 bytes, and expires after SessionTTL. It is removed
//     from the request before it is forwarded.
//   - A valid session puts the ID token's claims in State.Identity.JWT (CEL: jwt.*), `sub` in
//     Identity.Subject and "oidc" in Identity.Method, for authorization and later policies.
//   - LogoutPath clears the session and, when the provider has an end_session_endpoint, continues to
//     it with id_token_hint (RP-initiated logout).
//   - PassAccessToken forwards the login's access token as Authorization: Bearer; PassThroughPaths
//     skip the policy; DenyRedirectPaths get 401 instead of a login redirect (agentgateway's oauth2).
//   - RefreshSessionTTL keeps the provider's refresh token in the session and refreshes an expired
//     access token at the token endpoint (once per session, however many requests carry it; a
//     rotated refresh token replaces the old one; a failed refresh ends the session).
//     UnauthorizedUnlessHTML answers 401 + WWW-Authenticate to requests that do not accept HTML.
//
// The route carrying the policy must match the callback and logout paths as well. Discovery happens
// on first use, so a provider that is down at startup does not keep the gateway from starting.
func NewOIDC(cfg OIDCConfig) (agentgateway.Policy, error) {
	o, err := newOIDC(cfg)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Phase is agentgateway.PhaseAuthn.
func (*oidcAuth) Phase() agentgateway.Phase { return agentgateway.PhaseAuthn }

// Provision routes discovery, JWKS and token requests through the gateway's transport hook.
func (o *oidcAuth) Provision(svc agentgateway.Services) error {
	if o.outbound != nil {
		o.outbound.Provision(svc)
	}
	return nil
}

func validHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func newOIDC(cfg OIDCConfig) (*oidcAuth, error) {
	if cfg.Issuer == "" {
		return nil, agentgateway.Errorf("issuer", "required")
	}
	if !validHTTPURL(cfg.Issuer) {
		return nil, agentgateway.Errorf("issuer", "invalid URL %q", cfg.Issuer)
	}
	if cfg.ClientID == "" {
		return nil, agentgateway.Errorf("clientId", "required")
	}
	if cfg.ClientSecret == "" {
		return nil, agentgateway.Errorf("clientSecret", "required")
	}
	if cfg.RedirectURI == "" {
		return nil, agentgateway.Errorf("redirectURI", "required")
	}
	ru, err := url.Parse(cfg.RedirectURI)
	if err != nil || (ru.Scheme != "http" && ru.Scheme != "https") || ru.Host == "" || ru.Fragment != "" {
		return nil, agentgateway.Errorf("redirectURI", "want an absolute http(s) URL without a fragment, got %q", cfg.RedirectURI)
	}
	o := &oidcAuth{
		issuer: cfg.Issuer, clientID: cfg.ClientID, secret: cfg.ClientSecret, redirectURI: cfg.RedirectURI,
		callbackPath: ru.Path, secure: ru.Scheme == "https", postLogout: cfg.PostLogoutRedirectURI,
		sessionTTL: cfg.SessionTTL, loginTTL: cfg.LoginTTL, skew: cfg.ClockSkew, client: cfg.HTTPClient,
		discoveryURL: cfg.DiscoveryURL, discoveryJSON: cfg.DiscoveryJSON, jwks: cfg.JWKS, now: time.Now,
		authStyle: cfg.TokenEndpointAuth, cache: map[[32]byte]*oidcSession{},
		localLogout: cfg.LocalLogout, passToken: cfg.PassAccessToken,
		htmlOnly: cfg.UnauthorizedUnlessHTML, refreshTTL: cfg.RefreshSessionTTL, flights: map[[32]byte]*oidcRefreshFlight{},
	}
	if cfg.RefreshSessionTTL < 0 {
		return nil, agentgateway.Errorf("refreshSessionTTL", "want a positive duration, got %s", cfg.RefreshSessionTTL)
	}
	for _, f := range []struct {
		name string
		in   []string
		out  *[]string
	}{{"passThroughPaths", cfg.PassThroughPaths, &o.passThrough}, {"denyRedirectPaths", cfg.DenyRedirectPaths, &o.denyRedirect}} {
		for i, p := range f.in {
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#") {
				return nil, agentgateway.Errorf(fmt.Sprintf("%s[%d]", f.name, i), "want an absolute path, got %q", p)
			}
			*f.out = append(*f.out, p)
		}
	}
	if o.callbackPath == "" {
		o.callbackPath = "/"
	}
	if o.sessionTTL <= 0 {
		o.sessionTTL = time.Hour
	}
	if o.loginTTL <= 0 {
		o.loginTTL = 10 * time.Minute
	}
	if o.skew <= 0 {
		o.skew = 30 * time.Second
	}
	o.scopes = []string{"openid"}
	for i, s := range cfg.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return nil, agentgateway.Errorf(fmt.Sprintf("scopes[%d]", i), "invalid scope %q", s)
		}
		if !slices.Contains(o.scopes, s) {
			o.scopes = append(o.scopes, s)
		}
	}
	o.wwwAuth = oidcChallenge(o.issuer, o.scopes)
	switch cfg.TokenEndpointAuth {
	case "", OIDCClientSecretBasic, OIDCClientSecretPost:
	default:
		return nil, agentgateway.Errorf("tokenEndpointAuth", "unknown method %q (want clientSecretBasic or clientSecretPost)", cfg.TokenEndpointAuth)
	}
	if cfg.PostLogoutRedirectURI != "" && !validHTTPURL(cfg.PostLogoutRedirectURI) && safeReturnPath(cfg.PostLogoutRedirectURI) != cfg.PostLogoutRedirectURI {
		return nil, agentgateway.Errorf("postLogoutRedirectURI", "want an absolute http(s) URL or a path, got %q", cfg.PostLogoutRedirectURI)
	}
	if cfg.EndSessionEndpoint != "" && !validHTTPURL(cfg.EndSessionEndpoint) {
		return nil, agentgateway.Errorf("endSessionEndpoint", "invalid URL %q", cfg.EndSessionEndpoint)
	}

	// Provider metadata: explicit or discovered.
	explicit := cfg.AuthorizationEndpoint != "" || cfg.TokenEndpoint != ""
	switch {
	case explicit && (cfg.DiscoveryURL != "" || len(cfg.DiscoveryJSON) > 0):
		return nil, agentgateway.Errorf("discovery", "set either discovery or authorizationEndpoint and tokenEndpoint, not both")
	case cfg.DiscoveryURL != "" && len(cfg.DiscoveryJSON) > 0:
		return nil, agentgateway.Errorf("discovery", "set exactly one of a document and a URL")
	case cfg.DiscoveryURL != "" && !validHTTPURL(cfg.DiscoveryURL):
		return nil, agentgateway.Errorf("discovery.url", "invalid URL %q", cfg.DiscoveryURL)
	}
	if len(cfg.JWKS.JSON) > 0 && cfg.JWKS.URL != "" {
		return nil, agentgateway.Errorf("jwks", "set exactly one of a key set and a URL")
	}
	if explicit {
		for _, f := range []struct{ name, v string }{{"authorizationEndpoint", cfg.AuthorizationEndpoint}, {"tokenEndpoint", cfg.TokenEndpoint}} {
			if f.v == "" {
				return nil, agentgateway.Errorf(f.name, "required in explicit mode (authorizationEndpoint or tokenEndpoint is set)")
			}
			if !validHTTPURL(f.v) {
				return nil, agentgateway.Errorf(f.name, "invalid URL %q", f.v)
			}
		}
		if len(cfg.JWKS.JSON) == 0 && cfg.JWKS.URL == "" {
			return nil, agentgateway.Errorf("jwks", "required in explicit mode (authorizationEndpoint or tokenEndpoint is set)")
		}
		o.explicit = oidcMetadata{
			Issuer: cfg.Issuer, AuthorizationEndpoint: cfg.AuthorizationEndpoint, TokenEndpoint: cfg.TokenEndpoint,
			EndSessionEndpoint: cfg.EndSessionEndpoint,
		}
	} else if o.discoveryURL == "" && len(o.discoveryJSON) == 0 {
		o.discoveryURL = strings.TrimRight(cfg.Issuer, "/") + "/.well-known/openid-configuration"
	}
	if o.client == nil {
		o.outbound = policyutil.NewOutbound(nil)
		o.client = &http.Client{Timeout: 10 * time.Second, Transport: o.outbound}
	}

	// Logout path and cookies.
	o.logoutPath = cfg.LogoutPath
	if cfg.NoLogoutPath {
		if cfg.LogoutPath != "" {
			return nil, agentgateway.Errorf("logoutPath", "set with NoLogoutPath")
		}
	} else {
		if o.logoutPath == "" {
			o.logoutPath = path.Join(path.Dir(o.callbackPath), "logout")
		}
		if !strings.HasPrefix(o.logoutPath, "/") {
			return nil, agentgateway.Errorf("logoutPath", "want an absolute path, got %q", o.logoutPath)
		}
		if o.logoutPath == o.callbackPath {
			return nil, agentgateway.Errorf("logoutPath", "must differ from the callback path %q", o.callbackPath)
		}
	}
	id := cfg.Issuer + "\x00" + cfg.ClientID
	o.cookieName = cfg.CookieName
	if o.cookieName == "" {
		sum := sha256.Sum256([]byte(id))
		o.cookieName = "agw_oidc_" + hex.EncodeToString(sum[:4])
	}
	if !validToken(o.cookieName) || strings.ContainsAny(o.cookieName, "()<>@,;:\\\"/[]?={}") {
		return nil, agentgateway.Errorf("cookieName", "invalid cookie name %q", o.cookieName)
	}
	key := cfg.CookieKey
	if key == nil {
		material := cfg.SessionSecret
		if len(material) == 0 {
			material = []byte(cfg.ClientSecret) // required above, so never a per-process random key
		}
		if key, err = deriveCookieKey(material, cfg.Issuer, cfg.ClientID); err != nil {
			return nil, agentgateway.Errorf("cookieKey", "%w", err)
		}
	}
	if o.codec, err = newCookieCodec(key); err != nil {
		return nil, agentgateway.Errorf("cookieKey", "%w", err)
	}
	switch {
	case explicit:
		// Nothing to discover: build the provider now, so configuration errors surface at startup.
		if o.prov, err = o.newProvider(o.explicit); err != nil {
			return nil, err
		}
	case len(o.discoveryJSON) > 0:
		meta, err := o.discover(context.Background()) // a document given inline: no network
		if err == nil {
			o.prov, err = o.newProvider(meta)
		}
		if err != nil {
			var fe *agentgateway.ConfigError
			if errors.As(err, &fe) {
				return nil, err
			}
			return nil, agentgateway.Errorf("discovery", "%w", err)
		}
	}
	return o, nil
}

// provider returns the resolved provider, discovering it on first use.
func (o *oidcAuth) provider(ctx context.Context) (*oidcProvider, error) {
	o.provMu.Lock()
	defer o.provMu.Unlock()
	if o.prov != nil {
		return o.prov, nil
	}
	if o.provErr != nil && o.now().Sub(o.provAt) < oidcDiscoveryRetry {
		return nil, o.provErr
	}
	meta, err := o.discover(ctx)
	if err == nil {
		var p *oidcProvider
		if p, err = o.newProvider(meta); err == nil {
			o.prov = p
			return p, nil
		}
	}
	o.provErr, o.provAt = fmt.Errorf("OIDC discovery for %s: %w", o.issuer, err), o.now()
	return nil, o.provErr
}

func (o *oidcAuth) discover(ctx context.Context) (oidcMetadata, error) {
	var meta oidcMetadata
	doc := o.discoveryJSON
	if doc == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.discoveryURL, nil)
		if err != nil {
			return meta, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := o.client.Do(req)
		if err != nil {
			return meta, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return meta, fmt.Errorf("GET %s: status %d", o.discoveryURL, resp.StatusCode)
		}
		if doc, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
			return meta, err
		}
	}
	if err := json.Unmarshal(doc, &meta); err != nil {
		return meta, fmt.Errorf("invalid discovery document: %w", err)
	}
	// OpenID Connect Discovery §4.3: the document must be the issuer's own.
	if meta.Issuer != o.issuer {
		return meta, fmt.Errorf("discovery document names issuer %q, want %q", meta.Issuer, o.issuer)
	}
	for _, f := range []struct{ name, v string }{{"authorization_endpoint", meta.AuthorizationEndpoint}, {"token_endpoint", meta.TokenEndpoint}} {
		if !validHTTPURL(f.v) {
			return meta, fmt.Errorf("discovery document: invalid %s %q", f.name, f.v)
		}
	}
	if meta.EndSessionEndpoint != "" && !validHTTPURL(meta.EndSessionEndpoint) {
		meta.EndSessionEndpoint = ""
	}
	return meta, nil
}

func (o *oidcAuth) newProvider(meta oidcMetadata) (*oidcProvider, error) {
	jwks := o.jwks
	if len(jwks.JSON) == 0 && jwks.URL == "" {
		if !validHTTPURL(meta.JWKSURI) {
			return nil, fmt.Errorf("discovery document: invalid jwks_uri %q", meta.JWKSURI)
		}
		jwks.URL = meta.JWKSURI
	}
	v, err := newJWT(JWTConfig{
		ClockSkew: o.skew, HTTPClient: o.client, CacheSize: -1, // every ID token is verified once
		Providers: []JWTProvider{{
			Issuer: o.issuer, Audiences: []string{o.clientID}, JWKS: jwks,
			RequiredClaims: []string{"iss", "sub", "aud", "exp", "iat"}, // OpenID Connect Core §2
		}},
	})
	if err != nil {
		var fe *agentgateway.ConfigError
		if errors.As(err, &fe) {
			fe.Path = strings.TrimPrefix(strings.TrimPrefix(fe.Path, "providers[0]"), ".")
		}
		return nil, err
	}
	style := oauth2.AuthStyleInHeader
	switch {
	case o.authStyle == OIDCClientSecretPost:
		style = oauth2.AuthStyleInParams
	case o.authStyle == "" && len(meta.TokenEndpointAuthMethodsSupported) > 0 &&
		!slices.Contains(meta.TokenEndpointAuthMethodsSupported, "client_secret_basic") &&
		slices.Contains(meta.TokenEndpointAuthMethodsSupported, "client_secret_post"):
		style = oauth2.AuthStyleInParams
	}
	end := meta.EndSessionEndpoint
	if o.explicit.EndSessionEndpoint != "" {
		end = o.explicit.EndSessionEndpoint
	}
	return &oidcProvider{
		oauth: &oauth2.Config{
			ClientID: o.clientID, ClientSecret: o.secret, RedirectURL: o.redirectURI, Scopes: o.scopes,
			// The style is fixed, never auto-detected: detection retries a failed exchange with the
			// other style, spending the single-use code twice.
			Endpoint: oauth2.Endpoint{AuthURL: meta.AuthorizationEndpoint, TokenURL: meta.TokenEndpoint, AuthStyle: style},
		},
		verifier:   v,
		endSession: end,
	}, nil
}

// Wrap answers the callback and logout paths and requires a session elsewhere.
func (o *oidcAuth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pathUnder(r.URL.Path, o.passThrough) {
			next.ServeHTTP(w, r)
			return
		}
		switch r.URL.Path {
		case o.callbackPath:
			o.callback(w, r)
			return
		case o.logoutPath:
			if o.logoutPath != "" {
				o.logout(w, r)
				return
			}
		}
		s, err := o.session(r)
		if err == nil && o.needsRefresh(s) {
			c, _ := r.Cookie(o.cookieName) // present: session read it
			res := o.refresh(r.Context(), c.Value, s)
			if res.err != nil {
				slog.WarnContext(r.Context(), "oidc: session refresh failed; logging in again", "issuer", o.issuer, "error", res.err)
				o.setCookie(w, o.cookieName, "", "/", -1)
				s, err = nil, res.err
			} else {
				o.setCookie(w, o.cookieName, res.cookie, "/", res.ttl)
				s = res.s
			}
		}
		if err == nil {
			st, r := stateOf(r)
			st.Identity.JWT = s.Claims
			st.Identity.Subject, _ = s.Claims["sub"].(string)
			st.Identity.Method = "oidc"
			o.stripCookies(r)
			if o.passToken && s.AccessToken != "" {
				r.Header.Set("Authorization", "Bearer "+s.AccessToken)
			}
			next.ServeHTTP(w, r)
			return
		}
		if o.htmlOnly && !strings.Contains(r.Header.Get("Accept"), "text/html") || pathUnder(r.URL.Path, o.denyRedirect) {
			if o.htmlOnly {
				w.Header().Set("WWW-Authenticate", o.wwwAuth)
			}
			agentgateway.WriteError(w, http.StatusUnauthorized, "authentication required: log in with a browser navigation first")
			return
		}
		if !o.htmlOnly && isScriptRequest(r) {
			agentgateway.WriteError(w, http.StatusUnauthorized, "authentication required: log in with a browser navigation first")
			return
		}
		o.startLogin(w, r)
	})
}

// session reads and checks the session cookie.
func (o *oidcAuth) session(r *http.Request) (*oidcSession, error) {
	c, err := r.Cookie(o.cookieName)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMissingCredential, err)
	}
	key := sha256.Sum256([]byte(c.Value))
	o.cacheMu.RLock()
	s := o.cache[key]
	o.cacheMu.RUnlock()
	if s == nil {
		s = &oidcSession{}
		if err := o.codec.open(o.cookieName, c.Value, s); err != nil {
			return nil, err
		}
		if s.Claims == nil {
			return nil, fmt.Errorf("%w: no claims", ErrSessionCookie)
		}
		o.cacheMu.Lock()
		if len(o.cache) >= oidcSessionCacheSize {
			now := o.now().Unix()
			for k, old := range o.cache { // drop expired entries, or arbitrary ones down to 3/4
				if now >= old.Exp || len(o.cache) >= oidcSessionCacheSize*3/4 {
					delete(o.cache, k)
				}
			}
		}
		o.cache[key] = s
		o.cacheMu.Unlock()
	}
	if o.now().Unix() >= s.Exp {
		return nil, fmt.Errorf("%w: expired", ErrSessionCookie)
	}
	return s, nil
}

// stripCookies removes the policy's own cookies from the request: they are the gateway's, not the
// backend's.
func (o *oidcAuth) stripCookies(r *http.Request) {
	lines := r.Header["Cookie"]
	if len(lines) == 1 && !strings.Contains(lines[0], ";") {
		delete(r.Header, "Cookie") // the session cookie alone, as usual: nothing else to keep
		return
	}
	cs := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cs {
		if c.Name != o.cookieName && !strings.HasPrefix(c.Name, o.cookieName+"_login_") {
			r.AddCookie(c)
		}
	}
}

// pathUnder reports whether p is one of prefixes or below one of them, segment-wise.
func pathUnder(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		pre = strings.TrimRight(pre, "/")
		if pre == "" || p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

// isScriptRequest reports whether a request comes from a script (fetch, XHR) rather than a browser
// navigation: a redirect to the provider's login page is useless to it.
func isScriptRequest(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") != "" {
		return true
	}
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return true
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// safeReturnPath keeps p only if it is a path on this origin ("/..."): "//host", "/\host", absolute
// URLs and control characters would let a crafted link send the user elsewhere after login.
func safeReturnPath(p string) string {
	if len(p) == 0 || len(p) > 2048 || p[0] != '/' {
		return "/"
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return "/"
	}
	return p
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// loginCookie names the cookie of the login identified by state: one per login in progress, so
// logins started in two tabs do not overwrite each other.
func (o *oidcAuth) loginCookie(state string) string {
	if len(state) > 16 {
		state = state[:16]
	}
	return o.cookieName + "_login_" + state
}

func (o *oidcAuth) setCookie(w http.ResponseWriter, name, value, path string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: path, HttpOnly: true, Secure: o.secure, SameSite: http.SameSiteLaxMode,
		MaxAge: int(maxAge / time.Second),
	}
	if maxAge < 0 {
		c.MaxAge = -1
		c.Value = ""
	}
	http.SetCookie(w, c)
}

// oidcUnavailable answers a request the provider's metadata is missing for.
func oidcUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	slog.WarnContext(r.Context(), "oidc: provider unavailable", "error", err)
	agentgateway.WriteError(w, http.StatusBadGateway, "identity provider unavailable")
}

func (o *oidcAuth) startLogin(w http.ResponseWriter, r *http.Request) {
	p, err := o.provider(r.Context())
	if err != nil {
		oidcUnavailable(w, r, err)
		return
	}
	l := oidcLogin{
		Exp: o.now().Add(o.loginTTL).Unix(), State: randomString(), Verifier: oauth2.GenerateVerifier(),
		Nonce: randomString(), Return: safeReturnPath(r.URL.RequestURI()),
	}
	if l.Return == o.callbackPath || strings.HasPrefix(l.Return, o.callbackPath+"?") {
		l.Return = "/"
	}
	name := o.loginCookie(l.State)
	v, err := o.codec.seal(name, l)
	if err != nil {
		l.Return = "/" // the only part of unbounded size
		if v, err = o.codec.seal(name, l); err != nil {
			agentgateway.WriteError(w, http.StatusInternalServerError, "cannot start login: "+err.Error())
			return
		}
	}
	o.setCookie(w, name, v, o.callbackPath, o.loginTTL)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.oauth.AuthCodeURL(l.State, oauth2.S256ChallengeOption(l.Verifier), oauth2.SetAuthURLParam("nonce", l.Nonce)), http.StatusFound)
}

// ErrOIDCCallback is wrapped by the errors of a callback that does not complete a login.
var ErrOIDCCallback = errors.New("oidc callback refused")

func (o *oidcAuth) callback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		agentgateway.WriteError(w, http.StatusMethodNotAllowed, "the OIDC callback takes GET")
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	var l oidcLogin
	var lerr error
	if state == "" {
		lerr = errors.New("missing state")
	} else if !isBase64URL(state) {
		lerr = errors.New("state mismatch") // not one the gateway generated
	} else {
		name := o.loginCookie(state)
		if c, err := r.Cookie(name); err != nil {
			lerr = errors.New("no login in progress for this state (expired, or started in another browser)")
		} else if err := o.codec.open(name, c.Value, &l); err != nil {
			lerr = err
		} else if subtle.ConstantTimeCompare([]byte(l.State), []byte(state)) != 1 {
			lerr = errors.New("state mismatch")
		} else if o.now().Unix() >= l.Exp {
			lerr = errors.New("login took too long")
		}
		o.setCookie(w, name, "", o.callbackPath, -1) // single use, whatever happens next
	}
	if e := q.Get("error"); e != "" {
		// The provider refused (RFC 6749 §4.1.2.1). Its words are shown, trimmed to printable ASCII.
		status := http.StatusUnauthorized
		if e == "access_denied" {
			status = http.StatusForbidden
		}
		msg := "login failed at the identity provider: " + sanitize(trim(e, 100))
		if d := q.Get("error_description"); d != "" {
			msg += ": " + sanitize(trim(d, 300))
		}
		agentgateway.WriteError(w, status, msg)
		return
	}
	if lerr != nil {
		agentgateway.WriteError(w, http.StatusBadRequest, fmt.Errorf("%w: %w", ErrOIDCCallback, lerr).Error())
		return
	}
	code := q.Get("code")
	if code == "" {
		agentgateway.WriteError(w, http.StatusBadRequest, "oidc callback refused: missing code")
		return
	}
	p, err := o.provider(r.Context())
	if err != nil {
		oidcUnavailable(w, r, err)
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, o.client)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(l.Verifier))
	if err != nil {
		slog.WarnContext(r.Context(), "oidc: code exchange failed", "issuer", o.issuer, "error", err)
		agentgateway.WriteError(w, http.StatusBadGateway, "login failed: the identity provider refused the code exchange")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		agentgateway.WriteError(w, http.StatusBadGateway, "login failed: the identity provider returned no ID token")
		return
	}
	claims, err := o.verifyIDToken(r.Context(), p, raw, l.Nonce)
	if err != nil {
		slog.WarnContext(r.Context(), "oidc: ID token refused", "issuer", o.issuer, "error", err)
		agentgateway.WriteError(w, http.StatusUnauthorized, "login failed: "+err.Error())
		return
	}
	_, v, ttl, err := o.issueSession(claims, raw, tok)
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadGateway, "login failed: the ID token's claims do not fit in a cookie: "+err.Error())
		return
	}
	o.setCookie(w, o.cookieName, v, "/", ttl)
	http.Redirect(w, r, safeReturnPath(l.Return), http.StatusSeeOther)
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// verifyIDToken checks an ID token (OpenID Connect Core §3.1.3.7): signature, issuer, audience and
// times as any JWT, then the nonce of this login and the authorized party.
func (o *oidcAuth) verifyIDToken(ctx context.Context, p *oidcProvider, raw, nonce string) (map[string]any, error) {
	claims, err := p.verifier.verifySignature(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("invalid ID token: %w", err)
	}
	if n, _ := claims["nonce"].(string); subtle.ConstantTimeCompare([]byte(n), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("invalid ID token: %w: nonce mismatch", ErrInvalidCredential)
	}
	if azp, ok := claims["azp"]; ok && azp != o.clientID {
		return nil, fmt.Errorf("invalid ID token: %w: azp is not this client", ErrInvalidCredential)
	}
	if aud, ok := claims["aud"].([]any); ok && len(aud) > 1 && claims["azp"] == nil {
		return nil, fmt.Errorf("invalid ID token: %w: several audiences and no azp", ErrInvalidCredential)
	}
	return claims, nil
}

func (o *oidcAuth) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		agentgateway.WriteError(w, http.StatusMethodNotAllowed, "logout takes GET or POST")
		return
	}
	s, _ := o.session(r)
	o.setCookie(w, o.cookieName, "", "/", -1)
	w.Header().Set("Cache-Control", "no-store")
	if p, err := o.provider(r.Context()); err == nil && p.endSession != "" && !o.localLogout {
		u, err := url.Parse(p.endSession)
		if err == nil {
			q := u.Query()
			q.Set("client_id", o.clientID)
			if s != nil && s.IDToken != "" {
				q.Set("id_token_hint", s.IDToken)
			}
			if o.postLogout != "" {
				q.Set("post_logout_redirect_uri", o.postLogout)
			}
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
	}
	if o.postLogout != "" {
		http.Redirect(w, r, o.postLogout, http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "logged out\n")
}
