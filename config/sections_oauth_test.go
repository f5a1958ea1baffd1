package config_test

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// oauthYAML has the shape of agentgateway's published oauth-token-exchange examples: a route's
// backendAuth.oauth whose tokenEndpoint is a top-level named backend with backendTLS (here trusting
// the test token endpoint's certificate).
const oauthYAML = `
binds:
- port: 3000
  listeners:
  - routes:
    - backends: [{host: $UP}]
      policies:
        backendAuth:
$AUTH
backends:
- name: token-endpoint
  host: $TOKEN
  policies:
    backendTLS: {root: ca.pem}
`

// TestOAuthBackendAuthVariants: each published provider variant of backendAuth.oauth (and
// oauthTokenExchange with a backend endpoint) sends exactly the grant its provider documents to the
// named backend's token endpoint, over that backend's TLS, and puts the issued token on the upstream
// request.
func TestOAuthBackendAuthVariants(t *testing.T) {
	const subject = "caller-token"
	for _, tc := range []struct {
		name, auth, path string
		form             url.Values
		basic            []string // user, password; nil: no Basic authentication
	}{{
		name: "entra on-behalf-of",
		auth: `          oauth:
            tokenEndpoint: {backend: token-endpoint}
            tokenEndpointPath: /tenant/oauth2/v2.0/token
            grantType: jwtBearer
            scopes: [https://graph.microsoft.com/User.Read, offline_access]
            clientAuth: {clientId: app-id, clientSecret: entra-secret, method: clientSecretPost}
            additionalParams: {requested_token_use: '"on_behalf_of"'}`,
		path: "/tenant/oauth2/v2.0/token",
		form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {subject},
			"scope": {"https://graph.microsoft.com/User.Read offline_access"}, "client_id": {"app-id"}, "client_secret": {"entra-secret"},
			"requested_token_use": {"on_behalf_of"}},
	}, {
		name: "google sts",
		auth: `          oauth:
            tokenEndpoint: {backend: token-endpoint}
            tokenEndpointPath: /v1/token
            subjectToken: {tokenType: "urn:ietf:params:oauth:token-type:id_token"}
            audiences: [//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/provider]
            scopes: [https://www.googleapis.com/auth/cloud-platform]`,
		path: "/v1/token",
		form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"},
			"audience":           {"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/provider"},
			"scope":              {"https://www.googleapis.com/auth/cloud-platform"},
			// Google's STS refuses a request without it.
			"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"}},
	}, {
		name: "keycloak repeated audiences",
		auth: `          oauth:
            tokenEndpoint: {backend: token-endpoint}
            tokenEndpointPath: /realms/example/protocol/openid-connect/token
            audiences: [target-client, reporting-client]
            scopes: [optional-scope]
            clientAuth: {clientId: requester-client, clientSecret: kc-secret}`,
		path: "/realms/example/protocol/openid-connect/token",
		form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "audience": {"target-client", "reporting-client"},
			"scope": {"optional-scope"}},
		basic: []string{"requester-client", "kc-secret"},
	}, {
		name: "zitadel requested jwt",
		auth: `          oauth:
            tokenEndpoint: {backend: token-endpoint}
            tokenEndpointPath: /oauth/v2/token
            subjectToken: {tokenType: "urn:ietf:params:oauth:token-type:jwt"}
            audiences: ["urn:zitadel:iam:org:project:id:1"]
            scopes: [openid, profile]
            requestedTokenType: "urn:ietf:params:oauth:token-type:jwt"
            clientAuth: {clientId: "1@example", clientSecret: z-secret}`,
		path: "/oauth/v2/token",
		form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "audience": {"urn:zitadel:iam:org:project:id:1"},
			"scope": {"openid profile"}, "requested_token_type": {"urn:ietf:params:oauth:token-type:jwt"}},
		basic: []string{"1@example", "z-secret"},
	}, {
		name: "oauthTokenExchange with a backend endpoint",
		auth: `          oauthTokenExchange:
            backend: token-endpoint
            path: /oauth2/default/v1/token
            audiences: [com.example.api]
            clientAuth: {clientId: okta-client, clientSecret: okta-secret}`,
		path: "/oauth2/default/v1/token",
		form: url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {subject},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "audience": {"com.example.api"}},
		basic: []string{"okta-client", "okta-secret"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var gotPath string
			var gotForm url.Values
			var gotBasic []string
			tokenSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := r.ParseForm(); err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				mu.Lock()
				gotPath, gotForm, gotBasic = r.URL.Path, r.PostForm, nil
				if u, p, ok := r.BasicAuth(); ok {
					// RFC 6749 §2.3.1: both are form-urlencoded inside Basic (ZITADEL's ids hold '@').
					u, _ = url.QueryUnescape(u)
					p, _ = url.QueryUnescape(p)
					gotBasic = []string{u, p}
				}
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				tok := r.PostForm.Get("subject_token") + r.PostForm.Get("assertion")
				_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "issued-for-" + tok, "token_type": "Bearer", "expires_in": 600})
			}))
			defer tokenSrv.Close()
			var upAuth string
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				upAuth = r.Header.Get("Authorization")
				mu.Unlock()
			}))
			defer upstream.Close()
			dir := t.TempDir()
			ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tokenSrv.Certificate().Raw})
			require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o600))

			yaml := strings.Replace(oauthYAML, "$AUTH", tc.auth, 1)
			env := map[string]string{"UP": strings.TrimPrefix(upstream.URL, "http://"), "TOKEN": strings.TrimPrefix(tokenSrv.URL, "https://")}
			f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			require.NoError(t, err)
			f.SetDir(dir)
			rt, err := f.Build(slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			defer rt.Close()
			gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
			require.NoError(t, gw.Apply(rt.Config))
			srv := httptest.NewServer(gw.PortHandler(3000))
			defer srv.Close()

			req, err := http.NewRequest("GET", srv.URL+"/", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+subject)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode, "%s", b)

			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, tc.path, gotPath)
			assert.Equal(t, tc.form, gotForm)
			assert.Equal(t, tc.basic, gotBasic)
			assert.Equal(t, "Bearer issued-for-"+subject, upAuth)
		})
	}
}

