package gwapi

import (
	"cmp"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/a2a"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
	"github.com/agentgw/agentgateway/llm"
	"github.com/agentgw/agentgateway/mcp"
	"github.com/agentgw/agentgateway/policy"
)

// The Service appProtocols that mark MCP ports for an MCP selector target.
var mcpAppProtocols = []string{"agentgateway.dev/mcp", "kgateway.dev/mcp"}

// agwBackend resolves a backendRef to an AgentgatewayBackend. One handler is built per backend per
// translation, so every listener (and the status pass) shares it.
func (t *translator) agwBackend(fromKind, routeNS string, ref gwv1.BackendObjectReference) (http.Handler, *refError) {
	ns := routeNS
	if ref.Namespace != nil && string(*ref.Namespace) != routeNS {
		ns = string(*ref.Namespace)
		if !t.granted(groupGateway, fromKind, routeNS, agwv1a1.GroupName, agwv1a1.KindBackend, ns, string(ref.Name)) {
			return nil, &refError{string(gwv1.RouteReasonRefNotPermitted), fmt.Sprintf("no ReferenceGrant lets %s refer to %s %s/%s", routeNS, agwv1a1.KindBackend, ns, ref.Name)}
		}
	}
	key := nn(ns, string(ref.Name))
	if m, ok := t.agwBuilt[key]; ok {
		return m.h, m.err
	}
	var b *agwv1a1.AgentgatewayBackend
	for i := range t.snap.Backends {
		if t.snap.Backends[i].Namespace == ns && t.snap.Backends[i].Name == string(ref.Name) {
			b = &t.snap.Backends[i]
		}
	}
	var (
		h    http.Handler
		rerr *refError
	)
	if b == nil {
		rerr = &refError{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s %s/%s not found", agwv1a1.KindBackend, ns, ref.Name)}
	} else if built, err := t.buildAgwBackend(b); err != nil {
		rerr = &refError{string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("%s %s/%s: %v", agwv1a1.KindBackend, ns, ref.Name, err)}
	} else {
		h = built
	}
	t.agwBuilt[key] = builtBackend{h, rerr}
	return h, rerr
}

type builtBackend struct {
	h   http.Handler
	err *refError
}

func hostPort(host string, port int32) (string, error) {
	if host == "" || port <= 0 || port > 65535 {
		return "", fmt.Errorf("host %q port %d: %w", host, port, ErrUnsupported)
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

// buildAgwBackend builds the handler of one AgentgatewayBackend, with the backend policies of the
// AgentgatewayPolicies that target it (backend_policy.go): tls changes how it connects, auth (which
// replaces spec.policies.auth), mcp and ai wrap it.
func (t *translator) buildAgwBackend(b *agwv1a1.AgentgatewayBackend) (http.Handler, error) {
	s := &b.Spec
	set := 0
	for _, on := range []bool{s.Static != nil, s.AI != nil, s.MCP != nil, s.A2A != nil} {
		if on {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("exactly one of static, ai, mcp and a2a must be set")
	}
	key, hasKey, err := t.backendKey(b)
	if err != nil {
		return nil, err
	}
	bs := t.backendSetFor(agwv1a1.KindBackend, b.Namespace, b.Name)
	if bs == nil {
		bs = &backendSet{}
	}
	var ps []agentgateway.Policy
	if bs.auth != nil { // the policy's auth replaces the backend's own
		hasKey = false
		switch {
		case s.AI != nil && bs.aiKey != nil: // the provider's own key header
			key, hasKey = *bs.aiKey, true
		case s.AI != nil && bs.aiPassthrough:
		default:
			ps = append(ps, bs.auth)
		}
	}
	scheme := "http://"
	if bs.tls != nil {
		scheme = "https://"
	}
	name := b.Namespace + "/" + b.Name
	// The clients an MCP federation or LLM router make themselves get one TLS transport, whose
	// pooled connections close with the backend.
	var tlsRT *http.Transport
	if bs.tls != nil && (s.AI != nil || s.MCP != nil) {
		tlsRT = t.transports.tlsTransport(bs.tls)
	}
	var h http.Handler
	switch {
	case s.Static != nil:
		hp, err := hostPort(s.Static.Host, s.Static.Port)
		if err != nil {
			return nil, err
		}
		if h, err = t.httpBackend(name, scheme+hp, bs.tls); err != nil {
			return nil, err
		}
	case s.A2A != nil:
		hp, err := hostPort(s.A2A.Host, s.A2A.Port)
		if err != nil {
			return nil, err
		}
		up, err := t.httpBackend(name, scheme+hp+strings.TrimSuffix(s.A2A.Path, "/"), bs.tls)
		if err != nil {
			return nil, err
		}
		h = a2a.Proxy(up)
	case s.AI != nil:
		if h, err = t.aiBackend(name, &s.AI.Provider, key, hasKey, tlsRT); err != nil {
			return nil, err
		}
		hasKey = false // sent by the provider upstream
	case s.MCP != nil:
		if h, err = t.mcpBackend(b, tlsRT); err != nil {
			return nil, err
		}
	}
	if hasKey {
		p, err := policy.NewBackendAuth(policy.BackendAuthConfig{Key: &policy.KeyAuth{Value: key}})
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	ps = append(append(ps, bs.mcp...), bs.ai...)
	if bs.tls != nil {
		ps = append(ps, ownTLS) // backend_tls_route.go
	}
	if tlsRT != nil {
		return withPolicies(h, ps, closeIdle{tlsRT}), nil
	}
	return withPolicies(h, ps), nil
}

// httpBackend is a plain proxy to one endpoint ("host:port" or a URL), through the translation's
// dialer when one is set; tlsc (backend.tls) is the TLS of an https endpoint.
func (t *translator) httpBackend(name, endpoint string, tlsc *tls.Config) (http.Handler, error) {
	cfg := agentgateway.HTTPBackendConfig{Name: name, Endpoints: []string{endpoint}, EjectAfter: -1, Transport: t.transports.get(false)}
	if tlsc != nil {
		cfg.Transport, cfg.TLS, cfg.Dial = nil, tlsc, t.transports.dialer()
	}
	return agentgateway.NewHTTPBackend(cfg)
}

// backendKey reads spec.policies.auth: the inline key or the Secret's "Authorization" entry.
func (t *translator) backendKey(b *agwv1a1.AgentgatewayBackend) (string, bool, error) {
	if b.Spec.Policies == nil || b.Spec.Policies.Auth == nil {
		return "", false, nil
	}
	a := b.Spec.Policies.Auth
	switch {
	case a.Key != nil:
		return *a.Key, true, nil
	case a.SecretRef != nil:
		sec := t.secrets[nn(b.Namespace, a.SecretRef.Name)]
		if sec == nil {
			return "", false, fmt.Errorf("auth secret %s/%s not found", b.Namespace, a.SecretRef.Name)
		}
		v, ok := sec.Data["Authorization"]
		if !ok {
			v, ok = []byte(sec.StringData["Authorization"]), sec.StringData["Authorization"] != ""
		}
		if !ok {
			return "", false, fmt.Errorf("auth secret %s/%s has no Authorization entry", b.Namespace, a.SecretRef.Name)
		}
		return strings.TrimSpace(strings.TrimPrefix(string(v), "Bearer ")), true, nil
	}
	return "", false, nil
}

// aiBackend is the LLM router with one catch-all model on the provider.
func (t *translator) aiBackend(name string, p *agwv1a1.LLMProvider, key string, hasKey bool, tlsRT *http.Transport) (http.Handler, error) {
	var opts []llm.UpstreamOption
	if hasKey {
		opts = append(opts, llm.APIKey(key))
	} else {
		opts = append(opts, llm.PassthroughKey())
	}
	if p.Host != "" || p.Port != 0 {
		hp, err := hostPort(p.Host, p.Port)
		if err != nil {
			return nil, err
		}
		if tlsRT != nil { // a host override alone means plain HTTP (a local stub) unless on 443
			opts = append(opts, llm.BaseURL("https://"+hp+"/v1"))
		} else {
			opts = append(opts, llm.HostOverride(hp))
		}
	}
	if p.Path != "" {
		opts = append(opts, llm.PathOverride(p.Path))
	}
	if tlsRT != nil {
		opts = append(opts, llm.Transport(tlsRT))
	} else if rt := t.transports.get(false); rt != nil {
		opts = append(opts, llm.Transport(rt))
	}
	var (
		up    *llm.Upstream
		model *string
	)
	switch {
	case p.OpenAI != nil && p.Anthropic == nil:
		up, model = llm.OpenAI(opts...), p.OpenAI.Model
	case p.Anthropic != nil && p.OpenAI == nil:
		up, model = llm.Anthropic(opts...), p.Anthropic.Model
	default:
		return nil, fmt.Errorf("ai.provider: set exactly one of openai and anthropic")
	}
	if model != nil && *model != "" {
		llm.UpstreamModel(*model)(up)
	}
	r, err := llm.New(llm.Model("*", up))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// mcpBackend federates the backend's targets. The session key is kept per backend for the
// controller's life, so a retranslation's federation resumes the sessions of the previous one.
func (t *translator) mcpBackend(b *agwv1a1.AgentgatewayBackend, tlsRT *http.Transport) (http.Handler, error) {
	cfg := mcp.Config{SessionKey: t.transports.sessionKey(b.Namespace + "/" + b.Name), Logger: t.opts.Logger}
	switch {
	case tlsRT != nil:
		cfg.HTTPClient = &http.Client{Transport: tlsRT}
	case t.transports.get(false) != nil:
		cfg.HTTPClient = &http.Client{Transport: t.transports.get(false)}
	}
	for i, tg := range b.Spec.MCP.Targets {
		switch {
		case tg.Static != nil:
			hp, err := hostPort(tg.Static.Host, tg.Static.Port)
			if err != nil {
				return nil, fmt.Errorf("mcp.targets[%d]: %w", i, err)
			}
			cfg.Targets = append(cfg.Targets, mcpTarget(tg.Name, hp, tg.Static.Path, tg.Static.Protocol))
		case tg.Selector != nil:
			ts, err := t.mcpSelected(b.Namespace, tg.Selector)
			if err != nil {
				return nil, fmt.Errorf("mcp.targets[%d]: %w", i, err)
			}
			cfg.Targets = append(cfg.Targets, ts...)
		default:
			return nil, fmt.Errorf("mcp.targets[%d]: set static or selector", i)
		}
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("mcp: no targets")
	}
	if tlsRT != nil {
		for i := range cfg.Targets {
			cfg.Targets[i].URL = "https://" + strings.TrimPrefix(cfg.Targets[i].URL, "http://")
		}
	}
	return mcp.New(cfg), nil
}

func mcpTarget(name, hostport, path string, proto agwv1a1.MCPProtocol) mcp.Target {
	if proto == agwv1a1.MCPSSE {
		if path == "" {
			path = "/sse"
		}
		return mcp.SSETarget(name, "http://"+hostport+path)
	}
	if path == "" {
		path = "/mcp"
	}
	return mcp.HTTPTarget(name, "http://"+hostport+path)
}

// mcpSelected lists the MCP ports of the Services a selector picks, reached by their cluster DNS
// names (the Service's "kgateway.dev/mcp-path" annotation sets the path).
func (t *translator) mcpSelected(ns string, sel *agwv1a1.MCPSelector) ([]mcp.Target, error) {
	nsSel, svcSel := labels.Nothing(), labels.Everything()
	var err error
	if sel.Namespaces != nil {
		if nsSel, err = metav1.LabelSelectorAsSelector(sel.Namespaces); err != nil {
			return nil, err
		}
	}
	if sel.Services != nil {
		if svcSel, err = metav1.LabelSelectorAsSelector(sel.Services); err != nil {
			return nil, err
		}
	}
	var out []mcp.Target
	for i := range t.snap.Services {
		s := &t.snap.Services[i]
		if !(s.Namespace == ns && sel.Namespaces == nil) && !nsSel.Matches(labels.Set(t.nsLabels[s.Namespace])) {
			continue
		}
		if !svcSel.Matches(labels.Set(s.Labels)) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.AppProtocol == nil || !slices.Contains(mcpAppProtocols, *p.AppProtocol) {
				continue
			}
			pn := p.Name
			if pn == "" {
				pn = strconv.Itoa(int(p.Port))
			}
			host := fmt.Sprintf("%s.%s.svc.cluster.local", s.Name, s.Namespace)
			out = append(out, mcpTarget(s.Name+"-"+pn, net.JoinHostPort(host, strconv.Itoa(int(p.Port))),
				s.Annotations["kgateway.dev/mcp-path"], agwv1a1.MCPStreamableHTTP))
		}
	}
	slices.SortFunc(out, func(a, b mcp.Target) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// policyTarget identifies what an AgentgatewayPolicy attaches to.
type policyTarget struct {
	kind, ns, name, section string
}

// indexPolicies groups the policies' translated forms by target, oldest policy first (its backend
// auth and tls win); a policy that does not translate, or does not fit a target, is reported in that
// ancestor's status and attaches nothing there.
func (t *translator) indexPolicies(res *Result) {
	order := make([]*agwv1a1.AgentgatewayPolicy, 0, len(t.snap.Policies))
	for i := range t.snap.Policies {
		order = append(order, &t.snap.Policies[i])
	}
	slices.SortStableFunc(order, func(a, b *agwv1a1.AgentgatewayPolicy) int {
		return cmp.Or(a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, p := range order {
		ps, err := t.trafficPolicies(p)
		var bs *backendSet
		if err == nil {
			bs, err = t.backendPolicies(p) // backend_policy.go
		}
		var st []gwv1.PolicyAncestorStatus
		for _, tr := range p.Spec.TargetRefs {
			section := ""
			if tr.SectionName != nil {
				section = string(*tr.SectionName)
			}
			reason, terr := string(gwv1.PolicyReasonInvalid), err
			if terr == nil {
				switch {
				case string(tr.Group) == groupGateway:
					var tp agentgateway.Policy
					if tp, terr = t.routeTLS(p, bs); terr != nil { // backend_tls_route.go
						break
					}
					k := policyTarget{string(tr.Kind), p.Namespace, string(tr.Name), section}
					t.policies[k] = append(t.policies[k], ps...)
					if bs != nil {
						t.policies[k] = append(t.policies[k], bs.routePolicies()...)
					}
					if tp != nil {
						t.policies[k] = append(t.policies[k], tp)
					}
				case string(tr.Group) == agwv1a1.GroupName && string(tr.Kind) == agwv1a1.KindBackend,
					tr.Group == "" && string(tr.Kind) == kindService:
					var r string
					if r, terr = t.attachBackendTarget(p, backendTarget{string(tr.Kind), p.Namespace, string(tr.Name), section}, bs); terr != nil {
						reason = r
					}
				default:
					terr = fmt.Errorf("targetRef %s/%s is not supported: target a Gateway, HTTPRoute, GRPCRoute, AgentgatewayBackend or Service", tr.Group, tr.Kind)
				}
			}
			accepted := cond(string(gwv1.PolicyConditionAccepted), true, string(gwv1.PolicyReasonAccepted), "accepted", p.Generation)
			if terr != nil {
				accepted = cond(string(gwv1.PolicyConditionAccepted), false, reason, terr.Error(), p.Generation)
			}
			st = append(st, gwv1.PolicyAncestorStatus{
				AncestorRef:    gwv1.ParentReference{Group: ptr(tr.Group), Kind: ptr(tr.Kind), Name: tr.Name, Namespace: ptr(gwv1.Namespace(p.Namespace)), SectionName: tr.SectionName},
				ControllerName: t.opts.ControllerName, Conditions: []metav1.Condition{accepted}})
		}
		res.Policies[nn(p.Namespace, p.Name)] = st
	}
}

// attachedPolicies returns the policies attached to an object and, if section is set, to that section.
func (t *translator) attachedPolicies(kind, ns, name, section string) []agentgateway.Policy {
	out := slices.Clone(t.policies[policyTarget{kind, ns, name, ""}])
	if section != "" {
		out = append(out, t.policies[policyTarget{kind, ns, name, section}]...)
	}
	return out
}

// trafficPolicies translates spec.traffic.
func (t *translator) trafficPolicies(p *agwv1a1.AgentgatewayPolicy) ([]agentgateway.Policy, error) {
	tp := p.Spec.Traffic
	if tp == nil {
		return nil, nil
	}
	var out []agentgateway.Policy
	if tp.CORS != nil {
		c, err := corsPolicy(tp.CORS)
		if err != nil {
			return nil, fmt.Errorf("traffic.cors: %w", err)
		}
		out = append(out, c)
	}
	if tp.RateLimit != nil && len(tp.RateLimit.Local) > 0 {
		var cfg policy.LocalRateLimitConfig
		for i, l := range tp.RateLimit.Local {
			rl, err := localRateLimit(l)
			if err != nil {
				return nil, fmt.Errorf("traffic.rateLimit.local[%d]: %w", i, err)
			}
			cfg.Limits = append(cfg.Limits, rl)
		}
		rp, err := policy.NewLocalRateLimit(cfg)
		if err != nil {
			return nil, fmt.Errorf("traffic.rateLimit: %w", err)
		}
		out = append(out, rp)
	}
	if a := tp.APIKeyAuthentication; a != nil {
		if a.SecretRef == nil {
			return nil, fmt.Errorf("traffic.apiKeyAuthentication: secretRef is required")
		}
		sec := t.secrets[nn(p.Namespace, a.SecretRef.Name)]
		if sec == nil {
			return nil, fmt.Errorf("traffic.apiKeyAuthentication: secret %s/%s not found", p.Namespace, a.SecretRef.Name)
		}
		cfg := policy.APIKeyConfig{}
		if a.Mode == agwv1a1.APIKeyOptional {
			cfg.Mode = policy.ModeOptional
		}
		names := make([]string, 0, len(sec.Data))
		for n := range sec.Data {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			cfg.Keys = append(cfg.Keys, policy.APIKey{Key: strings.TrimSpace(string(sec.Data[n])), Metadata: map[string]any{"name": n}})
		}
		ap, err := policy.NewAPIKey(cfg)
		if err != nil {
			return nil, fmt.Errorf("traffic.apiKeyAuthentication: %w", err)
		}
		out = append(out, ap)
	}
	if to := tp.Timeouts; to != nil && to.Request != nil {
		d := parseDuration(to.Request)
		if d <= 0 {
			return nil, fmt.Errorf("traffic.timeouts.request: %q is not a positive duration", *to.Request)
		}
		tp, err := policy.NewTimeout(policy.TimeoutConfig{RequestTimeout: d})
		if err != nil {
			return nil, fmt.Errorf("traffic.timeouts: %w", err)
		}
		out = append(out, tp)
	}
	sp, err := t.schemaPolicies(p)
	if err != nil {
		return nil, err
	}
	return append(out, sp...), nil
}

func localRateLimit(l agwv1a1.LocalRateLimit) (policy.RateLimit, error) {
	var per time.Duration
	switch l.Unit {
	case agwv1a1.Seconds:
		per = time.Second
	case agwv1a1.Minutes:
		per = time.Minute
	case agwv1a1.Hours:
		per = time.Hour
	default:
		return policy.RateLimit{}, fmt.Errorf("unit %q: %w", l.Unit, ErrUnsupported)
	}
	rl := policy.RateLimit{FillInterval: per}
	var n int32
	switch {
	case l.Requests != nil && l.Tokens == nil:
		n = *l.Requests
	case l.Tokens != nil && l.Requests == nil:
		n, rl.Type = *l.Tokens, policy.RateLimitTokens
	default:
		return rl, fmt.Errorf("set exactly one of requests and tokens")
	}
	if n <= 0 {
		return rl, fmt.Errorf("the limit must be positive")
	}
	burst := int32(0)
	if l.Burst != nil && *l.Burst > 0 {
		burst = *l.Burst
	}
	rl.TokensPerFill, rl.MaxTokens = uint64(n), uint64(n)+uint64(burst)
	return rl, nil
}

// sessionKey returns the MCP session key of a backend, made once per controller.
func (t *transports) sessionKey(backend string) []byte {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = map[string][]byte{}
	}
	k := t.keys[backend]
	if k == nil {
		k = make([]byte, 32)
		_, _ = rand.Read(k)
		t.keys[backend] = k
	}
	return k
}
