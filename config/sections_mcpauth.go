package config

import (
	"sort"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

// mcpAuthPolicies is the route policy `mcpAuthentication` (policy.NewMCPAuthentication).
var mcpAuthPolicies = []PolicySection{
	Policy("mcpAuthentication", buildMCPAuthentication),
}

// mcpAuthSpec is the schema's LocalMcpAuthentication.
type mcpAuthSpec struct {
	Issuer                string              `json:"issuer"`
	Audiences             []string            `json:"audiences"`
	Provider              *mcpIDPSpec         `json:"provider"`
	ResourceMetadata      map[string]any      `json:"resourceMetadata"`
	JWKS                  *fileInlineOrRemote `json:"jwks"`
	Mode                  string              `json:"mode"`
	AuthorizationLocation *locationSpec       `json:"authorizationLocation"`
	JWTValidationOptions  *jwtValidationSpec  `json:"jwtValidationOptions"`
	ClientID              string              `json:"clientId"`
	ClientSecret          string              `json:"clientSecret"`
	// RelaySigningKey is agentgateway's (newer than the schema), refused: see whyRelay.
	RelaySigningKey *string `json:"relaySigningKey"`
}

// whyRelay is the refusal of relaySigningKey.
const whyRelay = "relaySigningKey (agentgateway's newer Keycloak mode: with clientId the gateway terminates the authorization-code flow itself, sending users to Keycloak with its own /callback and carrying the client's redirect_uri and state in an AES-encrypted relay token, then rewriting iss) is not built: a gateway that completes logins for one static client and forwards the codes to whatever redirect_uri a dynamically registered client names is the confused deputy the MCP security guidance forbids without per-client user consent, which this gateway has no UI for; without relaySigningKey, clientId answers registration and Keycloak's own endpoints are advertised"

// mcpIDPSpec is the schema's McpIDP: exactly one of {auth0: {}}, {keycloak: {}}, {okta: {}},
// {descope: {}}, {authentik: {}}, {entra: {}}.
type mcpIDPSpec map[string]map[string]any

func buildMCPAuthentication(bc *BuildContext, s mcpAuthSpec) (agentgateway.Policy, error) {
	if s.RelaySigningKey != nil {
		return nil, &agentgateway.ConfigError{Path: joinField(bc.Path, "relaySigningKey"), Err: refusalError(whyRelay)}
	}
	mode := policy.ModeStrict // the schema's default here, unlike jwtAuth's
	if s.Mode != "" {
		var err error
		if mode, err = parseMode(bc, s.Mode, allModes...); err != nil {
			return nil, err
		}
	}
	loc, err := s.AuthorizationLocation.location(bc, "authorizationLocation")
	if err != nil {
		return nil, err
	}
	cfg := policy.MCPAuthConfig{
		Mode: mode, Location: loc, Issuer: s.Issuer, Audiences: s.Audiences,
		ResourceMetadata: s.ResourceMetadata, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
	}
	if s.Provider != nil {
		if len(*s.Provider) != 1 {
			return nil, bc.Errorf("provider", "set exactly one of auth0, keycloak, okta, descope, authentik, entra")
		}
		for k, v := range *s.Provider {
			if len(v) != 0 {
				keys := make([]string, 0, len(v))
				for f := range v {
					keys = append(keys, f)
				}
				sort.Strings(keys)
				return nil, bc.Errorf("provider."+k, "unknown field %q", keys[0])
			}
			cfg.Provider = policy.MCPProvider(k)
		}
	}
	if s.JWKS != nil {
		if cfg.JWKS, err = s.JWKS.jwks(bc, "jwks"); err != nil {
			return nil, err
		}
	}
	if o := s.JWTValidationOptions; o != nil {
		cfg.RequiredClaims = append([]string{}, o.RequiredClaims...) // present, even empty: no default
	}
	p, err := policy.NewMCPAuthentication(cfg)
	if err != nil {
		return nil, bc.Wrap(mapPaths(err, func(p string) string {
			switch {
			case strings.HasPrefix(p, "location"):
				p = "authorizationLocation" + strings.TrimPrefix(p, "location")
			case strings.HasPrefix(p, "requiredClaims["):
				p = "jwtValidationOptions." + p
			}
			return locationPath(p)
		}))
	}
	return p, nil
}
