package config

import (
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// oidcPolicies is the route policy `oidc` (policy.NewOIDC).
var oidcPolicies = []PolicySection{
	Policy("oidc", buildOIDC),
}

// oidcSpec is the schema's LocalOidcConfig. clientSecret also takes {file: path} (a secret kept out
// of the file; $VAR expansion covers the environment).
type oidcSpec struct {
	Issuer                string              `json:"issuer"`
	Discovery             *fileInlineOrRemote `json:"discovery"`
	AuthorizationEndpoint *string             `json:"authorizationEndpoint"`
	TokenEndpoint         *string             `json:"tokenEndpoint"`
	TokenEndpointAuth     *string             `json:"tokenEndpointAuth"`
	JWKS                  *fileInlineOrRemote `json:"jwks"`
	ClientID              string              `json:"clientId"`
	ClientSecret          *fileOrInline       `json:"clientSecret"`
	RedirectURI           string              `json:"redirectURI"`
	Scopes                []string            `json:"scopes"`
}

func buildOIDC(bc *BuildContext, s oidcSpec) (agentgateway.Policy, error) {
	cfg := policy.OIDCConfig{Issuer: s.Issuer, ClientID: s.ClientID, RedirectURI: s.RedirectURI, Scopes: s.Scopes}
	// config.session.key, when set, seals the sessions in place of the client secret (policy.OIDCConfig.SessionSecret).
	cfg.SessionSecret = bc.MCPSessionKey
	if s.ClientSecret != nil {
		b, err := s.ClientSecret.load(bc, "clientSecret")
		if err != nil {
			return nil, err
		}
		cfg.ClientSecret = strings.TrimRight(string(b), "\r\n") // a file's final newline is not part of it
	}
	if s.AuthorizationEndpoint != nil {
		cfg.AuthorizationEndpoint = *s.AuthorizationEndpoint
	}
	if s.TokenEndpoint != nil {
		cfg.TokenEndpoint = *s.TokenEndpoint
	}
	if s.TokenEndpointAuth != nil {
		cfg.TokenEndpointAuth = policy.OIDCTokenEndpointAuth(*s.TokenEndpointAuth)
	}
	if d := s.Discovery; d != nil {
		switch {
		case d.URL != "":
			cfg.DiscoveryURL = d.URL
		case d.File != "":
			b, err := bc.ReadFile("discovery.file", d.File)
			if err != nil {
				return nil, err
			}
			cfg.DiscoveryJSON = b
		default:
			cfg.DiscoveryJSON = []byte(d.Inline)
		}
	}
	if s.JWKS != nil {
		var err error
		if cfg.JWKS, err = s.JWKS.jwks(bc, "jwks"); err != nil {
			return nil, err
		}
	}
	return wrapPolicy(bc)(policy.NewOIDC(cfg))
}
