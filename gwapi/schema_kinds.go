package gwapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	infv1 "github.com/agentgw/agentgateway/gwapi/apis/inference/v1"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

// The parts of SchemaDocument beyond HTTPRoutes and Services: GRPCRoutes, TLSRoutes and TCPRoutes,
// AgentgatewayBackends, InferencePools and AgentgatewayPolicies.

// grpcRoutes renders one attached GRPCRoute's rules, as grpcRules builds them for the runtime.
func (e *schemaEmitter) grpcRoutes(a attachedHTTP, port int, gwPolicies map[string]any) []any {
	var r *gwv1.GRPCRoute
	for i := range e.t.snap.GRPCRoutes {
		if g := &e.t.snap.GRPCRoutes[i]; g.Namespace == a.meta.Namespace && g.Name == a.meta.Name {
			r = g
		}
	}
	if r == nil {
		return nil
	}
	var out []any
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		sr := schemaRule{name: ruleLabel(i, rule.Name), filters: grpcFilters(rule.Filters), grpc: true}
		for _, m := range rule.Matches {
			gm, err := grpcMatch(m)
			if err != nil {
				continue // an invalid match matches nothing (the status says UnsupportedValue)
			}
			sr.matches = append(sr.matches, schemaMatch(gm))
		}
		if len(rule.Matches) > 0 && len(sr.matches) == 0 {
			continue
		}
		for _, br := range rule.BackendRefs {
			sr.backends = append(sr.backends, schemaBackendRef{br.BackendObjectReference, br.Weight, grpcFilters(br.Filters)})
		}
		out = append(out, e.rule(kindGRPC, r.Namespace, r.Name, rule.Name, sr, a.hosts, port, gwPolicies))
	}
	return out
}

// l4Routes renders one attached TLSRoute or TCPRoute as tcpRoutes, one per rule with backends, as
// l4Rules builds them; a TLSRoute's hostnames select by SNI.
func (e *schemaEmitter) l4Routes(a attachedHTTP, sni bool) []any {
	type rule struct {
		name *gwv1.SectionName
		refs []gwv1.BackendRef
	}
	var rules []rule
	switch a.kind {
	case kindTLS:
		for i := range e.t.snap.TLSRoutes {
			if r := &e.t.snap.TLSRoutes[i]; r.Namespace == a.meta.Namespace && r.Name == a.meta.Name {
				for _, ru := range r.Spec.Rules {
					rules = append(rules, rule{ru.Name, ru.BackendRefs})
				}
			}
		}
	case kindTCP:
		for i := range e.t.snap.TCPRoutes {
			if r := &e.t.snap.TCPRoutes[i]; r.Namespace == a.meta.Namespace && r.Name == a.meta.Name {
				for _, ru := range r.Spec.Rules {
					rules = append(rules, rule{ru.Name, ru.BackendRefs})
				}
			}
		}
	default:
		return nil
	}
	var out []any
	for i, ru := range rules {
		if len(ru.refs) == 0 {
			continue
		}
		rt := map[string]any{"name": strings.ToLower(a.kind) + "." + a.meta.Namespace + "." + a.meta.Name + "." + ruleLabel(i, ru.name)}
		if sni && len(a.hosts) > 0 {
			rt["hostnames"] = a.hosts
		}
		var backends []any
		for _, br := range ru.refs {
			w := 1
			if br.Weight != nil {
				w = max(int(*br.Weight), 0)
			}
			eps, _, rerr := e.t.serviceEndpoints(a.kind, a.meta.Namespace, br.BackendObjectReference)
			ns, name, port := a.meta.Namespace, "invalid."+string(br.Name), 1
			if br.Namespace != nil {
				ns = string(*br.Namespace)
			}
			if rerr == nil {
				name, port = string(br.Name), int(*br.Port)
			} else {
				eps = nil // an invalid backend refuses its share of the connections
			}
			key := e.catalogService(ns, name, port, eps)
			backends = append(backends, map[string]any{"service": map[string]any{"name": key, "port": port}, "weight": w})
		}
		rt["backends"] = backends
		out = append(out, rt)
	}
	return out
}

