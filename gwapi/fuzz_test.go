package gwapi_test

import (
	"log/slog"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/gwapi"
)

// FuzzTranslate decodes arbitrary manifests and translates whatever decodes: translation must never
// panic on objects an API server would have rejected (the fake and DecodeManifests validate nothing),
// every Gateway gets a status per listener, every route parent both conditions, and applying a
// configuration either works or is refused with an error.
//
// Throughput: the "few executions per minute" seen before were the fuzzing engine minimizing each
// new interesting input (up to -fuzzminimizetime, 60 s by default, executions uncounted, the other
// worker idle) on inputs parsed as YAML twice per document. Decoding now parses YAML once, seeds are
// small, one gateway is reused across inputs, and make fuzz bounds minimization (-fuzzminimizetime
// 5s): 60 s then run ~70k executions (~13k with the default minimization time).
func FuzzTranslate(f *testing.F) {
	f.Add(base)
	f.Add(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec: {gatewayClassName: agw, listeners: [{name: h, protocol: HTTP, port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw, port: 80, sectionName: h}]
  hostnames: ["*.example.com"]
  rules:
  - matches: [{path: {type: RegularExpression, value: "/(a|b"}, headers: [{type: RegularExpression, name: x, value: "["}]}]
    filters:
    - {type: RequestRedirect, requestRedirect: {statusCode: 999, path: {type: ReplacePrefixMatch}}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: echo, port: 80}, fraction: {numerator: 5, denominator: 0}}}
    timeouts: {request: "-1s", backendRequest: bogus}
    retry: {attempts: 1000, codes: [1]}
    backendRefs: [{name: echo, port: 80, weight: -3}, {name: echo}]
`)
	f.Add(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{method: {type: RegularExpression, service: "(", method: "a|b"}}, {method: {method: M}}]
    filters: [{type: ExtensionRef}]
    backendRefs: [{name: s, port: 1}]
`)
	f.Add(`apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: b}
spec: {mcp: {targets: [{name: t, static: {host: h, port: 0}}]}, ai: {provider: {}}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: p}
spec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}], traffic: {rateLimit: {local: [{requests: 0, unit: Hours}]}, timeouts: {request: 0s}}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: p}
spec: {selector: {matchLabels: {}}, targetPorts: [{number: -1}], endpointPickerRef: {name: e}}
`)
	// Frontend client-certificate validation with every kind of bad CA reference.
	f.Add(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: junk}
data: {ca.crt: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: agw
  tls:
    frontend:
      default: {validation: {mode: AllowInsecureFallback, caCertificateRefs: [{kind: ConfigMap, group: "", name: junk}, {kind: Secret, group: "", name: x}]}}
      perPort: [{port: 443, tls: {validation: {caCertificateRefs: [{kind: ConfigMap, group: "", name: c, namespace: other}]}}}, {port: 443, tls: {}}]
  listeners: [{name: h, protocol: HTTPS, port: 443, tls: {certificateRefs: [{name: s}]}}, {name: p, protocol: HTTP, port: 80}]
`)
	// Two BackendTLSPolicies on one target (the newer Conflicted), an AgentgatewayPolicy backend.tls
	// over them, a Gateway's parametersRef and static addresses of every kind, bad values included.
	f.Add(base + `---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: a, namespace: infra}
