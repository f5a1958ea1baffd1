package config_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
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
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/internal/awstest"
)

const backendAuthYAML = `
binds:
- port: 3000
  listeners:
  - routes:
    - name: shorthand
      matches: [{path: {pathPrefix: /key}}]
      policies:
        backendAuth: {key: upstream-key}
      backends: [{host: $UP}]
    - name: extra
      matches: [{path: {pathPrefix: /extra}}]
      policies:
        backendAuth:
          key: {file: secret.txt}
          credentials:
          - location: {header: {name: x-tenant-key}}
            key: tenant-secret
      backends: [{host: $UP}]
    - name: sign
      matches: [{path: {pathPrefix: /sign}}]
      policies:
        backendAuth:
          jwtSign:
            signingKey: {file: sign.pem}
            kid: k1
            ttl: 120s
            claims: {iss: gateway, sub: "ACCOUNT.USER", aud: [snowflake]}
      backends: [{host: $UP}]
    - name: exchange
      matches: [{path: {pathPrefix: /exchange}}]
      policies:
        backendAuth:
          oauthTokenExchange:
            host: $TOKEN
            path: /oauth2/token
            audiences: [api]
            scopes: [read]
            subjectToken: {tokenType: "urn:ietf:params:oauth:token-type:jwt"}
            clientAuth:
              method: privateKeyJwt
              clientId: gw
              signingKey: {file: client.pem}
              assertionAudience: https://as.example
      backends: [{host: $UP}]
    - name: xaa
      matches: [{path: {pathPrefix: /xaa}}]
      policies:
        backendAuth:
          crossAppAccess:
            identityProvider: {host: $TOKEN, tokenEndpointPath: /idp, clientAuth: {clientId: agent, clientSecret: idp-secret}}
            resourceAuthorizationServer: {host: $TOKEN, path: /ras, clientAuth: {method: clientSecretPost, clientId: agent, clientSecret: {file: secret.txt}}}
            audience: https://ras.example
            scopes: [todo.read]
      backends: [{host: $UP}]
    - name: xaa-older-names
      matches: [{path: {pathPrefix: /oldxaa}}]
      policies:
        backendAuth:
          xaa:
            idp: {host: $TOKEN, tokenEndpointPath: /idp, clientAuth: {clientId: agent, clientSecret: idp-secret}}
            resourceAs: {host: $TOKEN, tokenEndpointPath: /ras, clientAuth: {clientId: agent, clientSecret: other}}
            audience: https://ras.example
            scopes: [todo.write]
      backends: [{host: $UP}]
    - name: aws
      matches: [{path: {pathPrefix: /aws}}]
      policies:
        backendAuth:
          aws:
            serviceName: execute-api
            region: eu-west-1
            assumeRole:
              roleArn: arn:aws:iam::111122223333:role/gw
              sessionName: {expression: 'request.headers["x-user"]'}
              tags: [{key: user, expression: 'request.headers["x-user"]'}]
      backends: [{host: $UP}]
`

func writePEM(t *testing.T, path string) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return k
}

