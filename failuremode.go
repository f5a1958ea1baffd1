package agentgateway

import "strconv"

// FailureMode says what a policy or backend does when a service it depends on fails or cannot be
// reached: an external authorization or rate-limit service, an MCP target. It is one type for the
// whole gateway, so that `failureMode` means the same thing wherever it appears. The zero value is
// [FailClosed]: a dependency that is down never opens a route by omission.
type FailureMode uint8

// The failure modes.
const (
	// FailClosed refuses the request when the dependency fails (the status depends on the policy:
	// 403 for external authorization, 500 for a remote rate limit, an error for an MCP fan-out).
	FailClosed FailureMode = iota
	// FailOpen lets the request through as if the dependency had allowed it (an MCP fan-out skips the
	// failed target).
	FailOpen
)

// String returns the mode as agentgateway's schema spells it ("failClosed", "failOpen").
func (m FailureMode) String() string {
	switch m {
	case FailClosed:
		return "failClosed"
	case FailOpen:
		return "failOpen"
	}
	return "failureMode(" + strconv.Itoa(int(m)) + ")"
}

// Valid reports whether m is one of the defined modes.
func (m FailureMode) Valid() bool { return m <= FailOpen }
