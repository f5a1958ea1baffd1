package gwapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// serveDialing translates manifests and serves Gateway infra/gw; the gateway's dials of "host:port"
// go to dial[host:port] (a real peer), and fail for any other address.
func serveDialing(t *testing.T, manifests string, dial map[string]string) (*gwapi.Result, string) {
	t.Helper()
	snap, err := gwapi.DecodeManifests(strings.NewReader(manifests))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", Logger: slog.New(slog.DiscardHandler),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			to, ok := dial[addr]
			if !ok {
				return nil, fmt.Errorf("test dialer: no peer at %s", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, to)
		}})
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	cfg, ok := res.Configs[types.NamespacedName{Namespace: "infra", Name: "gw"}]
	require.True(t, ok)
	require.NoError(t, gw.Apply(cfg))
	srv := httptest.NewServer(gw.PortHandler(8080))
	t.Cleanup(func() {
		_ = gw.Close()
		srv.Close()
	})
	return res, srv.URL
}

// policyAccepted returns the Accepted condition of each ancestor of policy infra/name.
func policyAccepted(t *testing.T, res *gwapi.Result, name string) []metav1.Condition {
	t.Helper()
	st := res.Policies[types.NamespacedName{Namespace: "infra", Name: name}]
	require.NotEmpty(t, st, "status of policy %s", name)
	var out []metav1.Condition
	for _, a := range st {
		require.Len(t, a.Conditions, 1)
		out = append(out, a.Conditions[0])
	}
	return out
}

func requireAccepted(t *testing.T, res *gwapi.Result, name string) {
	t.Helper()
	for _, c := range policyAccepted(t, res, name) {
		require.Equal(t, metav1.ConditionTrue, c.Status, "%s: %s", name, c.Message)
	}
}

func requireRefused(t *testing.T, res *gwapi.Result, name, reason, msg string) {
	t.Helper()
	for _, c := range policyAccepted(t, res, name) {
		require.Equal(t, metav1.ConditionFalse, c.Status, "%s should be refused", name)
		require.Equal(t, reason, c.Reason, name)
		require.Contains(t, c.Message, msg, name)
	}
}

// issuer is a JWT issuer with an inline JWKS (as a JSON string, for a manifest).
type issuer struct {
	jwks   string
	signer jose.Signer
}

func newIssuer(t *testing.T) *issuer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Use: "sig"}}})
	require.NoError(t, err)
	jwks, err := json.Marshal(string(set))
	require.NoError(t, err)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k"}}, nil)
	require.NoError(t, err)
	return &issuer{jwks: string(jwks), signer: signer}
}

func (i *issuer) mint(t *testing.T, sub string) string {
	tok, err := josejwt.Signed(i.signer).Claims(map[string]any{"iss": "https://issuer.example", "aud": "api", "sub": sub,
		"exp": time.Now().Add(time.Hour).Unix()}).Serialize()
	require.NoError(t, err)
	return tok
}

