package config_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The go-sdk servers some tests run as MCP targets keep a session's reader goroutine until the
// session times out, even after their httptest server is closed; that goroutine is the test peer's,
// not the gateway's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/modelcontextprotocol/go-sdk/mcp.(*streamableServerConn).Read"))
}
