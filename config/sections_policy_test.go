package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

const policyYAML = `
binds:
- port: 3000
  listeners:
  - routes:
    - name: api
      matches:
      - path: {pathPrefix: /api}
      policies:
        # listed out of phase order on purpose: config applies them by phase
        localRateLimit:
        - maxTokens: 2
          tokensPerFill: 1
          fillInterval: 1h
        authorization:
          rules:
          - 'jwt.sub == "alice"'
          - deny: 'request.headers["x-block"] == "1"'
        jwtAuth:
          mode: strict
          issuer: https://issuer.example
          audiences: [api]
          jwks:
            file: jwks.json
        cors:
          allowOrigins: ["https://app.example.com"]
          allowMethods: [GET, POST]
          maxAge: 10m
        transformations:
          request:
            set:
              x-user: identity
        timeout:
          requestTimeout: 5s
        retry:
          attempts: 2
          codes: [503]
        requestMirror:
          backend:
            host: $MIRROR
          percentage: 1.0
      backends:
      - host: $BACKEND
`

func TestPolicySectionsFromYAML(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Use: "sig"}}})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "jwks.json"), set, 0o600))
	cfgPath := filepath.Join(dir, "config.yaml")

	var upstreamUser atomic.Value
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamUser.Store(r.Header.Get("X-User"))
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	var mirrored atomic.Int32
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mirrored.Add(1) }))
	defer mirror.Close()

	env := map[string]string{"BACKEND": strings.TrimPrefix(backend.URL, "http://"), "MIRROR": strings.TrimPrefix(mirror.URL, "http://")}
	require.NoError(t, os.WriteFile(cfgPath, []byte(policyYAML), 0o600))
	f, err := config.Load([]byte(policyYAML), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	f.SetDir(dir)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, gw.Apply(rt.Config))
	srv := httptest.NewServer(gw.PortHandler(rt.Config.Listeners[0].Port)) // the port the file binds
	defer srv.Close()

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k"}}, nil)
	require.NoError(t, err)
	mint := func(sub string) string {
		tok, err := josejwt.Signed(signer).Claims(map[string]any{"iss": "https://issuer.example", "aud": "api", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).Serialize()
		require.NoError(t, err)
		return tok
	}
	call := func(method, token string, hdr ...string) *http.Response {
		r, err := http.NewRequest(method, srv.URL+"/api/x", nil)
		require.NoError(t, err)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	// CORS runs first: a preflight needs no token.
	resp := call("OPTIONS", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "600", resp.Header.Get("Access-Control-Max-Age"))
	// Authentication before authorization before rate limiting.
	assert.Equal(t, 401, call("GET", "").StatusCode)
	assert.Equal(t, 403, call("GET", mint("bob")).StatusCode)
	assert.Equal(t, 403, call("GET", mint("alice"), "X-Block", "1").StatusCode)
	resp = call("GET", mint("alice"))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "alice", upstreamUser.Load(), "transformation saw the identity")
	assert.Equal(t, 200, call("GET", mint("alice")).StatusCode)
	resp = call("GET", mint("alice"))
	assert.Equal(t, 429, resp.StatusCode, "denied requests did not use tokens: the third allowed one is limited")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Eventually(t, func() bool { return mirrored.Load() >= 2 }, 5*time.Second, 10*time.Millisecond)
}

func TestPolicySectionErrorsNameFields(t *testing.T) {
	cases := map[string]string{
		"cors:\n          allowOrigins: [bad]":                                           "policies.cors.allowOrigins[0]",
		"jwtAuth:\n          issuer: x\n          jwks: {file: /nope.json}":              "policies.jwtAuth.jwks.file",
		"jwtAuth:\n          mode: sometimes\n          issuer: x\n          jwks: '{}'": "policies.jwtAuth.mode",
		"authorization:\n          rules: [{allow: 'request.path +'}]":                   "policies.authorization.rules[0].allow",
		"localRateLimit:\n        - maxTokens: 1\n          fillInterval: 1s":            "policies.localRateLimit[0].tokensPerFill",
		"localRateLimit:\n          conditional:\n          - fillInterval: 1s\n            maxTokens: 1\n            tokensPerFill: 1\n            condition: 'nope('": "policies.localRateLimit.conditional[0].condition",
		"retry:\n          codes: [42]":                                                                 "policies.retry.codes[0]",
		"timeout:\n          requestTimeout: soon":                                                      "policies.timeout.requestTimeout",
		"apiKey:\n          keys: [{keyHash: md5}]":                                                     "policies.apiKey.keys[0].keyHash",
		"basicAuth:\n          htpasswd: 'alice:plain'":                                                 "policies.basicAuth.htpasswd",
		"extAuthz:\n          host: 127.0.0.1:1\n          failureMode: maybe":                          "policies.extAuthz.failureMode",
		"remoteRateLimit:\n          host: 127.0.0.1:1\n          domain: d\n          descriptors: []": "policies.remoteRateLimit.descriptors",
		"requestMirror:\n          backend: {host: 'h:1'}\n          percentage: 2":                     "policies.requestMirror.percentage",
		"transformations:\n          request:\n            set: {x: 'nope('}":                           "policies.transformations.request.set.x",
		"backendTLS:\n          root: /nope.pem":                                                        "policies.backendTLS.root",
		"backendAuth:\n          aws: {accessKeyId: a, secretAccessKey: b, region: r}":                  "policies.backendAuth.aws.serviceName",
		"backendAuth:\n          gcp: {type: samlToken}":                                                "policies.backendAuth.gcp.type",
		"backendAuth:\n          key: {value: k}\n          aws: {serviceName: s}":                      "policies.backendAuth: set exactly one of passthrough, key, gcp, aws",
		"backendAuth:\n          azure: {}":                                                             "policies.backendAuth.azure",
		"cors:\n          allowOrigin: ['*']":                                                           "policies.cors.allowOrigin",
	}
	for snippet, path := range cases {
		y := "binds:\n- port: 3000\n  listeners:\n  - routes:\n    - name: r\n      policies:\n        " + snippet + "\n      backends:\n      - host: 127.0.0.1:1\n"
		f, err := config.Load([]byte(y), func(string) (string, bool) { return "", false })
		if err == nil {
			var rt *config.Runtime
			rt, err = f.Build(slog.New(slog.DiscardHandler))
			if err == nil {
				rt.Close()
			}
		}
		require.Error(t, err, snippet)
		assert.Contains(t, err.Error(), path, snippet)
	}
}

// A file that names no mode keeps agentgateway's default (optional), while the Go API defaults to
// strict: the config applies the schema's default explicitly.
func TestAuthModesDefaultToOptionalInFiles(t *testing.T) {
	const y = `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        apiKey:
          keys: [{key: k1}]
        basicAuth:
          htpasswd: "a:{SHA}hvfkN/qlp/zhXR3cuerq6jd2Z7g="
      backends:
      - host: 127.0.0.1:1
`
	f, err := config.Load([]byte(y), nil)
	require.NoError(t, err)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer rt.Close()
	pols := rt.Config.Listeners[0].Routes[0].Policies
	require.Len(t, pols, 2)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	for _, p := range pols {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		p.Wrap(ok).ServeHTTP(w, r.WithContext(agentgateway.WithState(r.Context(), &agentgateway.State{})))
		require.Equal(t, 204, w.Code, "no credential passes an optional policy")
	}
}
