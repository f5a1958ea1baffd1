package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// oauth2Policies is the route policy `oauth2` of agentgateway's published examples (newer than the
// schema): browser login with OAuth2/OIDC, served by policy.NewOIDC.
var oauth2Policies = []PolicySection{
	Policy("oauth2", buildOAuth2),
}

// oauth2Spec is agentgateway's OAuth2Policy as its local config spells it.
type oauth2Spec struct {
	Issuer                         string        `json:"issuer"`
	ClientID                       string        `json:"clientId"`
	ClientSecret                   *fileOrInline `json:"clientSecret"`
	RedirectURI                    string        `json:"redirectUri"`
	AutoDetectRedirectURI          *bool         `json:"autoDetectRedirectUri"`
	TrustedProxyCIDRs              []string      `json:"trustedProxyCidrs"`
	Scopes                         []string      `json:"scopes"`
	CookieName                     string        `json:"cookieName"`
	RefreshableCookieMaxAgeSeconds *int64        `json:"refreshableCookieMaxAgeSeconds"`
	PassAccessToken                *bool         `json:"passAccessToken"`
	SignOutPath                    *string       `json:"signOutPath"`
	PassThroughMatchers            []string      `json:"passThroughMatchers"`
	DenyRedirectMatchers           []string      `json:"denyRedirectMatchers"`
}

// oauth2DefaultScopes are requested when `scopes` is empty, as agentgateway does.
var oauth2DefaultScopes = []string{"openid", "profile", "email"}

// oauth2MaxRefreshableAge is agentgateway's bound on refreshableCookieMaxAgeSeconds (30 days).
const oauth2MaxRefreshableAge = 30 * 24 * 60 * 60

// oauth2DefaultRefreshableAge is agentgateway's default refreshableCookieMaxAgeSeconds (7 days).
const oauth2DefaultRefreshableAge = 7 * 24 * time.Hour

// oauth2Fields renames policy.OIDCConfig's error paths to the oauth2 keys they come from.
var oauth2Fields = map[string]string{
	"redirectURI": "redirectUri", "logoutPath": "signOutPath",
	"passThroughPaths": "passThroughMatchers", "denyRedirectPaths": "denyRedirectMatchers",
}

func buildOAuth2(bc *BuildContext, s oauth2Spec) (agentgateway.Policy, error) {
	if s.AutoDetectRedirectURI != nil && *s.AutoDetectRedirectURI {
		// The callback URL would come from each request's Host (and, from trusted proxies,
		// X-Forwarded-*); the OIDC policy registers one fixed URL with the provider.
		return nil, bc.Errorf("autoDetectRedirectUri", "not supported: set redirectUri")
	}
	if len(s.TrustedProxyCIDRs) > 0 {
		return nil, bc.Errorf("trustedProxyCidrs", "not supported: it only serves autoDetectRedirectUri; set redirectUri")
	}
	if s.RedirectURI == "" {
		return nil, bc.Errorf("redirectUri", "required")
	}
	if a := s.RefreshableCookieMaxAgeSeconds; a != nil && (*a <= 0 || *a > oauth2MaxRefreshableAge) {
		return nil, bc.Errorf("refreshableCookieMaxAgeSeconds", "want 1 to %d, got %d", oauth2MaxRefreshableAge, *a)
	}
	cfg := policy.OIDCConfig{
		Issuer: s.Issuer, ClientID: s.ClientID, RedirectURI: s.RedirectURI, CookieName: s.CookieName,
		PassAccessToken:  s.PassAccessToken != nil && *s.PassAccessToken,
		PassThroughPaths: s.PassThroughMatchers, DenyRedirectPaths: s.DenyRedirectMatchers,
		// agentgateway's signOutPath only clears the session; without one there is no logout path.
		LocalLogout: true, NoLogoutPath: s.SignOutPath == nil,
		// agentgateway answers 401 with WWW-Authenticate to whatever does not ask for HTML, and keeps
		// sessions with a refresh token alive this long, refreshing their access tokens.
		UnauthorizedUnlessHTML: true, RefreshSessionTTL: oauth2DefaultRefreshableAge,
		// config.session.key, when set, seals the sessions in place of the client secret, so that
		// replicas and restarts share them either way.
		SessionSecret: bc.MCPSessionKey,
	}
	if a := s.RefreshableCookieMaxAgeSeconds; a != nil {
		cfg.RefreshSessionTTL = time.Duration(*a) * time.Second
	}
	if s.SignOutPath != nil {
		if *s.SignOutPath == "" {
			return nil, bc.Errorf("signOutPath", "want an absolute path, got \"\"")
		}
		cfg.LogoutPath = *s.SignOutPath
	}
	// Entries may hold several scopes separated by spaces ("openid email"), as agentgateway splits them.
	for i, sc := range s.Scopes {
		f := strings.Fields(sc)
		if len(f) == 0 {
			return nil, bc.Errorf(fmt.Sprintf("scopes[%d]", i), "empty scope")
		}
		for _, one := range f {
			if strings.ContainsAny(one, "\"\\") {
				return nil, bc.Errorf(fmt.Sprintf("scopes[%d]", i), "invalid scope %q", one)
			}
		}
		cfg.Scopes = append(cfg.Scopes, f...)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = oauth2DefaultScopes
	}
	if s.ClientSecret != nil {
		b, err := s.ClientSecret.load(bc, "clientSecret")
		if err != nil {
			return nil, err
		}
		cfg.ClientSecret = strings.TrimRight(string(b), "\r\n") // a file's final newline is not part of it
	}
	p, err := policy.NewOIDC(cfg)
	if err != nil {
		var ce *agentgateway.ConfigError
		if errors.As(err, &ce) {
			for from, to := range oauth2Fields {
				if ce.Path == from || strings.HasPrefix(ce.Path, from+"[") || strings.HasPrefix(ce.Path, from+".") {
					ce.Path = to + strings.TrimPrefix(ce.Path, from)
				}
			}
		}
		return nil, bc.Wrap(err)
	}
	return p, nil
}
