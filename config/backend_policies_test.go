package config_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The policies a route backend carries run for the requests sent to that backend: header modifiers
// and transformations, a redirect, extAuthz and authorization, mcpAuthorization on an MCP backend, and
// sessionAffinity over a service's endpoints.
func TestBackendPoliciesServed(t *testing.T) {
	type seen struct{ b, tr string }
	got := make(chan seen, 64)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- seen{r.Header.Get("X-B"), r.Header.Get("X-T")}:
		default:
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Deny") != "" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	t.Cleanup(authz.Close)
	_, p1, _ := net.SplitHostPort(echoUpstream(t, "one"))
	_, p2, _ := net.SplitHostPort(echoUpstream(t, "two"))
	url := servePorts(t, `
services:
- {name: s, namespace: ns, hostname: s.local, vips: [], ports: {80: 0}}
workloads:
- {name: one, namespace: ns, workloadIps: [127.0.0.1], services: {"ns/s.local": {80: $P1}}}
- {name: two, namespace: ns, workloadIps: [127.0.0.1], services: {"ns/s.local": {80: $P2}}}
binds:
- port: 3000
  listeners:
  - routes:
    - matches: [{path: {pathPrefix: /hdr}}]
      backends:
      - host: $UP
        policies:
          requestHeaderModifier: {set: {x-b: one}}
          responseHeaderModifier: {set: {x-r: two}}
          transformations: {request: {set: {x-t: '"three"'}}}
    - matches: [{path: {pathPrefix: /redirect}}]
      backends:
      - host: $UP
        policies:
          requestRedirect: {status: 302, path: {full: /elsewhere}}
    - matches: [{path: {pathPrefix: /auth}}]
      backends:
      - host: $UP
        policies:
          extAuthz: {host: $AUTHZ, protocol: {http: {}}, includeRequestHeaders: [x-deny]}
          authorization: {rules: [{deny: 'request.headers["x-block"] == "1"'}]}
    - matches: [{path: {pathPrefix: /mcp}}]
      backends:
      - mcp: {targets: [{name: one, mcp: {host: $ONE}}]}
        policies:
          mcpAuthorization: {rules: ['mcp.tool.name == "echo"']}
    - backends:
      - service: {name: ns/s.local, port: 80}
        policies:
          sessionAffinity: {source: 'request.headers["x-user"]'}
`, map[string]string{"UP": strings.TrimPrefix(up.URL, "http://"), "AUTHZ": strings.TrimPrefix(authz.URL, "http://"),
		"ONE": mcpUpstream(t, "one"), "P1": p1, "P2": p2})[3000]

	resp, err := http.Get(url + "/hdr")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "two", resp.Header.Get("X-R"), "responseHeaderModifier")
	assert.Equal(t, seen{"one", "three"}, <-got, "requestHeaderModifier, transformations")

	resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(url + "/redirect")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 302, resp.StatusCode)
	assert.Equal(t, "/elsewhere", resp.Header.Get("Location")[strings.LastIndex(resp.Header.Get("Location"), "/"):])

	code, _ := get(t, url+"/auth", "", "X-Deny", "1")
	assert.Equal(t, 403, code, "extAuthz")
	code, _ = get(t, url+"/auth", "", "X-Block", "1")
	assert.Equal(t, 403, code, "authorization")
	code, _ = get(t, url+"/auth", "")
	assert.Equal(t, 200, code)

	names, _ := mcpToolNames(t, url+"/mcp")
	assert.Equal(t, []string{"echo"}, names, "mcpAuthorization filters the tool list")

	for _, user := range []string{"u1", "u2", "u3"} {
		first := ""
		for range 10 {
			code, body := get(t, url+"/x", "", "X-User", user)
			require.Equal(t, 200, code)
			if first == "" {
				first = body
			}
			assert.Equal(t, first, body, "sessionAffinity keeps %s on one endpoint", user)
		}
	}
}
