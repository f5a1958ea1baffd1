package gwapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// jwksIssuer serves a JWKS over HTTP and returns its URL and a token it signed for issuer
// https://issuer.example.
func jwksIssuer(t *testing.T) (url, token string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Use: "sig"}}})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(set) }))
	t.Cleanup(srv.Close)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k"}}, nil)
	require.NoError(t, err)
	token, err = josejwt.Signed(signer).Claims(map[string]any{"iss": "https://issuer.example", "sub": "alice",
		"exp": time.Now().Add(time.Hour).Unix()}).Serialize()
	require.NoError(t, err)
	return srv.URL, token
}

// spec.backend.mcp.authentication on an AgentgatewayBackend (not its route) is applied at the route
// serving that backend, through the schema document as in the translation, end to end with a real
// JWT and a go-sdk client: without a token the gateway answers 401 with the WWW-Authenticate
// naming its resource metadata, which it serves; with a valid token the client lists the tools.
func TestMCPAuthenticationOnBackendServedThroughBothPaths(t *testing.T) {
	jwks, token := jwksIssuer(t)
	up := httptest.NewServer(mcpServer("upstream"))
	t.Cleanup(up.Close)
	_, runtime, document := bothPaths(t, agwGateway+`
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: tools, namespace: infra}
spec:
  mcp:
    targets:
    - name: everything
      static: {host: mcp.infra.svc.cluster.local, port: 80, protocol: StreamableHTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mcp, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /mcp}
    - path: {type: PathPrefix, value: /.well-known/oauth-protected-resource/mcp}
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: mcp-authn, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
  backend:
    mcp:
      authentication:
        issuer: https://issuer.example
        jwks: {url: "`+jwks+`"}
        resourceMetadata: {scopesSupported: ["read:all"]}
`, map[string]string{"mcp.infra.svc.cluster.local:80": strings.TrimPrefix(up.URL, "http://")})
	for name, h := range paths(runtime, document) {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)

		resp, err := http.Post(srv.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s: no token", name)
		require.Equal(t, `Bearer resource_metadata="`+srv.URL+`/.well-known/oauth-protected-resource/mcp"`, resp.Header.Get("WWW-Authenticate"), name)

		resp, err = http.Get(srv.URL + "/.well-known/oauth-protected-resource/mcp")
		require.NoError(t, err)
		var prm map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&prm), name)
		resp.Body.Close()
		require.Equal(t, srv.URL+"/mcp", prm["resource"], name)
		require.Equal(t, []any{"https://issuer.example"}, prm["authorization_servers"], name)
		require.Equal(t, []any{"read:all"}, prm["scopes_supported"], name)

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
			&sdk.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: &http.Client{Transport: bearer(token)}, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
		require.NoError(t, err, name)
		list, err := cs.ListTools(ctx, nil)
		require.NoError(t, err, name)
		require.Len(t, list.Tools, 1, name)
		require.Equal(t, "echo", list.Tools[0].Name, name)
		_ = cs.Close()
		cancel()
	}
}

// A rule whose backends disagree on mcp.authentication (one brings it, the other not) cannot carry
// it as the rule's one policy: through the document it fails closed with 500 saying why, never
// serves the guarded backend without authentication.
func TestMCPAuthenticationOnOneOfTwoBackendsFailsClosedInTheDocument(t *testing.T) {
	snap, err := gwapi.DecodeManifests(strings.NewReader(agwGateway + `
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: guarded, namespace: infra}
spec: {mcp: {targets: [{name: a, static: {host: a.infra, port: 80}}]}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: open, namespace: infra}
spec: {mcp: {targets: [{name: b, static: {host: b.infra, port: 80}}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mcp, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: guarded}, {group: agentgateway.dev, kind: AgentgatewayBackend, name: open}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: mcp-authn, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: guarded}]
  backend: {mcp: {authentication: {issuer: https://issuer.example, jwks: {url: "http://127.0.0.1:9/jwks"}}}}
`))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", Logger: slog.New(slog.DiscardHandler)})
	releaseTranslation(t, res)
	rt, doc, err := compileDocument(res, nil)
	require.NoError(t, err, "%s", doc)
	t.Cleanup(func() { _ = rt.Close() })
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	t.Cleanup(func() { _ = gw.Close() })
	require.NoError(t, gw.Apply(rt.Config))
	rec := httptest.NewRecorder()
	gw.PortHandler(8080).ServeHTTP(rec, httptest.NewRequest("POST", "http://x/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Contains(t, rec.Body.String(), "AgentgatewayBackend infra/guarded applies at its route")
}