// agwBackend renders an AgentgatewayBackend as the schema's backend of the same kind.
func (e *schemaEmitter) agwBackend(kind, routeNS string, ref gwv1.BackendObjectReference) (map[string]any, string) {
	if _, rerr := e.t.agwBackend(kind, routeNS, ref); rerr != nil { // built once per translation: cached
		return nil, rerr.msg
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	var b *agwv1a1.AgentgatewayBackend
	for i := range e.t.snap.Backends {
		if e.t.snap.Backends[i].Namespace == ns && e.t.snap.Backends[i].Name == string(ref.Name) {
			b = &e.t.snap.Backends[i]
		}
	}
	if b == nil {
		return nil, fmt.Sprintf("%s %s/%s not found", agwv1a1.KindBackend, ns, ref.Name)
	}
	var extra map[string]any // spec.backend of the policies that target this backend
	if e.t.backendSetFor(agwv1a1.KindBackend, ns, b.Name) != nil {
		var why string
		if extra, why = e.backendTargetBodies(agwv1a1.GroupName, agwv1a1.KindBackend, ns, b.Name); why != "" {
			return nil, why
		}
	}
	lift := liftFromBackend(extra, ns+"/"+b.Name) // schema_lift.go
	key, hasKey, err := e.t.backendKey(b)
	if err != nil {
		return nil, err.Error()
	}
	s := &b.Spec
	var out map[string]any
	pol := map[string]any{}
	switch {
	case s.Static != nil:
		out = map[string]any{"host": net.JoinHostPort(s.Static.Host, strconv.Itoa(int(s.Static.Port)))}
	case s.A2A != nil:
		out = map[string]any{"host": "http://" + net.JoinHostPort(s.A2A.Host, strconv.Itoa(int(s.A2A.Port))) + strings.TrimSuffix(s.A2A.Path, "/")}
		pol["a2a"] = map[string]any{}
	case s.AI != nil:
		p := &s.AI.Provider
		prov := map[string]any{}
		var model *string
		switch {
		case p.OpenAI != nil:
			prov["openAI"], model = map[string]any{}, p.OpenAI.Model
		case p.Anthropic != nil:
			prov["anthropic"], model = map[string]any{}, p.Anthropic.Model
		}
		if model != nil && *model != "" {
			for _, v := range prov {
				v.(map[string]any)["model"] = *model
			}
		}
		ai := map[string]any{"name": b.Namespace + "/" + b.Name, "provider": prov}
		if p.Host != "" || p.Port != 0 {
			ai["hostOverride"] = net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port)))
		}
		if p.Path != "" {
			ai["pathOverride"] = p.Path
		}
		// The key goes to the provider (the router's own auth), not to a backend policy.
		aiPol := map[string]any{}
		if hasKey {
			aiPol["backendAuth"] = map[string]any{"key": key}
		} else {
			aiPol["backendAuth"] = map[string]any{"passthrough": map[string]any{}}
		}
		for k, v := range extra { // a policy's backend.auth replaces the backend's own key
			aiPol[k] = v
		}
		ai["policies"] = aiPol
		return map[string]any{"ai": ai}, ""
	case s.MCP != nil:
		var targets []any
		for i, tg := range s.MCP.Targets {
			switch {
			case tg.Static != nil:
				targets = append(targets, schemaMCPTarget(tg.Name, tg.Static.Host, int(tg.Static.Port), tg.Static.Path, tg.Static.Protocol))
			case tg.Selector != nil:
				ts, err := e.mcpSelected(b.Namespace, tg.Selector)
				if err != nil {
					return nil, fmt.Sprintf("mcp.targets[%d]: %v", i, err)
				}
				targets = append(targets, ts...)
			}
		}
		// The controller's key for this backend, as the runtime's federation uses: sessions survive
		// a retranslation (a replica rebuilds its federation on every change) and every replica
		// resumes the others' sessions.
		out = map[string]any{"mcp": map[string]any{"targets": targets,
			"sessionKey": base64.StdEncoding.EncodeToString(e.t.transports.sessionKey(b.Namespace + "/" + b.Name))}}
	}
	if hasKey {
		pol["backendAuth"] = map[string]any{"key": map[string]any{"value": key}}
	}
	for k, v := range extra {
		pol[k] = v
	}
	if len(pol) > 0 {
		out["policies"] = pol
	}
	if lift != nil {
		out[liftedKey] = lift
	}
	return out, ""
}

