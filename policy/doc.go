// Package policy holds the gateway's route policies: each is a constructor that validates a Spec (the
// serialisable form the declarative config decodes, with the agentgateway schema's field names) and
// returns an [agentgateway.Policy], a plain func(http.Handler) http.Handler.
//
// One file per policy: cors.go, jwt.go, apikey.go, basicauth.go, extauthz.go, authz.go, ratelimit.go,
// remoteratelimit.go, timeout.go, retry.go, mirror.go, transform.go, backendtls.go, backendauth.go.
//
// Authentication policies write what they establish into the request's [agentgateway.State]
// (Identity.Subject, Method, JWT claims, API key metadata), so authorization (CEL over jwt.*, apiKey.*),
// rate-limit keys and the access log read it without parsing anything twice.
//
// Constructors validate everything up front and return errors that name the offending field as a
// *agentgateway.ConfigError whose Path is relative to the spec (the config package prefixes it with the
// section's path). Requests that fail a policy get a JSON error body with the right status (401 with
// WWW-Authenticate, 403, 429 with Retry-After, 504), never a 500 for bad client input.
//
// Fluent use applies policies in the order written; the config package applies them in its fixed
// phase order (cors, authentication, authorization, rate limit, filters, transformations, timeout,
// retry, mirror, backend).
package policy