spec: {targetRefs: [{group: "", kind: Service, name: echo}, {group: "", kind: Service, name: echo}], validation: {wellKnownCACertificates: System, hostname: a}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: b, namespace: infra}
spec: {targetRefs: [{group: "", kind: Service, name: echo}], validation: {wellKnownCACertificates: System, hostname: b}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: p, namespace: infra}
spec: {targetRefs: [{group: "", kind: Service, name: echo}], backend: {tls: {}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw3, namespace: infra}
spec: {gatewayClassName: agw, infrastructure: {parametersRef: {group: "", kind: "", name: ""}}, listeners: [{name: h, protocol: HTTP, port: 9091}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw4, namespace: infra}
spec: {gatewayClassName: agw, addresses: [{value: "::zz"}, {type: IPAddress}, {type: Hostname, value: ""}, {value: "0.0.0.0"}, {value: "fe80::1%lo"}], listeners: [{name: h, protocol: HTTP, port: 9092}]}
`)
	// BackendTLSPolicies (a bad CA kind, none at all, a port section) and a Gateway's backend client
	// certificate from an empty Secret.
	f.Add(base + `---
apiVersion: v1
kind: Secret
metadata: {name: empty, namespace: infra}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: a, namespace: infra}
spec: {targetRefs: [{group: "", kind: Service, name: echo, sectionName: http}], validation: {caCertificateRefs: [{group: "", kind: Secret, name: x}], hostname: h}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: b, namespace: infra}
spec: {targetRefs: [{group: "", kind: Service, name: echo}], validation: {hostname: ""}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw2, namespace: infra}
spec: {gatewayClassName: agw, tls: {backend: {clientCertificateRef: {name: empty}}}, listeners: [{name: h, protocol: HTTP, port: 9090}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec: {parentRefs: [{name: gw}, {name: gw2}], rules: [{backendRefs: [{name: echo, port: 80}]}]}
`)
	// Schema-bodied policy fields (compiled by package config) with bodies it must refuse, and a route
	// the schema document renders (its document is loaded and built too).
	f.Add(base + `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: RegularExpression, value: "(("}, queryParams: [{name: "", value: x}], method: "BREW"}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath}}}]
    backendRefs: [{name: echo, port: 80, weight: 0}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: p, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  traffic: {jwtAuthentication: {jwks: "{"}, authorization: {rules: ["request.path +"]}, retry: [1], headerModifiers: {request: {set: 3}}, extAuth: {}, transformation: null}
`)
	// TLS and TCP listeners with routes, mirrors, CORS and a "$" the document must keep literal.
	f.Add(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec: {gatewayClassName: agw, listeners: [{name: t, protocol: TLS, port: 443, tls: {mode: Passthrough}}, {name: c, protocol: TCP, port: 9}, {name: h, protocol: HTTP, port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: t}
spec: {parentRefs: [{name: gw, sectionName: t}], hostnames: ["$x.example"], rules: [{backendRefs: [{name: s, port: 1}, {name: nope}]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: c}
spec: {parentRefs: [{name: gw, sectionName: c}], rules: [{backendRefs: []}, {backendRefs: [{name: s, port: 1, weight: -1}]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw, sectionName: h}]
  rules:
  - matches: [{path: {type: RegularExpression, value: "/a$"}}]
    filters:
    - {type: RequestMirror, requestMirror: {backendRef: {name: s, port: 1}, percent: 50}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: s}}}
    - {type: CORS, cors: {allowOrigins: ["$HOME"], maxAge: -1}}
    backendRefs: [{name: s, port: 1, filters: [{type: RequestRedirect, requestRedirect: {}}]}]
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {ports: [{port: 1}]}
`)
	f.Add("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: agw, listeners: [{name: a, protocol: HTTPS, port: 0, hostname: '*'}]}\n")
	// Backend policies: Kubernetes forms of backend.auth resolved before package config sees them
	// (secretRef, aws.secretRef), file references hidden in arrays, contradictory tls, a CA in a
	// ConfigMap that is no PEM, targets of every kind, unknown groups.
	f.Add(base + `---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca, namespace: infra}
data: {ca.crt: "not pem"}
---
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: infra}
stringData: {Authorization: "Bearer ", accessKey: a}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {name: b, namespace: infra}
spec: {mcp: {targets: [{name: t, static: {host: h, port: 1}}]}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: p, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: b}, {group: "", kind: Service, name: echo, sectionName: "80"}, {group: x.io, kind: Y, name: z}, {group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  backend:
    auth: {secretRef: {name: s}, aws: {secretRef: {name: s}, region: [{file: /etc/passwd}]}}
    tls: {caCertificateRefs: [{name: ca}, {name: ca}], insecureSkipVerify: All, verifySubjectAltNames: [a]}
    mcp: {authorization: {rules: ["mcp.tool.name =="]}, authentication: {jwks: {file: x}}}
    ai: {promptGuard: {request: [{regex: {rules: [{pattern: "("}]}}]}}
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: q, namespace: infra}
spec:
  targetRefs: [{group: agentgateway.dev, kind: AgentgatewayBackend, name: b}]
  backend: {tls: {caCertificateRefs: [{name: ca}]}, auth: {key: k}}
  traffic: {directResponse: {status: 99}, rateLimit: {global: {domain: d, descriptors: []}}, extProc: {}}
`)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	f.Cleanup(func() { _ = gw.Close() })
	f.Fuzz(func(t *testing.T, manifests string) {
		snap, err := gwapi.DecodeManifests(strings.NewReader(manifests))
		if err != nil {
			return
		}
		res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", Logger: slog.New(slog.DiscardHandler)})
		for i := range snap.Gateways {
			g := &snap.Gateways[i]
			st, ok := res.Gateways[nsName(g.Namespace, g.Name)]
			if ok && len(st.Listeners) != len(g.Spec.Listeners) {
				t.Fatalf("gateway %s/%s: %d listener statuses for %d listeners", g.Namespace, g.Name, len(st.Listeners), len(g.Spec.Listeners))
			}
		}
		for _, parents := range res.HTTPRoutes {
			for _, p := range parents {
				if len(p.Conditions) != 2 {
					t.Fatalf("route parent with %d conditions", len(p.Conditions))
				}
			}
		}
		seen := map[types.NamespacedName]int{}
		for i := range snap.Policies {
			seen[nsName(snap.Policies[i].Namespace, snap.Policies[i].Name)]++
		}
		for i := range snap.Policies {
			p := &snap.Policies[i]
			if st := res.Policies[nsName(p.Namespace, p.Name)]; seen[nsName(p.Namespace, p.Name)] == 1 && len(st) != len(p.Spec.TargetRefs) {
				t.Fatalf("policy %s/%s: %d ancestor statuses for %d targetRefs", p.Namespace, p.Name, len(st), len(p.Spec.TargetRefs))
			}
		}
		for _, cfg := range res.Configs {
			_ = gw.Apply(cfg) // invalid configurations are refused, never a panic
		}
		// The schema document of any translation is valid JSON that package config loads or refuses
		// with an error, never a panic.
		doc, err := gwapi.SchemaDocument(res)
		if err != nil {
			t.Fatalf("schema document: %v", err)
		}
		if cf, err := config.Load(doc, nil); err == nil {
			if rt, err := cf.Build(slog.New(slog.DiscardHandler)); err == nil {
				_ = rt.Close()
			}
		}
	})
}

func nsName(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}