// bearer adds a token to every request.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// backend.mcp.authorization on an MCP AgentgatewayBackend, with the caller authenticated by a
// traffic.jwtAuthentication on the route: a go-sdk server's "secret" tool is hidden from alice's
// tool list and her call to it refused, while admin lists and calls it. A policy whose rule does not
// compile, and one putting backend.mcp on a static backend, are refused with the field named.
func TestBackendPolicyMCPAuthorizationByJWTSubject(t *testing.T) {
	iss := newIssuer(t)
	s := sdk.NewServer(&sdk.Implementation{Name: "tools", Version: "1"}, nil)
	for _, name := range []string{"echo", "secret"} {
		s.AddTool(&sdk.Tool{Name: name, InputSchema: map[string]any{"type": "object"}}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: name + " ran"}}}, nil
		})
	}
	up := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, &sdk.StreamableHTTPOptions{DisableLocalhostProtection: true}))
	t.Cleanup(up.Close) // after the gateway has ended its sessions with it
	res, url := serveDialing(t, agwGateway+`
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: tools, namespace: infra}
spec:
  mcp:
    targets:
    - name: everything
      static: {host: mcp.infra.svc.cluster.local, port: 80}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: plain, namespace: infra}
spec: {static: {host: plain.infra, port: 80}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mcp, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /mcp}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: authn, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: mcp}]
  traffic:
    jwtAuthentication: {mode: strict, issuer: https://issuer.example, audiences: [api], jwks: `+iss.jwks+`}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: tool-rules, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
  backend:
    mcp:
      authorization: {rules: ['mcp.tool.name == "echo" || jwt.sub == "admin"']}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: bad-rule, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
  backend:
    mcp:
      authorization: {rules: ['mcp.tool.name +']}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: not-mcp, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: plain}]
  backend:
    mcp:
      authorization: {rules: ['true']}
`, map[string]string{"mcp.infra.svc.cluster.local:80": up.Listener.Addr().String()})
	requireAccepted(t, res, "authn")
	requireAccepted(t, res, "tool-rules")
	requireRefused(t, res, "bad-rule", "Invalid", "backend.mcp.authorization.rules[0]")
	requireRefused(t, res, "not-mcp", "Invalid", "backend.mcp applies to an mcp backend")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	session := func(sub string) *sdk.ClientSession {
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
			&sdk.StreamableClientTransport{Endpoint: url + "/mcp", MaxRetries: -1, DisableStandaloneSSE: true,
				HTTPClient: &http.Client{Transport: bearer(iss.mint(t, sub))}}, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = cs.Close() })
		return cs
	}
	tools := func(cs *sdk.ClientSession) []string {
		list, err := cs.ListTools(ctx, nil)
		require.NoError(t, err)
		var names []string
		for _, tl := range list.Tools {
			names = append(names, tl.Name)
		}
		sort.Strings(names)
		return names
	}
	call := func(cs *sdk.ClientSession, tool string) (string, bool) {
		out, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: map[string]any{}})
		if err != nil || out.IsError {
			return "", false
		}
		return out.Content[0].(*sdk.TextContent).Text, true
	}

	alice := session("alice")
	require.Equal(t, []string{"echo"}, tools(alice), "secret is hidden from alice")
	got, ok := call(alice, "echo")
	require.True(t, ok)
	require.Equal(t, "echo ran", got)
	_, ok = call(alice, "secret")
	require.False(t, ok, "alice may not call secret")

	admin := session("admin")
	require.Equal(t, []string{"echo", "secret"}, tools(admin))
	got, ok = call(admin, "secret")
	require.True(t, ok)
	require.Equal(t, "secret ran", got)

	resp, err := http.Post(url+"/mcp", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the route's jwtAuthentication still applies")
}

// llmStub is an OpenAI-wire chat completions server that answers only requests carrying its key.
type llmStub struct {
	mu     sync.Mutex
	calls  int
	models []string
}

func (s *llmStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer sk-test" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"bad key `+r.Header.Get("Authorization")+`","type":"invalid_request_error"}}`)
		return
	}
	var req struct {
		Model string `json:"model"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	s.calls++
	s.models = append(s.models, req.Model)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, req.Model)
}

// backend.ai and backend.auth (secretRef) on an AI AgentgatewayBackend: the provider stub gets the
// Secret's key and the aliased model; a prompt the promptGuard rejects never reaches it. An ai body
// package config refuses, backend.ai on a static backend, and a key read from a file are refused
// with the field named.
func TestBackendPolicyAIPromptGuardAndKey(t *testing.T) {
	stub := &llmStub{}
	up := httptest.NewServer(stub)
	t.Cleanup(up.Close) // after the gateway has ended its sessions with it
	res, url := serveDialing(t, agwGateway+`
---
apiVersion: v1
kind: Secret
metadata: {name: llm-key, namespace: infra}
stringData: {Authorization: "Bearer sk-test"}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: llm, namespace: infra}
spec:
  ai:
    provider: {openai: {}, host: llm.infra, port: 80}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: plain, namespace: infra}
spec: {static: {host: plain.infra, port: 80}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: llm, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: llm, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  backend:
    auth: {secretRef: {name: llm-key}}
    ai:
      promptGuard:
        request:
        - regex: {action: reject, rules: [{builtin: ssn}]}
          rejection: {status: 400, body: "no SSNs"}
      modelAliases: {fast: gpt-4o-mini}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: bad-guard, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  backend:
    ai: {promptGuard: {request: [{regex: {rules: [{pattern: "("}]}}]}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: not-ai, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: plain}]
  backend:
    ai: {modelAliases: {a: b}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: key-file, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: llm}]
  backend:
    auth: {key: {file: /var/run/secrets/kubernetes.io/serviceaccount/token}}
