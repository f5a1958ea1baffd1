package config_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

func upstream(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		_ = json.NewEncoder(w).Encode(map[string]any{"name": name, "path": r.URL.Path, "host": r.Host, "headers": r.Header})
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

const sample = `
binds:
- port: 3000
  listeners:
  - name: main
    protocol: HTTP
    routes:
    - name: api
      hostnames: ["api.example.com"]
      matches:
      - path: {pathPrefix: /api}
        headers:
        - name: x-version
          value: {regex: "v[0-9]+"}
        query:
        - name: debug
          value: {exact: "1"}
      policies:
        urlRewrite:
          path: {prefix: /}
        requestHeaderModifier:
          set: {x-gateway: agw}
          remove: [x-secret]
        responseHeaderModifier:
          add: {x-served-by: "$SERVED_BY"}
      backends:
      - host: $UP_A
        weight: 3
      - host: $UP_B
        weight: 1
    - name: old
      matches:
      - path: {exact: /old}
      policies:
        requestRedirect:
          scheme: https
          authority: {host: new.example.com}
          path: {full: /new}
          status: 301
    - name: teapot
      matches:
      - path: {regex: "/tea(pot)?"}
        method: GET
      policies:
        directResponse:
          status: 418
          body: "I'm a teapot"
    - name: fallback
      backends:
      - host: $UP_A
`

func build(t *testing.T, yaml string, env map[string]string) (*config.Runtime, error) {
	t.Helper()
	f, err := config.Load([]byte(yaml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return nil, err
	}
	return f.Build(slog.New(slog.DiscardHandler))
}

func TestSampleConfig(t *testing.T) {
	env := map[string]string{"UP_A": upstream(t, "a"), "UP_B": upstream(t, "b"), "SERVED_BY": "test"}
	rt, err := build(t, sample, env)
	require.NoError(t, err)
	defer rt.Close()
	require.Equal(t, 3000, rt.Config.Listeners[0].Port)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, gw.Apply(rt.Config))
	defer gw.Close()
	srv := httptest.NewServer(gw.PortHandler(rt.Config.Listeners[0].Port)) // the port the file binds
	defer srv.Close()

	do := func(method, path string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		require.NoError(t, err)
		return resp
	}

	// Matches, rewrite, header modifiers and the weighted split.
	counts := map[string]int{}
	for range 400 {
		resp := do("GET", "/api/users?debug=1", map[string]string{"Host": "api.example.com", "X-Version": "v2", "X-Secret": "s"})
		var got struct {
			Name    string              `json:"name"`
			Path    string              `json:"path"`
			Headers map[string][]string `json:"headers"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		resp.Body.Close()
		require.Equal(t, "/users", got.Path)
		require.Equal(t, []string{"agw"}, got.Headers["X-Gateway"])
		require.NotContains(t, got.Headers, "X-Secret")
		require.Equal(t, "test", resp.Header.Get("X-Served-By"))
		counts[got.Name]++
	}
	assert.InDelta(t, 300, counts["a"], 60, "weights 3:1")
	assert.InDelta(t, 100, counts["b"], 60, "weights 3:1")

	// A failed header match falls through to the catch-all route.
	resp := do("GET", "/api/users?debug=1", map[string]string{"Host": "api.example.com", "X-Version": "beta"})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), `"path":"/api/users"`)

	resp = do("GET", "/old?x=1", nil)
	resp.Body.Close()
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "https://new.example.com/new?x=1", resp.Header.Get("Location"))

	resp = do("GET", "/teapot", nil)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 418, resp.StatusCode)
	require.Equal(t, "I'm a teapot", string(b))
	resp = do("POST", "/tea", nil)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "method mismatch falls back")
}

func TestErrorsNameFieldPaths(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown field": {`
binds:
- port: 1
  listeners:
  - routes:
    - name: a
      matches:
      - path: {prefx: /}
      backends: [{host: "127.0.0.1:1"}]`, `binds[0].listeners[0].routes[0].matches[0].path.prefx: unknown field "prefx"`},
		"wrong type": {`
binds:
- port: nope
  listeners: []`, `binds[0].port: want an integer, got "nope"`},
		"two path kinds": {`
binds:
- port: 1
  listeners:
  - routes:
    - matches:
      - path: {exact: /a, pathPrefix: /b}
      backends: [{host: "127.0.0.1:1"}]`, `binds[0].listeners[0].routes[0].matches[0].path: set exactly one of exact, pathPrefix, regex`},
		"bad regex": {`
binds:
- port: 1
  listeners:
  - routes:
    - name: r
      backends: [{host: "127.0.0.1:1"}]
    - name: s
      matches:
      - path: {regex: "("}
      backends: [{host: "127.0.0.1:1"}]`, `binds[0].listeners[0].routes[1].matches[0].path: invalid regex`},
		"unknown policy": {`
binds:
- port: 1
  listeners:
  - routes:
    - policies:
        teleport: {}
      backends: [{host: "127.0.0.1:1"}]`, `binds[0].listeners[0].routes[0].policies.teleport: unknown or unsupported policy "teleport"`},
		"bad filter": {`
binds:
- port: 1
  listeners:
  - routes:
    - policies:
        requestRedirect: {status: 200}
      backends: [{host: "127.0.0.1:1"}]`, `binds[0].listeners[0].routes[0].policies.requestRedirect: requestRedirect: status 200`},
		"backend without kind": {`
binds:
- port: 1
  listeners:
  - routes:
    - backends: [{weight: 1}]`, `binds[0].listeners[0].routes[0].backends[0]: a backend needs one of`},
		"two backend kinds": {`
binds:
- port: 1
  listeners:
  - routes:
    - backends: [{host: "a:1", service: {name: b, port: 1}}]`, `binds[0].listeners[0].routes[0].backends[0].service: a backend has one kind`},
		"missing env": {`
binds:
- port: 1
  listeners:
  - routes:
    - backends: [{host: "$NOPE"}]`, `binds[0].listeners[0].routes[0].backends[0].host: environment variable "NOPE" is not set`},
		"unknown top-level": {`
bindz: []`, `bindz: unknown field "bindz"`},
		"unsupported top-level": {`
ui: {}`, `ui: ui is not supported yet: there is no web UI`},
		"duplicate port": {`
binds:
- port: 1
  listeners: []
- port: 1
  listeners: []`, `binds[1].port: port 1 is bound twice`},
		"yaml syntax": {"binds: [", "parsing YAML"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := build(t, c.yaml, nil)
			require.Error(t, err)
			require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func TestEnvExpansion(t *testing.T) {
	f, err := config.Load([]byte(`
binds:
- port: 1
  listeners:
  - routes:
    - policies:
        directResponse: {status: 200, body: "cost: $$5 for ${WHO}"}`), func(k string) (string, bool) { return "you", k == "WHO" })
	require.NoError(t, err)
	rt, err := f.Build(nil)
	require.NoError(t, err)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, gw.Apply(rt.Config))
	w := httptest.NewRecorder()
	gw.PortHandler(1).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	require.Equal(t, "cost: $5 for you", w.Body.String())
}

func TestDumpRedactsSecrets(t *testing.T) {
	f, err := config.Load([]byte(`
binds:
- port: 1
  listeners:
  - routes:
    - policies:
        requestHeaderModifier: {set: {authorization: "Bearer $TOKEN"}}
      backends: [{host: "127.0.0.1:1"}]`), func(string) (string, bool) { return "s3cr3t", true })
	require.NoError(t, err)
	d, err := f.Dump()
	require.NoError(t, err)
	require.NotContains(t, string(d), "s3cr3t")
	require.Contains(t, string(d), `"port": 1`)
}

func FuzzLoad(f *testing.F) {
	f.Add(sample)
	f.Add("binds: [{port: 1, listeners: [{routes: [{matches: [{path: {regex: '('}}]}]}]}]")
	f.Add("binds: {}")
	f.Add("- 1\n- 2")
	f.Add("binds: [{port: 1, listeners: [{routes: [{backends: [{host: x, weight: -1}]}]}]}]")
	f.Add("a: &a [*a]")
	f.Add("binds: [{port: 1, listeners: [{protocol: HTTPS, tls: {cert: /dev/zero, key: /dev/zero, root: /dev/null}, routes: [{backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{protocol: HTTPS, hostname: a, tls: {cert: c, key: k}}, {protocol: HTTP, hostname: b}]}]")
	f.Add("binds: [{port: 1, listeners: [{protocol: HTTPS, tls: {cert: c, key: k, root: r, mtlsMode: allowInsecureFallback}}, {protocol: HTTPS, tls: {cert: c, key: k, mtlsMode: [1]}}]}]")
	f.Add("binds: [{port: 1, listeners: [{protocol: HTTPS, tls: {cert: c, key: k, mode: dynamicCa, additionalCertificates: [{cert: c}, {key: k}, {cert: /dev/zero, key: /dev/null}]}}]}]")
	// The list-or-object form of localRateLimit, and files that must be read with a bound.
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {localRateLimit: [{maxTokens: 1, tokensPerFill: 1, fillInterval: 1s, type: tokens}]}, backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {localRateLimit: {conditional: [{condition: 'true', maxTokens: 1}]}}, backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {localRateLimit: 7, jwtAuth: {issuer: i, jwks: {file: /dev/zero}}}, backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{backends: [{host: x, policies: {basicAuth: {htpasswd: {file: /dev/zero}}, backendAuth: {key: {value: {file: /dev/zero}}}}}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {extAuthz: {service: {name: a/b, port: 99999}, failureMode: {denyWithStatus: 700}}}, backends: [{host: x}]}]}]}]")
	// backendAuth's one-of shapes (key shorthand, session names, token endpoints), extAuthz cache, aws backends.
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {backendAuth: {key: {file: /dev/zero}, credentials: [{key: 1}, {location: {header: {name: ''}}, key: x}]}}, backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {backendAuth: {jwtSign: {signingKey: {file: /dev/zero}, claims: {exp: 1}, ttl: -1s}}}, backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {backendAuth: {oauthTokenExchange: {host: 'h:1', path: x, clientAuth: {method: privateKeyJwt, clientId: c, signingKey: '-----BEGIN PRIVATE KEY-----', assertionAudience: a}, cache: {maxEntries: -1}}}}, backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {backendAuth: {crossAppAccess: {identityProvider: {service: {name: a, port: 0}, clientAuth: {}}, resourceAuthorizationServer: {backend: b}, audience: [1]}}}, backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {backendAuth: {aws: {region: r, serviceName: s, assumeRole: {roleArn: a, sessionName: {expression: '('}, tags: [{key: '', value: v, expression: e}]}}}}, backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {backendAuth: {azure: {explicitConfig: {managedIdentity: {userAssignedIdentity: {clientId: a, objectId: b}}}}}}, backends: [{host: x}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {extAuthz: {host: h, cache: {key: [], ttl: '1', maxEntries: 0}, protocol: {http: {metadata: {a: 'response.body'}}}}}, backends: [{aws: {agentCore: {agentRuntimeArn: 'arn:aws:bedrock-agentcore:r:1:runtime/x', qualifier: [1]}}}]}]}]}]")
	// backendAuth.oauth and token endpoints by named backend: both shapes at once, a non-host or
	// policy-laden backend, a backendTLS root that is no file.
	f.Add("backends: [{name: t, host: 'h:1', policies: {backendTLS: {root: /dev/zero}}}, {name: m, mcp: {targets: []}}]\nbinds: [{port: 1, listeners: [{routes: [{policies: {backendAuth: {oauth: {tokenEndpoint: {backend: t, host: h}, tokenEndpointPath: [1], audiences: '//iam.googleapis.com/x'}, oauthTokenExchange: {backend: m}}}, backends: [{host: x, policies: {backendAuth: {oauth: {tokenEndpoint: {backend: m}, additionalParams: {a: '('}}}}}]}]}]}]")
	// Named backends: shared, chained, missing, malformed, referenced from MCP targets and mirrors.
	f.Add("backends: [{name: a, host: x}]\nbinds: [{port: 1, listeners: [{routes: [{backends: [{backend: a}, {backend: a, weight: 2}]}]}]}]")
	f.Add("backends: [{name: a, backend: a}, {name: a}, {host: x}, 7, [1]]\nbinds: [{port: 1, listeners: [{routes: [{backends: [{backend: b}]}]}]}]")
	f.Add("backends: [{name: {x: 1}, mcp: {targets: [{name: t, mcp: {backend: a}}]}}]\nbinds: [{port: 1, listeners: [{routes: [{policies: {requestMirror: {backend: {backend: a}, percentage: 1}}, backends: [{mcp: {targets: [{name: u, sse: {backend: a, host: y}}]}}]}]}]}]")
	f.Add("backends: [{name: h, host: x, policies: {backendAuth: {key: {value: k}}, cors: {}}}]\nbinds: [{port: 1, listeners: [{routes: [{backends: [{mcp: {targets: [{name: u, mcp: {backend: h}}]}}]}]}]}]")
	// The config section and frontendPolicies: one-of scalars, lists where objects go, CEL, nulls.
	f.Add("config: {logging: {level: [info, [debug]], format: json, filter: 'response.code > 1', fields: {add: {a: 'request.headers[\"x\"]'}, remove: [source]}}}")
	f.Add("config: {tracing: {otlpEndpoint: 'h:1', randomSampling: [1], clientSampling: .nan, fields: {add: {x: '('}}}, session: {key: ''}, mcp: {sessionTtl: -1s}}")
	f.Add("config: {tracing: {otlpEndpoint: 'h:1', randomSampling: '1e-400', clientSampling: {a: 1}}, histograms: [classic], sensitiveHeaders: [{}, ' ']}")
	f.Add("config: {logging: {level: 'info,,=x'}, metrics: {fields: {add: null}, remove: [null]}, xdsAddress: 1, adminAddr: [1]}")
	f.Add("frontendPolicies: {accessLog: {add: {a: 'mcp.tool.name'}}, logging: null, tracing: {host: h, attributes: {a: '1'}, resources: {service.name: '\"x\" + 1'}}, http: {http2WindowSize: 4294967296}}")
	f.Add("frontendPolicies: [1]\nconfig: null")
	// agentgateway's newer schema: gateways, attached routes, short forms by reference, services,
	// dynamic targets and health.
	f.Add("gateways: {default: {port: 1, apiKey: {keys: [{key: k}]}, listeners: [{name: a}, {name: a}]}, '': {port: 0}, x/y: 1}\nroutes: [{gateways: [default/a, nosuch, ''], backends: [{host: x}]}, 7]\nmcp: {gateways: [1], port: 2, targets: []}\nllm: {gateways: default, models: []}")
	f.Add("gateways: {default: {port: 1, protocol: TLS, tls: {cert: c, key: k, minTLSVersion: x}}}\nroutes: {}\nbinds: [{port: 1, listeners: [{policies: {timeout: 1, cors: null}}]}]")
	f.Add("services: [{namespace: n, hostname: h, ports: {'0': -1, x: 1}, appProtocols: {'80': Http3}, vips: [nope]}]\nworkloads: [{workloadIps: ['::1', x], status: Sick, services: {n/h: {'80': 0}}}]\nbinds: [{port: 1, listeners: [{routes: [{backends: [{service: {name: n/h, port: 80}}]}]}]}]")
	f.Add("policies: [{name: p, target: {route: {name: r}}, policy: {cors: {}}}, {name: q, target: {gateway: {gatewayName: g}}, phase: gateway, policy: 1}]\nrouteGroups: [{name: g, routes: [{matches: [{path: {exact: /a}}], backends: [{routeGroup: g}]}]}]\nbinds: [{port: 1, listeners: [{routes: [{name: r, matches: [{path: {pathPrefix: /a}, method: GET}], backends: [{routeGroup: g}]}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{backends: [{dynamic: {target: '1 +'}}, {dynamic: {target: 'request.host', allowPrivate: true}}, {host: x, policies: {health: {unhealthyExpression: 'response.code', eviction: {duration: -1s, consecutiveFailures: 0, restoreHealth: 1}}}}]}]}]}]")
	// Spellings newer than the schema (agentgateway's published examples): http backends, bind-less
	// extAuthz ports, MCP targets with host beside name, active health, mcpRemoteRateLimit, PascalCase
	// ai routes, htpasswdFile.
	f.Add("binds: [{port: 1, listeners: [{routes: [{backends: [{http: {hostname: '', port: 70000}}, {http: [1]}], policies: {basicAuth: {htpasswdFile: /dev/zero, htpasswd: x}}}]}]}]")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {extAuthz: {conditional: [{host: 'a:1', port: -1, headers: [1], protocol: http, path: '('}]}}, backends: [{mcp: {targets: [{name: t, host: '', port: 99999, path: 1, stdio: {cmd: x}}]}}]}]}]}]")
	f.Add("llm: {models: [{name: g, provider: openai, health: {eviction: {restoreHealth: 1.0}, active: {path: '', interval: 0s, timeout: -1s, healthyThreshold: -1, unhealthyThreshold: 0, expectedStatuses: [99, 600]}}}]}")
	f.Add("binds: [{port: 1, listeners: [{routes: [{policies: {mcpRemoteRateLimit: {domain: '', host: '', descriptors: [{entries: [{key: k, value: '('}], type: tokens}]}, ai: {routes: {/x: Models, /y: COMPLETIONS}}}, backends: [{host: x, policies: {health: {active: {}}}}]}]}]}]")
	f.Fuzz(func(t *testing.T, doc string) {
		file, err := config.Load([]byte(doc), func(string) (string, bool) { return "127.0.0.1:1", true })
		if err != nil {
			require.ErrorIs(t, err, agentgateway.ErrInvalidConfig, fmt.Sprintf("%q", doc))
			return
		}
		// What a valid file's settings compile to never fails or panics.
		_, err = file.AccessLogOptions()
		require.NoError(t, err, "%q", doc)
		_, err = file.SpanFields()
		require.NoError(t, err, "%q", doc)
		_, err = file.Dump()
		require.NoError(t, err)
		rt, err := file.Build(slog.New(slog.DiscardHandler))
		if err != nil {
			return
		}
		defer rt.Close()
		gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
		_ = gw.Apply(rt.Config)
	})
}
