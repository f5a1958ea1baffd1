package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rsaPEM(t *testing.T, path string) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return k
}

// TestBackendAuthThroughTheBinary: jwtSign (a JWT per request from a key file, picked up again when
// the file is rotated) and oauthTokenExchange (RFC 8693 with a private_key_jwt client assertion,
// against a token endpoint run here), from YAML through the binary.
func TestBackendAuthThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	signFile, clientFile := filepath.Join(dir, "sign.pem"), filepath.Join(dir, "client.pem")
	signKey := rsaPEM(t, signFile)
	clientKey := rsaPEM(t, clientFile)

	var mu sync.Mutex
	var auth string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = r.Header.Get("Authorization")
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	var form url.Values
	var calls int
	token := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		form, calls = r.PostForm, calls+1
		mu.Unlock()
		if r.URL.Path != "/token" || r.PostForm.Get("subject_token") == "" {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":"invalid_request"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "downstream-" + r.PostForm.Get("subject_token"), "token_type": "Bearer", "expires_in": 300})
	}))
	defer token.Close()

	port := freePort(t)
	g := start(t, fmt.Sprintf(`
binds:
- port: %d
  listeners:
  - routes:
    - name: snowflake
      matches: [{path: {pathPrefix: /sql}}]
      policies:
        backendAuth:
          jwtSign:
            signingKey: {file: %s}
            alg: RS256
            claims: {iss: "ACCT.USER.SHA256:abc", sub: "ACCT.USER"}
            ttl: 60s
      backends: [{host: %s}]
    - name: exchange
      matches: [{path: {pathPrefix: /api}}]
      policies:
        backendAuth:
          oauthTokenExchange:
            host: %s
            path: /token
            resources: [https://api.internal]
            requestedTokenType: urn:ietf:params:oauth:token-type:access_token
            clientAuth:
              method: privateKeyJwt
              clientId: agentgateway
              signingKey: {file: %s}
              assertionAudience: http://%s/token
      backends: [{host: %s}]
`, port, signFile, strings.TrimPrefix(up.URL, "http://"), strings.TrimPrefix(token.URL, "http://"), clientFile, strings.TrimPrefix(token.URL, "http://"), strings.TrimPrefix(up.URL, "http://")), port)

	lastAuth := func() string { mu.Lock(); defer mu.Unlock(); return auth }
	verify := func(tok string, key *rsa.PrivateKey) jwt.MapClaims {
		t.Helper()
		c := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return &key.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"}))
		require.NoError(t, err)
		return c
	}
	resp, body := get(t, http.DefaultClient, g.url("/sql/statements"))
	require.Equal(t, 200, resp.StatusCode, body)
	c := verify(strings.TrimPrefix(lastAuth(), "Bearer "), signKey)
	assert.Equal(t, "ACCT.USER", c["sub"])

	// Rotate the key file: the next request is signed with the new key, no reload needed.
	newKey := rsaPEM(t, signFile)
	require.NoError(t, os.Chtimes(signFile, time.Now(), time.Now().Add(time.Minute)))
	resp, body = get(t, http.DefaultClient, g.url("/sql/statements"))
	require.Equal(t, 200, resp.StatusCode, body)
	verify(strings.TrimPrefix(lastAuth(), "Bearer "), newKey)

	req, _ := http.NewRequest("GET", g.url("/api/x"), nil)
	req.Header.Set("Authorization", "Bearer user-jwt")
	for range 2 {
		r, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
		require.Equal(t, 200, r.StatusCode)
	}
	assert.Equal(t, "Bearer downstream-user-jwt", lastAuth())
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, calls, "the exchanged token is cached")
	assert.Equal(t, "urn:ietf:params:oauth:grant-type:token-exchange", form.Get("grant_type"))
	assert.Equal(t, "user-jwt", form.Get("subject_token"))
	assert.Equal(t, "urn:ietf:params:oauth:token-type:access_token", form.Get("subject_token_type"))
	assert.Equal(t, "https://api.internal", form.Get("resource"))
	assert.Equal(t, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", form.Get("client_assertion_type"))
	ac := verify(form.Get("client_assertion"), clientKey)
	assert.Equal(t, "agentgateway", ac["iss"])
	assert.Equal(t, token.URL+"/token", ac["aud"])
}