`, map[string]string{"llm.infra:80": up.Listener.Addr().String()})
	requireAccepted(t, res, "llm")
	requireRefused(t, res, "bad-guard", "Invalid", "backend.ai.promptGuard")
	requireRefused(t, res, "not-ai", "Invalid", "backend.ai applies to an ai backend")
	requireRefused(t, res, "key-file", "Invalid", "backend.auth: key: a file reference")

	chat := func(content string) (int, string) {
		resp, err := http.Post(url+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"fast","messages":[{"role":"user","content":`+fmt.Sprintf("%q", content)+`}]}`))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := chat("hi")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "hello")
	code, body = chat("my ssn is 123-45-6789")
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "no SSNs")
	stub.mu.Lock()
	defer stub.mu.Unlock()
	require.Equal(t, 1, stub.calls, "the rejected prompt never reached the provider")
	require.Equal(t, []string{"gpt-4o-mini"}, stub.models, "modelAliases")
}

// backend.tls on an AgentgatewayBackend and on a Service: requests reach a TLS upstream verified
// with the CA of a ConfigMap, with backend.auth's key; without that CA (system roots) the handshake
// fails (502), the route's own backend.tls notwithstanding (the backend's is the more specific). A
// backend.tls naming a missing ConfigMap is refused.
func TestBackendPolicyTLSWithCAFromConfigMap(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "tls="+r.TLS.ServerName+" auth="+r.Header.Get("Authorization"))
	}))
	t.Cleanup(up.Close) // after the gateway has ended its sessions with it
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})
	caYAML, err := json.Marshal(string(ca))
	require.NoError(t, err)
	res, url := serveDialing(t, agwGateway+`
---
apiVersion: v1
kind: ConfigMap
metadata: {name: upstream-ca, namespace: infra}
data: {ca.crt: `+string(caYAML)+`}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: secure, namespace: infra}
spec: {static: {host: secure.infra, port: 443}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: untrusted, namespace: infra}
spec: {static: {host: secure.infra, port: 443}}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: infra}
spec:
  ports: [{name: https, port: 443}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc, namespace: infra, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
ports: [{name: https, port: 8443}]
endpoints: [{addresses: [10.9.9.9]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /secure}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: secure}]
  - matches: [{path: {type: PathPrefix, value: /untrusted}}]
    backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: untrusted}]
  - matches: [{path: {type: PathPrefix, value: /svc}}]
    backendRefs: [{name: svc, port: 443}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: secure, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: secure}]
  backend:
    tls: {caCertificateRefs: [{name: upstream-ca}], sni: example.com}
    auth: {key: k1}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: untrusted, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: untrusted}]
  backend:
    tls: {sni: example.com}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: svc, namespace: infra}
spec:
  targetRefs: [{group: "", kind: Service, name: svc, sectionName: https}]
  backend:
    tls: {caCertificateRefs: [{name: upstream-ca}], verifySubjectAltNames: [example.com]}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: on-route, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  backend:
    tls: {caCertificateRefs: [{name: upstream-ca}]}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: no-ca, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: secure}]
  backend:
    tls: {caCertificateRefs: [{name: nope}]}
`, map[string]string{"secure.infra:443": up.Listener.Addr().String(), "10.9.9.9:8443": up.Listener.Addr().String()})
	requireAccepted(t, res, "secure")
	requireAccepted(t, res, "svc")
	requireAccepted(t, res, "on-route")
	requireRefused(t, res, "no-ca", "Invalid", "backend.tls: caCertificateRefs: configmap infra/nope not found")

	get := func(path string) (int, string) {
		resp, err := http.Get(url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/secure")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "tls=example.com auth=Bearer k1", body)
	code, body = get("/svc")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "tls=svc.infra.svc.cluster.local auth=", body, "a Service's SNI is its cluster name; the SAN list verifies")
	code, _ = get("/untrusted")
	require.Equal(t, http.StatusBadGateway, code, "the upstream's CA is not a system root")
}

