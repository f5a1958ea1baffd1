package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy/internal/policyutil"
)

// MCPProvider names an identity provider whose departures from the MCP authorization spec
// [NewMCPAuthentication] smooths over (agentgateway's McpIDP). The zero value is a spec-compliant
// authorization server: clients are sent to it directly.
type MCPProvider string

// The providers agentgateway adapts.
const (
	MCPProviderNone      MCPProvider = ""
	MCPProviderAuth0     MCPProvider = "auth0"
	MCPProviderKeycloak  MCPProvider = "keycloak"
	MCPProviderOkta      MCPProvider = "okta"
	MCPProviderDescope   MCPProvider = "descope"
	MCPProviderAuthentik MCPProvider = "authentik"
	MCPProviderEntra     MCPProvider = "entra"
)

// The well-known paths the policy answers itself (RFC 9728 and RFC 8414), before authentication.
const (
	ProtectedResourcePath   = "/.well-known/oauth-protected-resource"
	AuthorizationServerPath = "/.well-known/oauth-authorization-server"
)

// MCPAuthConfig configures MCP authentication (agentgateway's `mcpAuthentication`).
type MCPAuthConfig struct {
	// Mode is strict (the zero value, and the schema's default), optional or permissive. Only strict
	// answers a request without a token with the 401 that starts an MCP client's OAuth flow.
	Mode Mode
	// Location is where the token is read; nil means the Authorization header with "Bearer ".
	Location *Location

	// Issuer must equal the token's `iss`; it is also where authorization-server metadata is read.
	Issuer string
	// Audiences: when not empty, the token's `aud` must contain one of them. Auth0 and Okta get the
	// first as the `audience` parameter of their authorization endpoint.
	Audiences []string
	// JWKS is the issuer's key set. When empty it is derived from Issuer and Provider (Auth0, Okta:
	// <issuer>/.well-known/jwks.json; Keycloak: <issuer>/protocol/openid-connect/certs; authentik:
	// <issuer>/jwks/; Descope and Entra: their key endpoints for the issuer's project or tenant).
	JWKS JWKS
	// RequiredClaims as in [JWTProvider.RequiredClaims] (nil means ["exp"]).
	RequiredClaims []string
	// RequiredScopes must all appear in the token's `scope` (space-separated) or `scp` claim; a token
	// without one is refused with 403 and error="insufficient_scope" (RFC 6750 §3.1). Every challenge
	// lists them in its scope parameter, which MCP clients read to choose the scopes they ask for.
	RequiredScopes []string

	// Provider adapts a vendor authorization server: the gateway then serves the authorization-server
	// metadata itself (adapted from the vendor's), and lists itself as the authorization server.
	Provider MCPProvider
	// ResourceMetadata holds fields of the protected-resource metadata document (RFC 9728 §2), in
	// camelCase (as agentgateway's config writes them) or snake_case: resource, scopesSupported,
	// bearerMethodsSupported, resourceDocumentation, ... `resource` defaults to the URL of the MCP
	// endpoint being asked about; `authorization_servers` to Issuer (or the gateway, with a Provider).
	ResourceMetadata map[string]any
	// ClientID is a pre-registered OAuth client: registration requests (RFC 7591) are then answered by
	// the gateway with this client instead of reaching the provider. authentik requires it.
	ClientID string
	// ClientSecret is the secret of ClientID, added by the gateway to the token requests it proxies for
	// Entra (authorization_code and refresh_token grants of ClientID only).
	ClientSecret string

	// ClockSkew is the leeway for exp and nbf (default 30s).
	ClockSkew time.Duration
	// HTTPClient fetches the JWKS and the provider's metadata, and carries proxied registration and
	// token requests. Default: a client with a 10s timeout whose transport the gateway's
	// [agentgateway.Services] wrap.
	HTTPClient *http.Client
}