// TestBackendAuthFromYAML: each backendAuth kind from a file, through a Gateway, against token
// endpoints and an STS stub run in the test.
func TestBackendAuthFromYAML(t *testing.T) {
	dir := t.TempDir()
	signKey := writePEM(t, filepath.Join(dir, "sign.pem"))
	clientKey := writePEM(t, filepath.Join(dir, "client.pem"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("file-secret\n"), 0o600))

	var mu sync.Mutex
	var up http.Header
	upstreamSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		up = r.Header.Clone()
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer upstreamSrv.Close()
	forms := map[string]url.Values{}
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		mu.Lock()
		forms[r.URL.Path] = r.PostForm
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		tok := map[string]string{"/oauth2/token": "x-" + r.PostForm.Get("subject_token"), "/idp": "jag", "/ras": "at-" + r.PostForm.Get("assertion")}[r.URL.Path]
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 600})
	}))
	defer tokenSrv.Close()
	base := aws.Credentials{AccessKeyID: "AKIDBASE", SecretAccessKey: "base-secret"}
	sts := awstest.NewSTS(base)
	defer sts.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", base.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", base.SecretAccessKey)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))

	env := map[string]string{"UP": strings.TrimPrefix(upstreamSrv.URL, "http://"), "TOKEN": strings.TrimPrefix(tokenSrv.URL, "http://")}
	f, err := config.Load([]byte(backendAuthYAML), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	f.SetDir(dir)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, gw.Apply(rt.Config))
	srv := httptest.NewServer(gw.PortHandler(3000))
	defer srv.Close()

	call := func(path string, hdr ...string) http.Header {
		t.Helper()
		r, err := http.NewRequest("GET", srv.URL+path, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "%s: %s", path, b)
		mu.Lock()
		defer mu.Unlock()
		return up
	}

	assert.Equal(t, "Bearer upstream-key", call("/key", "Authorization", "Bearer client").Get("Authorization"))
	h := call("/extra")
	assert.Equal(t, "Bearer file-secret", h.Get("Authorization"))
	assert.Equal(t, "tenant-secret", h.Get("X-Tenant-Key"))

	tok := strings.TrimPrefix(call("/sign").Get("Authorization"), "Bearer ")
	c := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return &signKey.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"}))
	require.NoError(t, err)
	assert.Equal(t, "k1", parsed.Header["kid"])
	assert.Equal(t, "ACCOUNT.USER", c["sub"])
	exp, _ := c.GetExpirationTime()
	iat, _ := c.GetIssuedAt()
	assert.Equal(t, int64(120), exp.Unix()-iat.Unix())

	assert.Equal(t, "Bearer x-caller", call("/exchange", "Authorization", "Bearer caller").Get("Authorization"))
	ef := forms["/oauth2/token"]
	assert.Equal(t, "urn:ietf:params:oauth:grant-type:token-exchange", ef.Get("grant_type"))
	assert.Equal(t, "urn:ietf:params:oauth:token-type:jwt", ef.Get("subject_token_type"))
	assert.Equal(t, "api", ef.Get("audience"))
	assert.Equal(t, "read", ef.Get("scope"))
	ac := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(ef.Get("client_assertion"), ac, func(*jwt.Token) (any, error) { return &clientKey.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"}))
	require.NoError(t, err)
	assert.Equal(t, "https://as.example", ac["aud"])

	assert.Equal(t, "Bearer at-jag", call("/xaa", "Authorization", "Bearer id-token").Get("Authorization"))
	assert.Equal(t, "urn:ietf:params:oauth:token-type:id-jag", forms["/idp"].Get("requested_token_type"))
	assert.Equal(t, "urn:ietf:params:oauth:grant-type:jwt-bearer", forms["/ras"].Get("grant_type"))
	assert.Equal(t, "file-secret", forms["/ras"].Get("client_secret"))
	assert.Equal(t, "todo.read", forms["/ras"].Get("scope"), "accessTokenScopes inherit scopes")
	// backendAuth.xaa {idp, resourceAs} (agentgateway's identity-assertion example) is crossAppAccess.
	assert.Equal(t, "Bearer at-jag", call("/oldxaa", "Authorization", "Bearer id-token-2").Get("Authorization"))
	assert.Equal(t, "id-token-2", forms["/idp"].Get("subject_token"))
	assert.Equal(t, "todo.write", forms["/ras"].Get("scope"))

	h = call("/aws", "X-User", "alice")
	require.Len(t, sts.Calls(), 1)
	assert.Equal(t, "alice", sts.Calls()[0].Get("RoleSessionName"))
	assert.Equal(t, "alice", sts.Calls()[0].Get("Tags.member.1.Value"))
	assert.Equal(t, awstest.Credentials(0).SessionToken, h.Get("X-Amz-Security-Token"))
	assert.Contains(t, h.Get("Authorization"), "Credential="+awstest.Credentials(0).AccessKeyID+"/")
	assert.Contains(t, h.Get("Authorization"), "/eu-west-1/execute-api/aws4_request")
}

func TestBackendAuthYAMLErrors(t *testing.T) {
	for yaml, path := range map[string]string{
		"backendAuth: {jwtSign: {signingKey: nope}}":                                                                        "policies.backendAuth.jwtSign.signingKey",
		"backendAuth: {jwtSign: {signingKey: {file: /nonexistent.pem}}}":                                                    "policies.backendAuth.jwtSign.signingKey.file",
		"backendAuth: {oauthTokenExchange: {backend: b}}":                                                                   "policies.backendAuth.oauthTokenExchange.backend",
		"backendAuth: {oauthTokenExchange: {host: h, grantType: password}}":                                                 "policies.backendAuth.oauthTokenExchange.grantType",
		"backendAuth: {oauthTokenExchange: {host: h, clientAuth: {clientId: a}}}":                                           "policies.backendAuth.oauthTokenExchange.clientAuth.clientSecret",
		"backendAuth: {crossAppAccess: {identityProvider: {host: h}, resourceAuthorizationServer: {host: h}, audience: a}}": "policies.backendAuth.crossAppAccess.identityProvider.clientAuth",
		"backendAuth: {azure: {developerImplicit: {}}}":                                                                     "policies.backendAuth.azure.developerImplicit",
		"backendAuth: {azure: {explicitConfig: {clientSecret: {tenant_id: t, client_id: c, client_secret: ''}}}}":           "policies.backendAuth.azure.explicitConfig.clientSecret.client_secret",
		"backendAuth: {aws: {serviceName: s, region: r, assumeRole: {roleArn: a, sessionName: 'bad name'}}}":                "policies.backendAuth.aws.assumeRole.sessionName",
	} {
		_, err := build(t, "binds: [{port: 1, listeners: [{routes: [{backends: [{host: x}], policies: {"+yaml+"}}]}]}]", nil)
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), path, yaml)
	}
}

// TestAzureBackendAuthFromYAML: azure explicitConfig.clientSecret gets a client-credentials token from
// the Entra endpoint (AZURE_AUTHORITY_HOST, run here) and sends it upstream.
func TestAzureBackendAuthFromYAML(t *testing.T) {
	var form url.Values
	var path string
	entra := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		form, path = r.PostForm, r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"entra-token","token_type":"Bearer","expires_in":3599}`)
	}))
	defer entra.Close()
	t.Setenv("AZURE_AUTHORITY_HOST", entra.URL)
	var got atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Store(r.Header.Get("Authorization")) }))
	defer up.Close()
	rt, err := build(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        backendAuth:
          azure:
            explicitConfig:
              clientSecret: {tenant_id: contoso, client_id: app-1, client_secret: shh}
      backends: [{host: $UP}]
`, map[string]string{"UP": strings.TrimPrefix(up.URL, "http://")})
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, gw.Apply(rt.Config))
	srv := httptest.NewServer(gw.PortHandler(3000))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "Bearer entra-token", got.Load())
	assert.Equal(t, "/contoso/oauth2/v2.0/token", path)
	assert.Equal(t, "client_credentials", form.Get("grant_type"))
	assert.Equal(t, "app-1", form.Get("client_id"))
	assert.Equal(t, "shh", form.Get("client_secret"))
	assert.Equal(t, "https://cognitiveservices.azure.com/.default", form.Get("scope"))
}