func schemaMCPTarget(name, host string, port int, path string, proto agwv1a1.MCPProtocol) map[string]any {
	kind := "mcp"
	if proto == agwv1a1.MCPSSE {
		kind = "sse"
		if path == "" {
			path = "/sse"
		}
	} else if path == "" {
		path = "/mcp"
	}
	return map[string]any{"name": name, kind: map[string]any{"host": host, "port": port, "path": path}}
}

// mcpSelected renders the targets mcpSelected (the runtime's) picks, in its order.
func (e *schemaEmitter) mcpSelected(ns string, sel *agwv1a1.MCPSelector) ([]any, error) {
	ts, err := e.t.mcpSelected(ns, sel)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, tg := range ts {
		u := tg.URL
		rest, _ := strings.CutPrefix(u, "http://")
		hp, path, _ := strings.Cut(rest, "/")
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, err
		}
		p, _ := strconv.Atoi(port)
		out = append(out, schemaMCPTarget(tg.Name, host, p, "/"+path, agwv1a1.MCPStreamableHTTP))
	}
	return out, nil
}

// poolBackend renders an InferencePool: its ready pods (at each target port) as the workloads of a
// service of the document's catalog, behind the pool's endpoint picker (inferenceRouting).
func (e *schemaEmitter) poolBackend(kind, routeNS string, ref gwv1.BackendObjectReference) (map[string]any, string) {
	if _, rerr := e.t.inferencePool(kind, routeNS, ref); rerr != nil { // cached per translation
		return nil, rerr.msg
	}
	ns := routeNS
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	var p *infv1.InferencePool
	for i := range e.t.snap.InferencePools {
		if q := &e.t.snap.InferencePools[i]; q.Namespace == ns && q.Name == string(ref.Name) {
			p = q
		}
	}
	if p == nil || len(p.Spec.TargetPorts) == 0 {
		return nil, fmt.Sprintf("InferencePool %s/%s not found", ns, ref.Name)
	}
	sel := labels.SelectorFromSet(p.Spec.Selector.MatchLabels)
	var eps []string
	for i := range e.t.snap.Pods {
		pod := &e.t.snap.Pods[i]
		if pod.Namespace != p.Namespace || pod.Status.PodIP == "" || pod.DeletionTimestamp != nil || !podReady(pod) || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		for _, tp := range p.Spec.TargetPorts {
			eps = append(eps, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(tp.Number))))
		}
	}
	slices.Sort(eps)
	port := int(p.Spec.TargetPorts[0].Number)
	key := e.catalogService(ns, p.Name+".inferencepool", port, eps)
	out := map[string]any{"service": map[string]any{"name": key, "port": port}}
	if len(eps) == 0 {
		return out, "" // 503, as the runtime's empty pool answers
	}
	epp := p.Spec.EndpointPickerRef
	addr, err := e.t.serviceAddress(nn(p.Namespace, epp.Name), epp.Port.Number)
	if err != nil {
		return nil, err.Error()
	}
	ir := map[string]any{"endpointPicker": map[string]any{"host": addr}}
	if epp.FailureMode == infv1.EndpointPickerFailOpen {
		ir["failureMode"] = "failOpen" // config's extension: the schema's inferenceRouting has no failure mode
	}
	out["policies"] = map[string]any{"inferenceRouting": ir}
	return out, ""
}