type mcpAuth struct {
	jwt       *jwtAuth
	mode      Mode
	issuer    string
	audiences []string
	scopes    []string
	provider  MCPProvider
	extra     map[string]any // resource metadata, snake_case keys
	resource  string         // configured `resource`, or ""
	clientID  string
	secret    string
	client    *http.Client
	outbound  *policyutil.Outbound

	metaMu  sync.Mutex
	metaRaw []byte
	metaAt  time.Time
	metaErr error // the last failed fetch, repeated for mcpMetadataRetry
}

// mcpMetadataTTL bounds how long fetched authorization-server metadata is reused; after a failed
// fetch, requests get the same error for mcpMetadataRetry instead of each waiting on a provider that
// is down.
const (
	mcpMetadataTTL   = 5 * time.Minute
	mcpMetadataRetry = 5 * time.Second
)

// NewMCPAuthentication returns the MCP authentication policy: the MCP authorization spec as
// agentgateway implements it, with the gateway as the OAuth resource server.
//
//   - GET <ProtectedResourcePath>[/<mcp path>] serves the protected-resource metadata (RFC 9728) of
//     the MCP endpoint at <mcp path>, with CORS open to any origin (browser clients discover it).
//   - A request without a valid token gets 401 with `WWW-Authenticate: Bearer
//     resource_metadata="<origin><ProtectedResourcePath><path>"` (plus error="invalid_token" for a bad
//     one, RFC 6750), which is where an MCP client starts its OAuth flow; a token lacking
//     RequiredScopes gets 403 with error="insufficient_scope".
//   - Tokens are verified as [NewJWT] verifies them (signature against the JWKS, issuer, audience,
//     exp/nbf); the claims go to State.Identity.JWT, so mcpAuthorization rules read them as jwt.*.
//   - With a Provider, GET <AuthorizationServerPath>/<mcp path> serves the provider's metadata
//     adapted for MCP clients (see [MCPProvider]), and registration (and, for Entra, authorize and
//     token) requests under it are answered or proxied; without one, the issuer's metadata is passed
//     through unchanged.
//
// The route must match the well-known paths as well as the MCP path (agentgateway's examples list
// them as matches of the same route). The origin in URLs is the request's (X-Forwarded-Proto and
// X-Forwarded-Host count from trusted proxies only) unless ResourceMetadata names a `resource`.
func NewMCPAuthentication(cfg MCPAuthConfig) (agentgateway.Policy, error) {
	a, err := newMCPAuth(cfg)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Phase is agentgateway.PhaseAuthn.
func (*mcpAuth) Phase() agentgateway.Phase { return agentgateway.PhaseAuthn }

// Provision routes the policy's outbound calls through the gateway's transport hook.
func (a *mcpAuth) Provision(svc agentgateway.Services) error {
	if a.outbound != nil {
		a.outbound.Provision(svc)
	}
	return nil
}

func newMCPAuth(cfg MCPAuthConfig) (*mcpAuth, error) {
	if cfg.Issuer == "" {
		return nil, agentgateway.Errorf("issuer", "required")
	}
	iu, err := url.Parse(cfg.Issuer)
	if err != nil || (iu.Scheme != "http" && iu.Scheme != "https") || iu.Host == "" {
		return nil, agentgateway.Errorf("issuer", "invalid URL %q", cfg.Issuer)
	}
	switch cfg.Provider {
	case MCPProviderNone, MCPProviderAuth0, MCPProviderKeycloak, MCPProviderOkta, MCPProviderDescope, MCPProviderEntra:
	case MCPProviderAuthentik:
		if cfg.ClientID == "" {
			return nil, agentgateway.Errorf("clientId", "required with provider authentik (it has no dynamic client registration)")
		}
	default:
		return nil, agentgateway.Errorf("provider", "unknown provider %q", cfg.Provider)
	}
	for i, s := range cfg.RequiredScopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return nil, agentgateway.Errorf(fmt.Sprintf("requiredScopes[%d]", i), "invalid scope %q", s)
		}
	}
	a := &mcpAuth{
		mode: cfg.Mode, issuer: cfg.Issuer, audiences: cfg.Audiences, scopes: cfg.RequiredScopes,
		provider: cfg.Provider, clientID: cfg.ClientID, secret: cfg.ClientSecret, client: cfg.HTTPClient,
		extra: map[string]any{},
	}
	for k, v := range cfg.ResourceMetadata {
		a.extra[snakeCase(k)] = v
	}
	if r, ok := a.extra["resource"]; ok {
		s, isStr := r.(string)
		u, err := url.Parse(s)
		if !isStr || err != nil || u.Scheme == "" || u.Host == "" {
			return nil, agentgateway.Errorf("resourceMetadata.resource", "must be an absolute URL")
		}
		a.resource = s
	}
	if a.client == nil {
		a.outbound = policyutil.NewOutbound(nil)
		a.client = &http.Client{Timeout: 10 * time.Second, Transport: a.outbound}
	}
	jwks := cfg.JWKS
	if len(jwks.JSON) == 0 && jwks.URL == "" {
		u, err := derivedJWKS(cfg.Provider, cfg.Issuer)
		if err != nil {
			return nil, agentgateway.Errorf("jwks", "%w", err)
		}
		jwks.URL = u
	}
	j, err := newJWT(JWTConfig{
		Mode: cfg.Mode, Location: cfg.Location, ClockSkew: cfg.ClockSkew, HTTPClient: a.client,
		Providers: []JWTProvider{{Issuer: cfg.Issuer, Audiences: cfg.Audiences, JWKS: jwks, RequiredClaims: cfg.RequiredClaims}},
	})
	if err != nil {
		// The single provider's fields are this policy's own.
		var fe *agentgateway.ConfigError
		if errors.As(err, &fe) {
			fe.Path = strings.TrimPrefix(strings.TrimPrefix(fe.Path, "providers[0]"), ".")
		}
		return nil, err
	}
	a.jwt = j
	return a, nil
}

