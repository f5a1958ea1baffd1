package config

// policyPolicies are the route policies of package policy (cors, jwtAuth, apiKey, basicAuth, extAuthz,
// authorization, localRateLimit, remoteRateLimit, timeout, retry, requestMirror, transformations,
// backendTLS, backendAuth).
var policyPolicies = []PolicySection{}
