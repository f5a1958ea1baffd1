package gwapi_test

import (
	"strings"
	"testing"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// FuzzTranslate decodes arbitrary manifests and translates whatever decodes: translation must never
// panic on objects an API server would have rejected (the fake and DecodeManifests validate nothing).
func FuzzTranslate(f *testing.F) {
	f.Add(base)
	f.Add(base + `
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw, port: 8080, sectionName: http}]
  hostnames: ["*.example.com", "a.example.com"]
  rules:
  - matches: [{path: {type: RegularExpression, value: "/(a|b"}, headers: [{type: RegularExpression, name: x, value: "["}]}]
    filters:
    - {type: RequestRedirect, requestRedirect: {statusCode: 999, path: {type: ReplacePrefixMatch}}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: echo, port: 80}, fraction: {numerator: 5, denominator: 0}}}
    - {type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath}}}
    timeouts: {request: "-1s", backendRequest: bogus}
    retry: {attempts: 1000, codes: [1]}
    backendRefs: [{name: echo, port: 80, weight: -3}, {name: echo}]
`)
	f.Add("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: agw, listeners: [{name: a, protocol: HTTPS, port: 0, hostname: '*'}]}\n")
	f.Fuzz(func(t *testing.T, manifests string) {
		snap, err := gwapi.DecodeManifests(strings.NewReader(manifests))
		if err != nil {
			return
		}
		res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})
		gw := agentgateway.New()
		for _, cfg := range res.Configs {
			_ = gw.Apply(cfg) // invalid configurations are refused, never a panic
		}
		_ = gw.Close()
	})
}
