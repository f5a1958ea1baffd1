package gwapi

import (
	"encoding/json"
	"slices"

	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
	"github.com/agentgw/agentgateway/policy"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// specBackendBodies renders an accepted policy's spec.backend as the schema's policy objects, by
// key: backendAuth (Secret references resolved as the translation resolves them), mcpAuthentication,
// mcpAuthorization, ai and backendTLS (its certificates inline as PEM). why is set for what the
// document cannot carry, and the caller fails closed on it.
func (e *schemaEmitter) specBackendBodies(p *agwv1a1.AgentgatewayPolicy) (map[string]any, string) {
	bp := p.Spec.Backend
	who := "AgentgatewayPolicy " + p.Namespace + "/" + p.Name
	out := map[string]any{}
	if bp.TLS != nil {
		cfg, err := e.t.backendTLSConfig(p.Namespace, bp.TLS)
		if err != nil {
			return nil, who + " backend.tls: " + err.Error()
		}
		out["backendTLS"] = schemaBackendTLS(cfg)
	}
	put := func(key string, raw []byte) string {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return who + ": " + err.Error()
		}
		out[key] = v
		return ""
	}
	if bp.Auth != nil && len(bp.Auth.Raw) > 0 {
		body, err := e.t.authBody(p.Namespace, bp.Auth.Raw)
		if err != nil {
			return nil, who + " backend.auth: " + err.Error()
		}
		if why := put("backendAuth", body); why != "" {
			return nil, why
		}
	}
	fields := map[string]*apiextensionsv1.JSON{"ai": bp.AI}
	if m := bp.MCP; m != nil {
		fields["mcpAuthentication"], fields["mcpAuthorization"] = m.Authentication, m.Authorization
	}
	for key, j := range fields {
		if j != nil && len(j.Raw) > 0 {
			if why := put(key, j.Raw); why != "" {
				return nil, why
			}
		}
	}
	return out, ""
}

// backendTargetBodies merges spec.backend of the accepted policies that target the backend
// group/kind ns/name (a Service: also one of its ports, by name or number, as sections), in the
// translation's order (backendSetFor: the whole backend's policies, then the sections', each oldest
// first); a key two policies set is resolved by mergeFirst: the oldest policy's wins.
func (e *schemaEmitter) backendTargetBodies(group, kind, ns, name string, sections ...string) (map[string]any, string) {
	out := map[string]any{}
	byAge := e.policiesByAge()
	for _, whole := range []bool{true, false} {
		for _, p := range byAge {
			if p.Namespace != ns || p.Spec.Backend == nil || !e.policyAccepted(p) {
				continue
			}
			targets := false
			for _, tr := range p.Spec.TargetRefs {
				if string(tr.Group) == group && string(tr.Kind) == kind && string(tr.Name) == name &&
					(tr.SectionName == nil) == whole && (whole || slices.Contains(sections, string(*tr.SectionName))) {
					targets = true
				}
			}
			if !targets {
				continue
			}
			bodies, why := e.specBackendBodies(p)
			if why != "" {
				return nil, why
			}
			mergeFirst(out, bodies)
		}
	}
	return out, ""
}

// schemaBackendTLS is the schema's backendTLS for a resolved backend.tls, PEM inline.
func schemaBackendTLS(c policy.BackendTLSConfig) map[string]any {
	out := map[string]any{}
	for k, v := range map[string][]byte{"root": c.Root, "cert": c.Cert, "key": c.Key} {
		if len(v) > 0 {
			out[k] = string(v)
		}
	}
	if c.Hostname != "" {
		out["hostname"] = c.Hostname
	}
	if c.Insecure {
		out["insecure"] = true
	}
	if c.InsecureHost {
		out["insecureHost"] = true
	}
	if len(c.ALPN) > 0 {
		out["alpn"] = c.ALPN
	}
	if len(c.SubjectAltNames) > 0 {
		out["subjectAltNames"] = c.SubjectAltNames
	}
	return out
}
