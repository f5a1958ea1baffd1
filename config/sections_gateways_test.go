package config_test

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// servePorts builds the config and serves each port it binds with a server of its own; it returns the
// URL of each port.
func servePorts(t *testing.T, yaml string, env map[string]string) map[int]string {
	return servePortsIn(t, ".", yaml, env)
}

// servePortsIn is servePorts with file names resolved against dir; ports whose listeners have TLS
// serve HTTPS.
func servePortsIn(t *testing.T, dir, yaml string, env map[string]string) map[int]string {
	t.Helper()
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	f.SetDir(dir)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	require.NoError(t, gw.Apply(rt.Config))
	urls := map[int]string{}
	for _, l := range rt.Config.Listeners {
		if _, ok := urls[l.Port]; ok {
			continue
		}
		srv := httptest.NewUnstartedServer(gw.PortHandler(l.Port))
		if l.TLS != nil {
			srv.TLS = l.TLS.Clone()
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		urls[l.Port] = srv.URL
	}
	t.Cleanup(func() { _ = rt.Close(); _ = gw.Close() })
	return urls
}

// get sends a GET (with Host when host is set) and returns the status and body.
func get(t *testing.T, url, host string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return send(t, req)
}

// insecure trusts any certificate: the HTTPS tests serve self-signed ones.
var insecure = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := insecure.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// echoUpstream answers with its name and the request path.
func echoUpstream(t *testing.T, name string) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name+" "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// Named gateways own ports; top-level routes attach to the gateway named "default" when they name
// none, to every listener of a named gateway, or to one listener by "gateway/listener".
func TestGatewaysAndAttachedRoutesServed(t *testing.T) {
	urls := servePorts(t, `
gateways:
  default:
    port: 3000
  api:
    port: 3001
    listeners:
    - name: a
      hostname: a.example.com
    - name: other
routes:
- name: plain
  backends: [{host: $A}]
- name: only-a
  gateways: api/a
  matches: [{path: {pathPrefix: /a}}]
  backends: [{host: $A}]
- name: every-api-listener
  gateways: [api]
  matches: [{path: {pathPrefix: /all}}]
  backends: [{host: $B}]
`, map[string]string{"A": echoUpstream(t, "a"), "B": echoUpstream(t, "b")})
	code, body := get(t, urls[3000]+"/x", "")
	assert.Equal(t, 200, code)
	assert.Equal(t, "a /x", body)

	code, body = get(t, urls[3001]+"/a/1", "a.example.com")
	assert.Equal(t, 200, code)
	assert.Equal(t, "a /a/1", body)
	code, _ = get(t, urls[3001]+"/a/1", "other.example.com")
	assert.Equal(t, 404, code, "only-a is on listener a only")
	for _, host := range []string{"a.example.com", "other.example.com"} {
		code, body = get(t, urls[3001]+"/all", host)
		assert.Equal(t, 200, code, host)
		assert.Equal(t, "b /all", body, host)
	}
	code, _ = get(t, urls[3001]+"/x", "a.example.com")
	assert.Equal(t, 404, code, "the default gateway's route is not on api")
}

func TestGatewayErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown gateway": {`
gateways: {default: {port: 3000}}
routes:
- gateways: nosuch
  backends: [{host: "127.0.0.1:1"}]
`, `routes[0].gateways: no gateway or gateway listener "nosuch"`},
		"no default": {`
gateways: {main: {port: 3000}}
routes:
- backends: [{host: "127.0.0.1:1"}]
`, `routes[0].gateways: no gateways given and there is no gateway named "default"`},
		"port twice": {`
binds: [{port: 3000, listeners: [{routes: [{backends: [{host: "127.0.0.1:1"}]}]}]}]
gateways: {default: {port: 3000}}
`, `gateways.default.port: port 3000 is bound twice`},
		"unknown protocol": {`
gateways: {default: {port: 3000, protocol: HBONE}}
`, `gateways.default.protocol: protocol "HBONE" is not one of HTTP, HTTPS, TCP, TLS`},
		"listeners and tls": {`
gateways: {default: {port: 3000, tls: {cert: a, key: b}, listeners: [{name: x}]}}
`, `gateways.default.listeners: with listeners, only port may be set`},
		"unknown field": {`
gateways: {default: {port: 3000, bogus: 1}}
`, `gateways.default.bogus: unknown field "bogus"`},
		"route matches": {`
gateways: {default: {port: 3000}}
routes:
- matches: [{path: {exact: /a, pathPrefix: /b}}]
  backends: [{host: "127.0.0.1:1"}]
`, `routes[0].matches[0].path: set exactly one of exact, pathPrefix, regex`},
		"gateway policy not allowed": {`
binds:
- port: 3000
  listeners:
  - policies: {timeout: {requestTimeout: 1s}}
    routes: [{backends: [{host: "127.0.0.1:1"}]}]
`, `binds[0].listeners[0].policies.timeout: "timeout" is not a gateway policy`},
		"gateway extProc": {`
gateways: {default: {port: 3000, extProc: {}}}
`, `gateways.default.extProc.host: set host or service`},
		"mcp port and gateways": {`
gateways: {default: {port: 3000}}
mcp: {port: 3001, gateways: default, targets: []}
`, `mcp.port: set gateways or port, not both`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rt, err := build(t, c.yaml, nil)
			if rt != nil {
				_ = rt.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// Policies of a gateway, a gateway listener or a bind listener run for every route attached to it,
// before the route's own: an API key checked by the listener comes before the route's header
// modifier and its direct response.
func TestListenerPoliciesRunBeforeRoutePolicies(t *testing.T) {
	up := echoUpstream(t, "up")
	for name, yaml := range map[string]string{
		"bind listener": `
binds:
- port: 3000
  listeners:
  - policies:
      apiKey: {keys: [{key: k1}], mode: strict}
    routes:
    - name: r
      matches: [{path: {pathPrefix: /direct}}]
      policies: {directResponse: {status: 299, body: direct}}
    - backends: [{host: $UP}]
`,
		"gateway": `
gateways:
  default:
    port: 3000
    apiKey: {keys: [{key: k1}], mode: strict}
routes:
- matches: [{path: {pathPrefix: /direct}}]
  policies: {directResponse: {status: 299, body: direct}}
- backends: [{host: $UP}]
`,
		"gateway listener": `
gateways:
  default:
    port: 3000
    listeners:
    - name: l
      apiKey: {keys: [{key: k1}], mode: strict}
routes:
- gateways: default/l
  matches: [{path: {pathPrefix: /direct}}]
  policies: {directResponse: {status: 299, body: direct}}
- gateways: default/l
  backends: [{host: $UP}]
`,
	} {
		t.Run(name, func(t *testing.T) {
			url := servePorts(t, yaml, map[string]string{"UP": up})[3000]
			code, _ := get(t, url+"/direct", "")
			assert.Equal(t, 401, code, "the listener's apiKey runs before the route's directResponse")
			code, body := get(t, url+"/direct", "", "Authorization", "Bearer k1")
			assert.Equal(t, 299, code)
			assert.Equal(t, "direct", body)
			code, _ = get(t, url+"/x", "")
			assert.Equal(t, 401, code)
			code, body = get(t, url+"/x", "", "Authorization", "Bearer k1")
			assert.Equal(t, 200, code)
			assert.Equal(t, "up /x", body)
		})
	}
}

// The llm and mcp short forms attach to named gateways (llm by `gateways`, mcp to the gateway named
// "default" when it names none and sets no port), and run the gateway's policies first.
func TestShortFormsAttachToGateways(t *testing.T) {
	oa := newLLMStub(t, "openai", false)
	urls := servePorts(t, `
gateways:
  default:
    port: 3000
  ai:
    port: 3001
    apiKey: {keys: [{key: k1}], mode: strict}
llm:
  gateways: ai
  models:
  - name: fast
    provider: openai
    params: {model: gpt-4o-mini, baseUrl: $OPENAI_URL/v1, apiKey: sk-cfg}
mcp:
  targets:
  - name: one
    mcp: {host: $ONE}
`, map[string]string{"OPENAI_URL": oa.URL, "ONE": mcpUpstream(t, "one")})
	require.Len(t, urls, 2, "no port of their own: llm is on ai, mcp on default")

	body := `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`
	status, _ := chat(t, urls[3001], "/v1/chat/completions", body)
	assert.Equal(t, 401, status, "the ai gateway's apiKey runs first")
	req, _ := http.NewRequest("POST", urls[3001]+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, string(b))
	assert.Contains(t, string(b), "from openai")

	names, _ := mcpToolNames(t, urls[3000]+"/mcp")
	assert.NotEmpty(t, names)
}

// Every gateway policy, set on a gateway (HTTPS) and on a gateway listener (HTTPS), runs for the
// routes attached to it: cors answers preflights, jwtAuth and basicAuth demand credentials, extAuthz
// asks its server, authorization denies, transformations set a header the upstream sees.
func TestGatewayPoliciesServed(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "gw")
	jwks, token := issuerJWKS(t)
	var authzCalls atomic.Int32
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authzCalls.Add(1)
		if r.Header.Get("X-Deny") != "" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	t.Cleanup(authz.Close)
	var fromGateway atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fromGateway.Store(r.Header.Get("X-From-Gateway"))
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	sum := sha1.Sum([]byte("pw"))
	htpasswd := "a:{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
	pols := func(indent string) string {
		return strings.ReplaceAll(`
cors: {allowOrigins: ["https://app.example.com"], allowMethods: [GET]}
jwtAuth: {mode: strict, issuer: https://issuer.example, jwks: {url: $JWKS}}
extAuthz: {host: $AUTHZ, protocol: {http: {}}, includeRequestHeaders: [x-deny]}
authorization: {rules: [{deny: 'request.headers["x-block"] == "1"'}]}
transformations: {request: {set: {x-from-gateway: '"yes"'}}}`, "\n", "\n"+indent)
	}
	yaml := `
gateways:
  default:
    port: 3000
    tls: {cert: gw.crt, key: gw.key}` + pols("    ") + `
  split:
    port: 3001
    listeners:
    - name: l
      hostname: l.example.com` + pols("      ") + `
    - name: basic
      basicAuth: {mode: strict, htpasswd: "` + htpasswd + `"}
  basic:
    port: 3002
    basicAuth: {mode: strict, htpasswd: "` + htpasswd + `"}
  secure:
    port: 3003
    listeners:
    - name: s
      protocol: HTTPS
      tls: {cert: gw.crt, key: gw.key}
routes:
- gateways: [default, split, basic, secure/s]
  backends: [{host: $UP}]
`
	urls := servePortsIn(t, dir, yaml, map[string]string{"JWKS": jwks, "AUTHZ": strings.TrimPrefix(authz.URL, "http://"), "UP": strings.TrimPrefix(up.URL, "http://")})
	for _, port := range []int{3000, 3001} {
		url := urls[port]
		req := func(method string, hdr ...string) *http.Request {
			r, _ := http.NewRequest(method, url+"/x", nil)
			r.Host = "l.example.com"
			for i := 0; i+1 < len(hdr); i += 2 {
				r.Header.Set(hdr[i], hdr[i+1])
			}
			return r
		}
		resp, err := insecure.Do(req("OPTIONS", "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "https://app.example.com", resp.Header.Get("Access-Control-Allow-Origin"), "cors, port %d", port)
		code, _ := send(t, req("GET"))
		assert.Equal(t, 401, code, "jwtAuth, port %d", port)
		bearer := "Bearer " + token
		calls := authzCalls.Load()
		code, _ = send(t, req("GET", "Authorization", bearer, "X-Deny", "1"))
		assert.Equal(t, 403, code, "extAuthz, port %d", port)
		assert.Greater(t, authzCalls.Load(), calls)
		code, _ = send(t, req("GET", "Authorization", bearer, "X-Block", "1"))
		assert.Equal(t, 403, code, "authorization, port %d", port)
		code, body := send(t, req("GET", "Authorization", bearer))
		assert.Equal(t, 200, code, "port %d", port)
		assert.Equal(t, "ok", body)
		assert.Equal(t, "yes", fromGateway.Load(), "transformations, port %d", port)
	}
	require.True(t, strings.HasPrefix(urls[3000], "https://"), "gateway tls")
	require.True(t, strings.HasPrefix(urls[3003], "https://"), "gateway listener tls")
	code, body := get(t, urls[3003]+"/x", "")
	assert.Equal(t, 200, code)
	assert.Equal(t, "ok", body)
	for _, c := range []struct {
		port int
		host string
	}{{3002, ""}, {3001, "other.example.com"}} {
		r, _ := http.NewRequest("GET", urls[c.port]+"/x", nil)
		r.Host = c.host
		code, _ := send(t, r)
		assert.Equal(t, 401, code, "basicAuth, port %d", c.port)
		r, _ = http.NewRequest("GET", urls[c.port]+"/x", nil)
		r.Host = c.host
		r.SetBasicAuth("a", "pw")
		code, _ = send(t, r)
		assert.Equal(t, 200, code, "basicAuth, port %d", c.port)
	}
}
