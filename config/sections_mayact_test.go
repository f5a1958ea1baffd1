package config_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unsignedJWT is a compact JWT with claims (the gateway does not verify it; the token endpoint would).
func unsignedJWT(t *testing.T, claims map[string]any) string {
	b, err := json.Marshal(claims)
	require.NoError(t, err)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(b) + ".sig"
}

// actorToken.enforceMayAct: the subject token's RFC 8693 may_act claim must name the actor token's
// claims (sub and iss here) before the gateway asks for a delegation; otherwise the caller gets 403
// and the token endpoint is never called. An allowed exchange sends subject and actor tokens as the
// grant's parameters.
func TestTokenExchangeEnforceMayActFromYAML(t *testing.T) {
	var mu sync.Mutex
	var forms []url.Values
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		mu.Lock()
		forms = append(forms, r.PostForm)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"exchanged","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":300}`)
	}))
	t.Cleanup(tokenSrv.Close)
	upSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}))
	t.Cleanup(upSrv.Close)
	url := servePorts(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        backendAuth:
          oauthTokenExchange:
            host: $TOKEN
            path: /token
            actorToken: {source: {header: {name: x-actor}}, enforceMayAct: true}
      backends: [{host: $UP}]
`, map[string]string{"TOKEN": strings.TrimPrefix(tokenSrv.URL, "http://"), "UP": strings.TrimPrefix(upSrv.URL, "http://")})[3000]
	actor := unsignedJWT(t, map[string]any{"sub": "agent-7", "iss": "https://idp.example"})
	call := func(subject string) (int, string) {
		return get(t, url+"/", "", "Authorization", "Bearer "+subject, "x-actor", actor)
	}

	allowed := unsignedJWT(t, map[string]any{"sub": "alice", "may_act": map[string]any{"sub": "agent-7", "iss": "https://idp.example"}})
	code, body := call(allowed)
	require.Equal(t, 200, code, body)
	assert.Equal(t, "Bearer exchanged", body)
	mu.Lock()
	require.Len(t, forms, 1)
	f := forms[0]
	mu.Unlock()
	assert.Equal(t, "urn:ietf:params:oauth:grant-type:token-exchange", f.Get("grant_type"))
	assert.Equal(t, allowed, f.Get("subject_token"))
	assert.Equal(t, actor, f.Get("actor_token"))
	assert.Equal(t, "urn:ietf:params:oauth:token-type:access_token", f.Get("actor_token_type"))

	for name, subject := range map[string]string{
		"another actor": unsignedJWT(t, map[string]any{"sub": "alice", "may_act": map[string]any{"sub": "agent-9"}}),
		"no may_act":    unsignedJWT(t, map[string]any{"sub": "alice"}),
		"not a JWT":     "opaque-token",
	} {
		code, _ := call(subject)
		assert.Equal(t, http.StatusForbidden, code, name)
	}
	mu.Lock()
	assert.Len(t, forms, 1, "a refused delegation never reaches the token endpoint")
	mu.Unlock()
}