// TestOAuthBackendAuthErrors: mistakes in backendAuth.oauth and its token endpoint backend are
// reported at their own paths.
func TestOAuthBackendAuthErrors(t *testing.T) {
	const named = "\nbackends: [{name: tok, host: 'h:443', policies: {backendTLS: {root: /nonexistent/ca.pem}}}, {name: other, host: 'h:443', policies: {backendAuth: {key: k}}}]"
	for _, tc := range []struct{ auth, extra, path, msg string }{
		{"oauth: {audiences: [a]}", "", "policies.backendAuth.oauth.tokenEndpoint", "required"},
		{"oauth: {tokenEndpoint: {}}", "", "policies.backendAuth.oauth.tokenEndpoint", "set one of host, service, backend"},
		{"oauth: {tokenEndpoint: {backend: nope}}", "", "policies.backendAuth.oauth.tokenEndpoint.backend", `no backend named "nope"`},
		{"oauth: {tokenEndpoint: {backend: tok, host: h}}", named, "policies.backendAuth.oauth.tokenEndpoint", "set one of host, service, backend"},
		{"oauth: {tokenEndpoint: {host: h}}, oauthTokenExchange: {host: h}", "", "policies.backendAuth.oauth", "set one"},
		{"oauth: {tokenEndpoint: {host: h}, grantType: password}", "", "policies.backendAuth.oauth.grantType", "want tokenExchange or jwtBearer"},
		{"oauth: {tokenEndpoint: {host: h}, clientAuth: {clientId: a}}", "", "policies.backendAuth.oauth.clientAuth.clientSecret", "required"},
		{"oauth: {tokenEndpoint: {host: h}, clientAuth: {method: clientSecretPost, clientSecret: s}}", "", "policies.backendAuth.oauth.clientAuth.clientId", "required"},
		{"oauth: {tokenEndpoint: {backend: tok}}", named, "backends[0].policies.backendTLS.root", "nonexistent"},
		{"oauth: {tokenEndpoint: {backend: other}}", named, "backends[1].policies", "takes only backendTLS"},
		{"oauthTokenExchange: {backend: other}", named, "backends[1].policies", "takes only backendTLS"},
	} {
		_, err := build(t, "binds: [{port: 1, listeners: [{routes: [{backends: [{host: x}], policies: {backendAuth: {"+tc.auth+"}}}]}]}]"+tc.extra, nil)
		require.Error(t, err, tc.auth)
		assert.Contains(t, err.Error(), tc.path, tc.auth)
		assert.Contains(t, err.Error(), tc.msg, tc.auth)
	}
}
