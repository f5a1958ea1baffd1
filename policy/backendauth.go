package policy

import (
	"net/http"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
)

// BackendAuthConfig configures backend authentication (agentgateway's `backendAuth`) for the kinds
// that need no cloud SDK: exactly one of Passthrough, Key, JWTSign, TokenExchange and CrossAppAccess. The `gcp` and `aws` kinds are packages
// policy/gcpauth and policy/awsauth (so a program that does not use them links neither Google's nor
// AWS's libraries); the config package wires all four from the same YAML.
type BackendAuthConfig struct {
	// Passthrough forwards the token a JWT policy verified.
	Passthrough *PassthroughAuth
	// Key sends a static secret.
	Key *KeyAuth
	// JWTSign signs a short-lived JWT per request.
	JWTSign *JWTSignAuth
	// TokenExchange obtains a token for each caller by RFC 8693 token exchange or RFC 7523 JWT bearer grant.
	TokenExchange *OAuthTokenExchange
	// CrossAppAccess obtains a token for each caller by the Identity Assertion JWT Authorization Grant.
	CrossAppAccess *CrossAppAccess
}

// PassthroughAuth forwards the verified incoming JWT; Location defaults to Authorization: Bearer.
type PassthroughAuth struct {
	Location *Location
}

// KeyAuth sends Value (surrounding white space removed) at Location (default Authorization: Bearer).
type KeyAuth struct {
	Value    string
	Location *Location
}

// NewBackendAuth returns the backend authentication policy. It writes the credential into the
// outgoing request (after any credential the client sent at the same place is dropped). The token
// exchange kinds return a policy that implements [agentgateway.Provisioner] and io.Closer.
func NewBackendAuth(spec BackendAuthConfig) (agentgateway.Policy, error) {
	n := 0
	for _, set := range []bool{spec.Passthrough != nil, spec.Key != nil, spec.JWTSign != nil, spec.TokenExchange != nil, spec.CrossAppAccess != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, agentgateway.Errorf("", "set exactly one of passthrough, key, jwtSign, oauthTokenExchange, crossAppAccess")
	}
	switch {
	case spec.JWTSign != nil:
		a, err := newJWTSignAuth(spec.JWTSign)
		if err != nil {
			return nil, err
		}
		return a.policy(), nil
	case spec.TokenExchange != nil:
		return newOAuthTokenExchange(spec.TokenExchange)
	case spec.CrossAppAccess != nil:
		return newCrossAppAccess(spec.CrossAppAccess)
	case spec.Passthrough != nil:
		loc, err := spec.Passthrough.Location.compile("passthrough.location", BearerLocation(), true)
		if err != nil {
			return nil, err
		}
		return agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tok := TokenFrom(r.Context()); tok != "" {
					loc.place(r, tok)
					r = r.WithContext(agentgateway.WithBackendCredentials(r.Context(), func(out *http.Request) { loc.place(out, tok) }))
				}
				next.ServeHTTP(w, r)
			})
		}), nil
	default:
		loc, err := spec.Key.Location.compile("key.location", BearerLocation(), true)
		if err != nil {
			return nil, err
		}
		secret := strings.TrimSpace(spec.Key.Value)
		if secret == "" {
			return nil, agentgateway.Errorf("key.value", "required")
		}
		// place is recorded for backends that build their own upstream requests (MCP targets).
		place := func(out *http.Request) { loc.place(out, secret) }
		return agentgateway.NewPolicy(agentgateway.PhaseBackend, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				loc.place(r, secret)
				next.ServeHTTP(w, r.WithContext(agentgateway.WithBackendCredentials(r.Context(), place)))
			})
		}), nil
	}
}
