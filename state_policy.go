package agentgateway

// PolicyState records what the request's policies decided (filled by package policy and the
// protocol backends' authorization), for metrics, traces and the log.
type PolicyState struct {
	// Retries counts the attempts a retry policy made after the first.
	Retries int
	// RateLimit is the last rate-limit decision taken for the request: "allowed" or "denied"; ""
	// when no rate limit applied.
	RateLimit string
	// DeniedBy names the policy that refused the request ("authz", "extAuthz", "mcpAuthz", ...);
	// "" when none did.
	DeniedBy string
}

// Values of PolicyState.RateLimit.
const (
	RateLimitAllowed = "allowed"
	RateLimitDenied  = "denied"
)