// derivedJWKS is the provider's JWKS URL for issuer.
func derivedJWKS(p MCPProvider, issuer string) (string, error) {
	base := strings.TrimRight(issuer, "/")
	switch p {
	case MCPProviderAuth0, MCPProviderOkta:
		return base + "/.well-known/jwks.json", nil
	case MCPProviderKeycloak:
		return base + "/protocol/openid-connect/certs", nil
	case MCPProviderAuthentik:
		return base + "/jwks/", nil
	case MCPProviderDescope:
		u, _ := url.Parse(issuer)
		seg := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(seg) < 4 || seg[0] != "v1" || seg[1] != "apps" || seg[2] != "agentic" {
			return "", fmt.Errorf("cannot derive the Descope key set from issuer %q (want .../v1/apps/agentic/<project>/<server>): set jwks", issuer)
		}
		return u.Scheme + "://" + u.Host + "/" + seg[3] + "/.well-known/jwks.json", nil
	case MCPProviderEntra:
		tenant, err := entraTenant(issuer)
		if err != nil {
			return "", err
		}
		return "https://login.microsoftonline.com/" + tenant + "/discovery/v2.0/keys", nil
	}
	return "", errors.New("required without a provider")
}

// entraTenant reads the tenant from a v2 (login.microsoftonline.com/<tenant>/v2.0) or v1
// (sts.windows.net/<tenant>/) issuer.
func entraTenant(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err == nil {
		seg := strings.Split(strings.Trim(u.Path, "/"), "/")
		if seg[0] != "" && (u.Host == "sts.windows.net" || (len(seg) == 2 && seg[1] == "v2.0")) {
			return seg[0], nil
		}
	}
	return "", fmt.Errorf("cannot read the Entra tenant from issuer %q (want https://login.microsoftonline.com/<tenant>/v2.0 or https://sts.windows.net/<tenant>/)", issuer)
}

// Wrap answers the well-known endpoints and authenticates every other request before next.
func (a *mcpAuth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case wellKnown(p, ProtectedResourcePath):
			a.serveResourceMetadata(w, r)
		case wellKnown(p, AuthorizationServerPath):
			a.serveAuthorizationServer(w, r)
		default:
			a.authenticate(w, r, next)
		}
	})
}

