package gwapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// AgentgatewayPolicy's schema-bodied traffic fields are compiled by package config and enforced by
// the data plane: JWT authentication (inline JWKS), CEL authorization on the token's subject, a
// request header modifier, a transformation and retries, on the route they target; a body the
// config compiler refuses leaves the policy unattached with the compiler's error in its status.
func TestPolicySchemaFieldsThroughTheDataPlane(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Use: "sig"}}})
	require.NoError(t, err)
	jwks, err := json.Marshal(string(set))
	require.NoError(t, err)

	var attempts int
	res, url := serveManifests(t, agwGateway+`
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - name: private
    matches: [{path: {type: PathPrefix, value: /private}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  - name: public
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: echo, namespace: infra}
spec: {static: {host: echo.infra, port: 80}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: auth, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r, sectionName: private}]
  traffic:
    jwtAuthentication: {mode: strict, issuer: https://issuer.example, audiences: [api], jwks: `+string(jwks)+`}
    authorization: {rules: ['jwt.sub == "alice"']}
    headerModifiers: {request: {set: {x-tier: gold}}}
    transformation: {request: {set: {x-user: jwt.sub}}}
    retry: {attempts: 3, codes: [503]}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: broken, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  traffic:
    authorization: {rules: ['request.path +']}
`, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/private/flaky" {
			if attempts++; attempts < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = io.WriteString(w, r.Header.Get("X-Tier")+"|"+r.Header.Get("X-User"))
	}))

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k"}}, nil)
	require.NoError(t, err)
	mint := func(sub string) string {
		tok, err := josejwt.Signed(signer).Claims(map[string]any{"iss": "https://issuer.example", "aud": "api", "sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).Serialize()
		require.NoError(t, err)
		return tok
	}
	get := func(path, tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	code, body := get("/public", "")
	require.Equal(t, http.StatusOK, code, "the public rule has no policy")
	require.Equal(t, "|", body)
	code, _ = get("/private", "")
	require.Equal(t, http.StatusUnauthorized, code, "jwtAuthentication: no token")
	code, _ = get("/private", mint("bob"))
	require.Equal(t, http.StatusForbidden, code, "authorization: bob is not allowed")
	code, body = get("/private", mint("alice"))
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "gold|alice", body, "headerModifiers and transformation reach the backend")
	code, _ = get("/private/flaky", mint("alice"))
	require.Equal(t, http.StatusOK, code, "retry: the third attempt succeeds")
	require.Equal(t, 3, attempts)

	st := res.Policies[types.NamespacedName{Namespace: "infra", Name: "auth"}]
	require.Len(t, st, 1)
	require.Equal(t, metav1.ConditionTrue, st[0].Conditions[0].Status, st[0].Conditions[0].Message)
	st = res.Policies[types.NamespacedName{Namespace: "infra", Name: "broken"}]
	require.Len(t, st, 1)
	require.Equal(t, metav1.ConditionFalse, st[0].Conditions[0].Status)
	require.True(t, strings.Contains(st[0].Conditions[0].Message, "authorization.rules[0]"), st[0].Conditions[0].Message)
}
