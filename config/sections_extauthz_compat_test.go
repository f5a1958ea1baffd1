package config_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/config"
)

// The older extAuthz shape of agentgateway's examples/oauth2-proxy: protocol written as the bare name
// "http", with redirect and includeResponseHeaders next to it. A signed-in request reaches the app
// with the authorizer's identity headers; any other is redirected to sign in. failureMode is read in
// any case (examples/dominion-trust writes Deny).
func TestExtAuthzFlatHTTPForm(t *testing.T) {
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Auth-Request-User", "octocat")
		w.Header().Set("X-Auth-Request-Email", "o@example.com")
	}))
	defer authz.Close()
	var gotUser string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gotUser = r.Header.Get("X-Auth-Request-User") }))
	defer app.Close()
	yaml := `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        extAuthz:
          host: ` + strings.TrimPrefix(authz.URL, "http://") + `
          protocol: http
          redirect: '"/oauth2/start?rd=/"'
          includeResponseHeaders: [x-auth-request-email, x-auth-request-user]
          failureMode: Deny
      backends: [{host: ` + strings.TrimPrefix(app.URL, "http://") + `}]
`
	url := serveConfig(t, yaml, nil)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", url+"/page", nil)
	req.Header.Set("Authorization", "Bearer ok")
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "octocat", gotUser, "the authorizer's identity header reaches the app")

	resp, err = c.Get(url + "/page")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, "/oauth2/start?rd=/", resp.Header.Get("Location"))

	for bad, want := range map[string]string{
		"protocol: http\n          redirect: '\"/x\"'\n          path: '\"/a\"'\n          foo: 1": "foo",
		"protocol: smtp": "protocol",
		"protocol: {grpc: {}}\n          redirect: '\"/x\"'":                   "protocol",
		"protocol: {http: {redirect: '\"/y\"'}}\n          redirect: '\"/x\"'": "redirect",
	} {
		y := strings.Replace(yaml, "protocol: http\n          redirect: '\"/oauth2/start?rd=/\"'", bad, 1)
		f, err := config.Load([]byte(y), nil)
		if err == nil {
			_, err = f.Build(nil)
		}
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "extAuthz."+want, bad)
	}
}