// policiesOf renders the AgentgatewayPolicies attached to an object and, if section is set, to that
// section, as one schema policies object; only policies the translation accepted count. The order
// is the translation's (attachedPolicies): the object's policies, then the section's, each oldest
// first; a key two of them set is resolved by mergeFirst.
func (e *schemaEmitter) policiesOf(kind, ns, name, section string) map[string]any {
	out := map[string]any{}
	byAge := e.policiesByAge()
	secs := []string{""}
	if section != "" {
		secs = append(secs, section)
	}
	for _, sec := range secs {
		for _, p := range byAge {
			if p.Namespace != ns || (p.Spec.Traffic == nil && p.Spec.Backend == nil) || !e.policyAccepted(p) {
				continue
			}
			targets, bucket := false, ""
			for _, tr := range p.Spec.TargetRefs {
				if !targets && string(tr.Group) == groupGateway && string(tr.Kind) == kind && string(tr.Name) == name &&
					string(ptrOr(tr.SectionName)) == sec {
					// The translation compiles a policy once per target, so its local rate limit is
					// one set of buckets for every route and listener the target reaches.
					targets, bucket = true, p.Namespace+"/"+p.Name+" on "+kind+" "+name
					if sec != "" {
						bucket += "/" + sec
					}
				}
			}
			if !targets {
				continue
			}
			parts := map[string]any{}
			if p.Spec.Traffic != nil {
				parts = schemaTraffic(p, e.t, bucket)
			}
			if p.Spec.Backend != nil {
				bodies, why := e.specBackendBodies(p)
				if why != "" {
					return fail500(why)
				}
				mergeFirst(parts, bodies)
			}
			mergeRoute(out, parts)
		}
	}
	return out
}

func ptrOr[T ~string](p *T) T {
	if p == nil {
		return ""
	}
	return *p
}

func (e *schemaEmitter) policyAccepted(p *agwv1a1.AgentgatewayPolicy) bool {
	st := e.res.Policies[nn(p.Namespace, p.Name)]
	for _, a := range st {
		for _, c := range a.Conditions {
			if c.Type == string(gwv1.PolicyConditionAccepted) {
				return c.Status == "True"
			}
		}
	}
	return false
}

// schemaTraffic renders spec.traffic of an accepted policy by schema key; bucket names the
// policy's attachment, which its local rate limit's buckets are shared by (config's `shared`).
func schemaTraffic(p *agwv1a1.AgentgatewayPolicy, t *translator, bucket string) map[string]any {
	tp := p.Spec.Traffic
	out := map[string]any{}
	if tp.CORS != nil {
		out["cors"] = schemaCORS(tp.CORS)
	}
	if tp.RateLimit != nil && len(tp.RateLimit.Local) > 0 {
		var ls []any
		for i, l := range tp.RateLimit.Local {
			rl, err := localRateLimit(l)
			if err != nil {
				continue // accepted policies translate
			}
			typ := "requests"
			if rl.Type != 0 {
				typ = "tokens"
			}
			ls = append(ls, map[string]any{"maxTokens": rl.MaxTokens, "tokensPerFill": rl.TokensPerFill,
				"fillInterval": rl.FillInterval.String(), "type": typ, "shared": bucket + "#" + strconv.Itoa(i)})
		}
		out["localRateLimit"] = ls
	}
	if a := tp.APIKeyAuthentication; a != nil && a.SecretRef != nil {
		if sec := t.secrets[nn(p.Namespace, a.SecretRef.Name)]; sec != nil {
			var keys []any
			names := make([]string, 0, len(sec.Data))
			for n := range sec.Data {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				keys = append(keys, map[string]any{"key": strings.TrimSpace(string(sec.Data[n])), "metadata": map[string]any{"name": n}})
			}
			// Explicit: the schema's default mode is optional, the CRD's strict.
			ak := map[string]any{"keys": keys, "mode": "strict"}
			if a.Mode == agwv1a1.APIKeyOptional {
				ak["mode"] = "optional"
			}
			out["apiKey"] = ak
		}
	}
	if to := tp.Timeouts; to != nil && to.Request != nil {
		if d := parseDuration(to.Request); d > 0 {
			out["timeout"] = map[string]any{"requestTimeout": d.String()}
		}
	}
	for _, f := range schemaPolicyFields(tp) {
		if f.v == nil || len(f.v.Raw) == 0 {
			continue
		}
		var v any
		if json.Unmarshal(f.v.Raw, &v) == nil {
			out[f.key] = v
		}
	}
	return out
}