// wellKnown reports whether path is prefix or below it.
func wellKnown(path, prefix string) bool {
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

func (a *mcpAuth) authenticate(w http.ResponseWriter, r *http.Request, next http.Handler) {
	raw, present := a.jwt.loc.extract(r)
	if !present {
		if a.mode == ModeStrict {
			a.challenge(w, r, http.StatusUnauthorized, "", "", "missing bearer token")
			return
		}
		next.ServeHTTP(w, r)
		return
	}
	claims, err := a.jwt.verify(r.Context(), raw)
	if err != nil {
		if a.mode == ModePermissive {
			next.ServeHTTP(w, r)
			return
		}
		a.challenge(w, r, http.StatusUnauthorized, "invalid_token", sanitize(err.Error()), "invalid token: "+err.Error())
		return
	}
	if missing := missingScopes(claims, a.scopes); len(missing) > 0 && a.mode != ModePermissive {
		a.challenge(w, r, http.StatusForbidden, "insufficient_scope", "", "token lacks scope "+strings.Join(missing, " "))
		return
	}
	st, r := stateOf(r)
	st.Identity.JWT = claims
	if sub, ok := claims["sub"].(string); ok {
		st.Identity.Subject = sub
	}
	st.Identity.Method = "jwt"
	a.jwt.loc.remove(r)
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, raw)))
}

// challenge answers status with the RFC 9728 §5.1 challenge pointing at this endpoint's metadata.
func (a *mcpAuth) challenge(w http.ResponseWriter, r *http.Request, status int, errCode, desc, msg string) {
	v := `Bearer resource_metadata="` + sanitize(a.origin(r)+ProtectedResourcePath+r.URL.EscapedPath()) + `"`
	if errCode != "" {
		v += `, error="` + errCode + `"`
	}
	if desc != "" {
		v += `, error_description="` + desc + `"`
	}
	if len(a.scopes) > 0 {
		// The scopes to ask for (RFC 6750 §3; the MCP spec's scope selection reads it first).
		v += `, scope="` + strings.Join(a.scopes, " ") + `"`
	}
	h := w.Header()
	h.Set("WWW-Authenticate", v)
	// A browser client reads the challenge only if CORS exposes it. The cors policy adds
	// Allow-Origin when it writes the header, and replaces this with its exposeHeaders when it has
	// some (list WWW-Authenticate there too).
	if r.Header.Get("Origin") != "" {
		h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
	}
	if errCode == "" {
		msg = fmt.Errorf("%w: %s", ErrMissingCredential, msg).Error()
	}
	agentgateway.WriteError(w, status, msg)
}

// missingScopes returns the required scopes the token's `scope` or `scp` claim does not grant.
func missingScopes(claims map[string]any, required []string) []string {
	if len(required) == 0 {
		return nil
	}
	granted := map[string]bool{}
	add := func(v any) {
		switch s := v.(type) {
		case string:
			for _, f := range strings.Fields(s) {
				granted[f] = true
			}
		case []any:
			for _, x := range s {
				if str, ok := x.(string); ok {
					granted[str] = true
				}
			}
		}
	}
	add(claims["scope"])
	add(claims["scp"])
	var missing []string
	for _, s := range required {
		if !granted[s] {
			missing = append(missing, s)
		}
	}
	return missing
}

// origin is scheme://host of the resource: the configured resource's, or the request's.
func (a *mcpAuth) origin(r *http.Request) string {
	if a.resource != "" {
		u, _ := url.Parse(a.resource)
		return u.Scheme + "://" + u.Host
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	st, _ := stateOf(r)
	if st.TrustedProxy {
		if p := strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]); p == "http" || p == "https" {
			scheme = p
		}
		if h := strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Host"), ",")[0]); h != "" {
			host = h
		}
	}
	return scheme + "://" + host
}

// wellKnownCORS lets browser clients read a discovery or registration answer from any origin: it
// carries no credential of the caller's.
func wellKnownCORS(h http.Header, methods string) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", "authorization, content-type, mcp-protocol-version")
}

