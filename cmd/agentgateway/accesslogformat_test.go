package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// agentgateway's published a2a example: frontendPolicies.logging with format json and fields.add.
// The process log stays text (the default); the access log lines are JSON, carry the added field
// and leave out the removed one.
func TestFrontendLoggingFormatAndFields(t *testing.T) {
	port := freePort(t)
	g := start(t, fmt.Sprintf(`
frontendPolicies:
  logging:
    format: json
    fields:
      add:
        team: 'request.headers["x-team"]'
        backend: backend
      remove: [source]
binds:
- port: %d
  listeners:
  - routes:
    - policies:
        directResponse: {status: 200, body: ok}
`, port), port)
	req, err := http.NewRequest("GET", g.url("/hello"), nil)
	require.NoError(t, err)
	req.Header.Set("X-Team", "red")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	var lines []map[string]any
	require.Eventually(t, func() bool {
		lines = accessLines(t, g.stderr.String())
		return len(lines) > 0
	}, 10*time.Second, 10*time.Millisecond, "no JSON access line: %s", g.stderr)
	l := lines[0]
	assert.Equal(t, "/hello", l["path"])
	assert.Equal(t, "red", l["team"])
	assert.NotContains(t, l, "source")
	assert.Contains(t, l["backend"], "name", "fields.add backend: backend logs the CEL backend variable")
	assert.Contains(t, g.stderr.String(), `msg="agentgateway ready"`, "the process log keeps its text format")
	for _, ln := range strings.Split(g.stderr.String(), "\n") {
		assert.NotContains(t, ln, "msg=request", "no text access line")
	}
}
