// Package policy holds the gateway's route policies: each is a constructor that validates a Go config
// ([CORSConfig], [JWTConfig], ...) and returns an [agentgateway.Policy] that declares its
// [agentgateway.Phase]. The configs are plain Go: durations are time.Duration, enumerations are Go
// types ([Mode], [RateLimitType]), key material is bytes (a JWKS, htpasswd content, PEM). The YAML
// shape of agentgateway's schema — file references, service references, one-of objects, its
// defaults — is the config package's business: it translates a file into these configs.
//
// One file per policy: cors.go, jwt.go, mcpauth.go (`mcpAuthentication`: the gateway as the OAuth
// resource server of the MCP authorization spec, verifying tokens as jwt.go does), oidc.go (`oidc`: browser
// login as an OpenID Connect relying party, with an encrypted session cookie), apikey.go, basicauth.go, authz.go, ratelimit.go, timeout.go,
// retry.go, mirror.go, transform.go, backendtls.go, backendauth.go (passthrough and key).
//
// Policies that need a heavy client live in subpackages, so that importing policy (for CORS, say)
// links no AWS SDK, gRPC, Envoy protos or Google auth: extauthz (`extAuthz`, ext_authz over gRPC or
// HTTP), remoteratelimit (`remoteRateLimit`, Envoy RLS over gRPC), awsauth and gcpauth (the `aws` and
// `gcp` kinds of `backendAuth`). The config package wires them all from the same YAML.
//
// CEL expressions (authorization rules, rate-limit keys, transformations, retry conditions) compile in
// package cel's environment and see the variables its documentation lists; `authorization` rules mean
// what [cel.RuleSet] says (deny wins, every require must hold, deny by default once there is an allow
// rule), as mcpAuthorization and A2A's rules do.
//
// Authentication policies write what they establish into the request's [agentgateway.State]
// (Identity.Subject, Method, JWT claims, API key metadata), so authorization (CEL over jwt.*, apiKey.*),
// rate-limit keys and the access log read it without parsing anything twice.
//
// Constructors validate everything up front and return errors that name the offending field as a
// *agentgateway.ConfigError whose Path is relative to the config ("providers[0].jwks"; the config
// package relocates it to the file's field). Policies with an outbound HTTP client of their own (remote
// JWKS, ext_authz over HTTP, Google tokens, the mirror's target) implement
// [agentgateway.Provisioner]: behind a Gateway they use its transport hook and logger unless the
// config names its own.
//
// Requests that fail a policy get a JSON error body with the right status (401 with WWW-Authenticate,
// 403, 429 with Retry-After, 504), never a 500 for bad client input.
//
// The gateway runs a route's policies by phase (cors, authentication, authorization, rate limit,
// filters, transformations, timeout, retry, mirror, backend), whether they were added in Go or from a
// config file.
package policy