// preflightOr answers an OPTIONS preflight, or 405 for a method not in allowed; it reports whether
// the request was answered.
func preflightOr(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	methods := strings.Join(append(allowed, http.MethodOptions), ", ")
	wellKnownCORS(w.Header(), methods)
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	for _, m := range allowed {
		if r.Method == m {
			return false
		}
	}
	w.Header().Set("Allow", methods)
	agentgateway.WriteError(w, http.StatusMethodNotAllowed, "method not allowed")
	return true
}

func (a *mcpAuth) serveResourceMetadata(w http.ResponseWriter, r *http.Request) {
	if preflightOr(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	resource := a.origin(r) + pathAfter(r, ProtectedResourcePath)
	as := a.issuer
	if a.provider != MCPProviderNone {
		as = resource // the gateway is the clients' authorization server, at the resource's path
	}
	doc := map[string]any{
		"resource":              resource,
		"authorization_servers": []string{as},
		"mcp_protocol_version":  "2025-06-18",
		"resource_type":         "mcp-server",
	}
	if len(a.scopes) > 0 {
		doc["scopes_supported"] = a.scopes
	}
	for k, v := range a.extra {
		doc[k] = v
	}
	writeJSON(w, http.StatusOK, doc)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		agentgateway.WriteError(w, http.StatusInternalServerError, "encoding metadata: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// pathAfter is the request's path after prefix, escaped (the caller checked that the decoded path
// starts with prefix; an escaped form such as %2F in place of its slash is not taken literally).
func pathAfter(r *http.Request, prefix string) string {
	if ep := r.URL.EscapedPath(); strings.HasPrefix(ep, prefix+"/") || ep == prefix {
		return ep[len(prefix):]
	}
	return (&url.URL{Path: r.URL.Path[len(prefix):]}).EscapedPath()
}

func (a *mcpAuth) serveAuthorizationServer(w http.ResponseWriter, r *http.Request) {
	p := AuthorizationServerPath + pathAfter(r, AuthorizationServerPath)
	switch {
	case strings.HasSuffix(p, "/client-registration"):
		if preflightOr(w, r, http.MethodPost) {
			return
		}
		a.register(w, r)
	case a.provider == MCPProviderEntra && strings.HasSuffix(p, "/authorize"):
		if preflightOr(w, r, http.MethodGet) {
			return
		}
		a.entraAuthorize(w, r)
	case a.provider == MCPProviderEntra && strings.HasSuffix(p, "/token"):
		if preflightOr(w, r, http.MethodPost) {
			return
		}
		a.entraToken(w, r)
	default:
		if preflightOr(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		doc, err := a.metadata(r.Context())
		if err != nil {
			agentgateway.WriteError(w, http.StatusBadGateway, "authorization server metadata: "+err.Error())
			return
		}
		a.adapt(doc, a.origin(r)+p)
		writeJSON(w, http.StatusOK, doc)
	}
}

// metadataURLs are where the provider publishes its metadata, in the order tried: RFC 8414 for
// spec-compliant servers and Auth0, OIDC discovery for those that only have that.
func (a *mcpAuth) metadataURLs() []string {
	base := strings.TrimRight(a.issuer, "/")
	oidc := base + "/.well-known/openid-configuration"
	switch a.provider {
	case MCPProviderKeycloak, MCPProviderOkta, MCPProviderDescope, MCPProviderAuthentik:
		return []string{oidc}
	case MCPProviderEntra:
		tenant, _ := entraTenant(a.issuer) // validated by derivedJWKS, or the URL is only asked of
		if tenant == "" {
			return []string{oidc}
		}
		return []string{"https://login.microsoftonline.com/" + tenant + "/v2.0/.well-known/openid-configuration"}
	}
	u, _ := url.Parse(a.issuer)
	rfc8414 := u.Scheme + "://" + u.Host + AuthorizationServerPath + strings.TrimRight(u.Path, "/")
	return []string{rfc8414, oidc}
}

// metadata returns a fresh copy of the provider's metadata document, fetched at most every
// mcpMetadataTTL.
func (a *mcpAuth) metadata(ctx context.Context) (map[string]any, error) {
	a.metaMu.Lock()
	defer a.metaMu.Unlock()
	if a.metaRaw == nil || time.Since(a.metaAt) > mcpMetadataTTL {
		if a.metaErr != nil && time.Since(a.metaAt) < mcpMetadataRetry {
			return nil, a.metaErr
		}
		var errs []error
		a.metaErr = nil
		for _, u := range a.metadataURLs() {
			b, err := a.fetchMetadata(ctx, u)
			if err == nil {
				a.metaRaw, a.metaAt = b, time.Now()
				break
			}
			errs = append(errs, err)
		}
		if len(errs) == len(a.metadataURLs()) {
			// Keep serving a stale document rather than none; without one, remember the failure.
			a.metaErr, a.metaAt = errors.Join(errs...), time.Now()
			if a.metaRaw == nil {
				return nil, a.metaErr
			}
			a.metaAt = a.metaAt.Add(mcpMetadataRetry - mcpMetadataTTL) // try again after the retry delay
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(a.metaRaw, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// ErrUpstreamStatus is wrapped when the provider answers a metadata request with a non-200 status.
var ErrUpstreamStatus = errors.New("unexpected upstream status")

func (a *mcpAuth) fetchMetadata(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %w %d", u, ErrUpstreamStatus, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", u, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("fetching %s: not a JSON object: %w", u, err)
	}
	return b, nil
}

// adapt rewrites the provider's metadata for MCP clients; self is the URL it is served at.
func (a *mcpAuth) adapt(doc map[string]any, self string) {
	if a.provider == MCPProviderNone {
		return // passed through as the issuer publishes it
	}
	// RFC 8414 §3.3: the issuer must be the URL the metadata was fetched from, and strict clients
	// (the go-sdk among them) check it. The provider's `iss` in authorization responses (RFC 9207)
	// would then not match it, so that feature is not advertised.
	if i := strings.Index(self, AuthorizationServerPath); i >= 0 {
		doc["issuer"] = self[:i] + self[i+len(AuthorizationServerPath):]
	}
	delete(doc, "authorization_response_iss_parameter_supported")
	withAudience := func() {
		ae, ok := doc["authorization_endpoint"].(string)
		if !ok || len(a.audiences) == 0 {
			return
		}
		sep := "?"
		if strings.Contains(ae, "?") {
			sep = "&"
		}
		// No RFC 8707 resource indicators: ask for the audience the gateway checks.
		doc["authorization_endpoint"] = ae + sep + "audience=" + url.QueryEscape(a.audiences[0])
	}
	registration := func(always bool) {
		if _, ok := doc["registration_endpoint"]; ok || always || a.clientID != "" {
			doc["registration_endpoint"] = self + "/client-registration"
		}
	}
	switch a.provider {
	case MCPProviderAuth0:
		withAudience()
	case MCPProviderOkta:
		withAudience()
		registration(false) // Okta answers registration without CORS headers
	case MCPProviderKeycloak, MCPProviderDescope:
		registration(false) // no CORS on Keycloak's registration; Descope's needs a management key
	case MCPProviderAuthentik:
		registration(true) // no registration at all: the gateway answers with ClientID
	case MCPProviderEntra:
		// Entra's v2.0 endpoints refuse the `resource` parameter MCP clients must send: the gateway
		// serves both and strips it.
		doc["authorization_endpoint"] = self + "/authorize"
		doc["token_endpoint"] = self + "/token"
		if a.clientID != "" {
			doc["registration_endpoint"] = self + "/client-registration"
		}
	}
	if m, _ := doc["code_challenge_methods_supported"].([]any); len(m) == 0 {
		doc["code_challenge_methods_supported"] = []string{"S256"} // they all do PKCE; not all say so
	}
}

// register answers a dynamic client registration (RFC 7591): with ClientID when one is configured,
// else by forwarding it to the provider's registration endpoint.
func (a *mcpAuth) register(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		agentgateway.WriteError(w, http.StatusBadRequest, "invalid registration request body")
		return
	}
	if a.clientID != "" {
		var req struct {
			RedirectURIs []string `json:"redirect_uris"`
		}
		_ = json.Unmarshal(body, &req) // only the redirect URIs are echoed; anything else is ignored
		if req.RedirectURIs == nil {
			req.RedirectURIs = []string{}
		}
		writeJSON(w, http.StatusCreated, map[string]any{
			"client_id":                  a.clientID,
			"client_id_issued_at":        0,
			"token_endpoint_auth_method": "none",
			"grant_types":                []string{"authorization_code", "refresh_token"},
			"response_types":             []string{"code"},
			"redirect_uris":              req.RedirectURIs,
		})
		return
	}
	target, err := a.registrationURL()
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	out.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	out.Header.Set("Accept", "application/json")
	if v := r.Header.Get("Authorization"); v != "" {
		out.Header.Set("Authorization", v) // Okta's and Descope's registration need a token of the caller's
	}
	a.relay(w, out)
}

func (a *mcpAuth) registrationURL() (string, error) {
	u, _ := url.Parse(a.issuer)
	switch a.provider {
	case MCPProviderOkta:
		return u.Scheme + "://" + u.Host + "/oauth2/v1/clients", nil
	case MCPProviderDescope:
		seg := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(seg) < 5 || seg[0] != "v1" || seg[1] != "apps" || seg[2] != "agentic" {
			return "", errors.New("Descope registration needs an agentic issuer URL; set clientId")
		}
		return u.Scheme + "://" + u.Host + "/v1/mgmt/mcp/client/" + seg[3] + "/" + seg[4] + "/register", nil
	case MCPProviderKeycloak, MCPProviderNone, MCPProviderAuth0:
		return strings.TrimRight(a.issuer, "/") + "/clients-registrations/openid-connect", nil
	}
	return "", fmt.Errorf("provider %s has no dynamic client registration; set clientId", a.provider)
}

// relay sends out and copies the provider's answer (status, content type, body) with open CORS.
func (a *mcpAuth) relay(w http.ResponseWriter, out *http.Request) {
	resp, err := a.client.Do(out)
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadGateway, "authorization server: "+err.Error())
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadGateway, "authorization server: "+err.Error())
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(b)
}

// entraAuthorize redirects to Entra's authorization endpoint without the `resource` parameter.
func (a *mcpAuth) entraAuthorize(w http.ResponseWriter, r *http.Request) {
	doc, err := a.metadata(r.Context())
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadGateway, "authorization server metadata: "+err.Error())
		return
	}
	ae, _ := doc["authorization_endpoint"].(string)
	u, err := url.Parse(ae)
	if ae == "" || err != nil {
		agentgateway.WriteError(w, http.StatusBadGateway, "authorization server metadata has no authorization_endpoint")
		return
	}
	q := u.Query()
	for k, vs := range r.URL.Query() {
		if k != "resource" {
			q[k] = vs
		}
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// entraToken forwards a token request to Entra without `resource`, adding ClientSecret for ClientID's
// authorization_code and refresh_token grants (Web-platform registrations are confidential clients).
func (a *mcpAuth) entraToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		agentgateway.WriteError(w, http.StatusBadRequest, "invalid token request: "+err.Error())
		return
	}
	doc, err := a.metadata(r.Context())
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadGateway, "authorization server metadata: "+err.Error())
		return
	}
	te, _ := doc["token_endpoint"].(string)
	if te == "" {
		agentgateway.WriteError(w, http.StatusBadGateway, "authorization server metadata has no token_endpoint")
		return
	}
	form := r.PostForm
	form.Del("resource")
	if gt := form.Get("grant_type"); a.secret != "" && form.Get("client_id") == a.clientID &&
		(gt == "authorization_code" || gt == "refresh_token") {
		form.Set("client_secret", a.secret)
	}
	out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, te, strings.NewReader(form.Encode()))
	if err != nil {
		agentgateway.WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	out.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	out.Header.Set("Accept", "application/json")
	a.relay(w, out)
}

// snakeCase turns a camelCase metadata key into the RFC's snake_case (resourcePolicyUri →
// resource_policy_uri, resourceURI → resource_uri); snake_case keys are kept.
func snakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			prevLower := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			acronymEnd := i > 0 && unicode.IsUpper(rs[i-1]) && i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || acronymEnd {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