// The example in examples/gatewayapi/ai.yaml is served, its provider pointed at a local stub: the
// Secret's key reaches the provider, the alias is resolved, an SSN prompt is rejected.
func TestExampleAIManifestServes(t *testing.T) {
	b, err := os.ReadFile("../examples/gatewayapi/ai.yaml")
	require.NoError(t, err)
	manifests := strings.ReplaceAll(string(b), "namespace: demo", "namespace: infra")
	manifests = strings.ReplaceAll(manifests, "name: agents\n  namespace", "name: gw\n  namespace")
	manifests = strings.ReplaceAll(manifests, "- name: agents", "- name: gw")
	manifests = strings.ReplaceAll(manifests, "sk-replace-me", "sk-test")
	manifests = strings.ReplaceAll(manifests, "openai: {}", "openai: {}\n      host: llm.infra\n      port: 80")
	stub := &llmStub{}
	up := httptest.NewServer(stub)
	t.Cleanup(up.Close)
	res, url := serveDialing(t, manifests, map[string]string{"llm.infra:80": up.Listener.Addr().String()})
	requireAccepted(t, res, "openai")
	post := func(content string) int {
		resp, err := http.Post(url+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"fast","messages":[{"role":"user","content":`+fmt.Sprintf("%q", content)+`}]}`))
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, post("hello"))
	require.Equal(t, http.StatusBadRequest, post("ssn 123-45-6789"))
	stub.mu.Lock()
	defer stub.mu.Unlock()
	require.Equal(t, []string{"gpt-4o-mini"}, stub.models)
}

// backend.tls on an MCP AgentgatewayBackend: the federation reaches its target over TLS, verified
// with the ConfigMap's CA.
func TestBackendPolicyTLSToMCPTarget(t *testing.T) {
	up := httptest.NewTLSServer(mcpServer("over-tls"))
	t.Cleanup(up.Close)
	ca, err := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})))
	require.NoError(t, err)
	res, url := serveDialing(t, agwGateway+`
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: infra}
data: {ca.crt: `+string(ca)+`}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: tools, namespace: infra}
spec:
  mcp:
    targets:
    - name: secure
      static: {host: mcp.infra, port: 443}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mcp, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: tls, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: tools}]
  backend:
    tls: {caCertificateRefs: [{name: ca}], sni: example.com}
`, map[string]string{"mcp.infra:443": up.Listener.Addr().String()})
	requireAccepted(t, res, "tls")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: url + "/mcp", MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer func() { _ = cs.Close() }()
	out, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{}})
	require.NoError(t, err)
	require.False(t, out.IsError)
	require.Equal(t, "over-tls", out.Content[0].(*sdk.TextContent).Text)
}

// A policy that does not fit its target is refused there with why (and the reason Gateway API
// names), and attaches nothing; of two policies giving one backend auth, the older one's applies.
func TestBackendPolicyTargetFitAndPrecedence(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}))
	t.Cleanup(up.Close)
	res, url := serveDialing(t, agwGateway+`
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: echo, namespace: infra}
spec: {static: {host: echo.infra, port: 80}}
---
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: infra}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: newer, namespace: infra, creationTimestamp: "2026-06-01T00:00:00Z"}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  backend: {auth: {key: newer}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: older, namespace: infra, creationTimestamp: "2025-06-01T00:00:00Z"}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  backend: {auth: {key: older}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: traffic-on-backend, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo}]
  traffic: {directResponse: {status: 200}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: ai-on-service, namespace: infra}
spec:
  targetRefs: [{group: "", kind: Service, name: svc}]
  backend: {ai: {modelAliases: {a: b}}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: missing, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: nope}, {group: "", kind: Service, name: svc, sectionName: grpc}]
  backend: {auth: {key: k}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: section, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: echo, sectionName: t}]
  backend: {auth: {key: k}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: elsewhere, namespace: infra}
spec:
  targetRefs: [{group: example.io, kind: Thing, name: x}]
  backend: {auth: {key: k}}
`, map[string]string{"echo.infra:80": up.Listener.Addr().String()})
	requireAccepted(t, res, "newer")
	requireAccepted(t, res, "older")
	requireRefused(t, res, "traffic-on-backend", "Invalid", "traffic applies to a Gateway, HTTPRoute or GRPCRoute")
	requireRefused(t, res, "ai-on-service", "Invalid", "not to a Service")
	requireRefused(t, res, "missing", "TargetNotFound", "")
	requireRefused(t, res, "section", "Invalid", "sectionName on an AgentgatewayBackend")
	requireRefused(t, res, "elsewhere", "Invalid", "targetRef example.io/Thing is not supported")

	resp, err := http.Get(url + "/")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Equal(t, "Bearer older", string(b), "the older policy's auth wins; traffic-on-backend attached nothing")
}
