package config

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// The `ai` policy (schema Policy under a route's or backend's `policies.ai`) and the guardrails and
// prompt caching of the `llm:` short form (LocalLLMModels.guardrails / promptCaching,
// LocalLLMPolicy.guardrails, LocalLLMProviderDefaults.promptCaching).
var llmPolicies = []PolicySection{
	Policy("ai", buildAIPolicy),
}

// aiPolicySpec is the schema's Policy (the `ai` route policy).
type aiPolicySpec struct {
	PromptGuard          *promptGuardSpec   `json:"promptGuard"`
	Defaults             map[string]any     `json:"defaults"`
	Overrides            map[string]any     `json:"overrides"`
	Transformations      map[string]string  `json:"transformations"`
	FinalTransformations map[string]string  `json:"finalTransformations"`
	Prompts              *promptsSpec       `json:"prompts"`
	ModelAliases         map[string]string  `json:"modelAliases"`
	PromptCaching        *promptCachingSpec `json:"promptCaching"`
	Routes               map[string]string  `json:"routes"`
	Models               []struct {
		ID      string `json:"id"`
		OwnedBy string `json:"ownedBy"`
		Created int64  `json:"created"`
	} `json:"models"`
}

// promptGuardSpec is the schema's PromptGuard.
type promptGuardSpec struct {
	Streaming string      `json:"streaming"`
	Request   []guardSpec `json:"request"`
	Response  []guardSpec `json:"response"`
}

// guardSpec is the schema's RequestGuard / ResponseGuard (scope only on requests).
type guardSpec struct {
	Rejection          *rejectionSpec    `json:"rejection"`
	Scope              []string          `json:"scope"`
	Regex              *regexSpec        `json:"regex"`
	Webhook            *webhookSpec      `json:"webhook"`
	OpenAIModeration   *moderationSpec   `json:"openAIModeration"`
	PromptInjection    *injectionSpec    `json:"promptInjection"`
	BedrockGuardrails  *bedrockGuardSpec `json:"bedrockGuardrails"`
	GoogleModelArmor   *modelArmorSpec   `json:"googleModelArmor"`
	AzureContentSafety *azureSafetySpec  `json:"azureContentSafety"`
}

type rejectionSpec struct {
	Body    bytesSpec      `json:"body"`
	Status  int            `json:"status"`
	Headers *headerModSpec `json:"headers"`
}

// bytesSpec is the schema's Bytes: a string or an array of byte values.
type bytesSpec string

func (b *bytesSpec) UnmarshalJSON(raw []byte) error {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		*b = bytesSpec(s)
		return nil
	}
	var arr []byte
	var ints []int
	if err := json.Unmarshal(raw, &ints); err != nil {
		return fmt.Errorf("want a string or an array of bytes")
	}
	for _, i := range ints {
		if i < 0 || i > 255 {
			return fmt.Errorf("byte %d out of range", i)
		}
		arr = append(arr, byte(i))
	}
	*b = bytesSpec(arr)
	return nil
}

type regexSpec struct {
	Action string `json:"action"`
	Rules  []struct {
		Builtin string `json:"builtin"`
		Pattern string `json:"pattern"`
	} `json:"rules"`
}

type webhookSpec struct {
	Target               BackendRef        `json:"target"`
	Headers              map[string]string `json:"headers"`
	ForwardHeaderMatches []struct {
		Name  string `json:"name"`
		Value struct {
			Exact string `json:"exact"`
			Regex string `json:"regex"`
		} `json:"value"`
	} `json:"forwardHeaderMatches"`
	FailureMode string `json:"failureMode"`
	// messageFormat raw, path and minSizeBytes: sections_llm_rawhook.go.
	MessageFormat string `json:"messageFormat"`
	Path          string `json:"path"`
	MinSizeBytes  *int   `json:"minSizeBytes"`
}

type moderationSpec struct {
	Model    string `json:"model"`
	Policies *struct {
		BackendAuth           *llmAuthSpec `json:"backendAuth"`
		RequestHeaderModifier Node         `json:"requestHeaderModifier"`
		Transformations       Node         `json:"transformations"`
		BackendTLS            Node         `json:"backendTLS"`
		HTTP                  Node         `json:"http"`
		TCP                   Node         `json:"tcp"`
		BackendTunnel         Node         `json:"backendTunnel"`
	} `json:"policies"`
}

type promptsSpec struct {
	Append  []promptMessageSpec `json:"append"`
	Prepend []promptMessageSpec `json:"prepend"`
}

type promptMessageSpec struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// promptCachingSpec is the schema's PromptCachingConfig; absent fields take the schema's defaults.
type promptCachingSpec struct {
	CacheSystem        *bool `json:"cacheSystem"`
	CacheMessages      *bool `json:"cacheMessages"`
	CacheTools         *bool `json:"cacheTools"`
	MinTokens          *int  `json:"minTokens"`
	CacheMessageOffset *int  `json:"cacheMessageOffset"`
}

func (s *promptCachingSpec) build(bc *BuildContext) (llm.PromptCaching, error) {
	pc := llm.DefaultPromptCaching()
	if s.CacheSystem != nil {
		pc.CacheSystem = *s.CacheSystem
	}
	if s.CacheMessages != nil {
		pc.CacheMessages = *s.CacheMessages
	}
	if s.CacheTools != nil {
		pc.CacheTools = *s.CacheTools
	}
	if s.MinTokens != nil {
		if *s.MinTokens < 0 {
			return pc, bc.Errorf("minTokens", "must not be negative")
		}
		pc.MinTokens = *s.MinTokens
	}
	if s.CacheMessageOffset != nil {
		if *s.CacheMessageOffset < 0 {
			return pc, bc.Errorf("cacheMessageOffset", "must not be negative")
		}
		pc.CacheMessageOffset = *s.CacheMessageOffset
	}
	return pc, nil
}

func buildAIPolicy(bc *BuildContext, s aiPolicySpec) (agentgateway.Policy, error) {
	routes, err := aiRoutes(bc, s.Routes) // sections_llm_routes.go
	if err != nil {
		return nil, err
	}
	p := llm.AIPolicy{Defaults: s.Defaults, Overrides: s.Overrides, Transformations: s.Transformations,
		FinalTransformations: s.FinalTransformations, ModelAliases: s.ModelAliases, Routes: routes}
	if s.Models != nil {
		p.Models = make([]llm.DeclaredModel, len(s.Models))
		for i, m := range s.Models {
			p.Models[i] = llm.DeclaredModel{ID: m.ID, OwnedBy: m.OwnedBy, Created: m.Created}
		}
	}
	if s.PromptGuard != nil {
		pg, err := buildPromptGuard(bc.At("promptGuard"), *s.PromptGuard)
		if err != nil {
			return nil, err
		}
		p.PromptGuard = &pg
	}
	if s.Prompts != nil {
		p.Prompts = &llm.Prompts{}
		for i, m := range s.Prompts.Prepend {
			if m.Role == "" {
				return nil, bc.Errorf(fmt.Sprintf("prompts.prepend[%d].role", i), "a role is required")
			}
			p.Prompts.Prepend = append(p.Prompts.Prepend, llm.PromptMessage{Role: m.Role, Content: m.Content})
		}
		for i, m := range s.Prompts.Append {
			if m.Role == "" {
				return nil, bc.Errorf(fmt.Sprintf("prompts.append[%d].role", i), "a role is required")
			}
			p.Prompts.Append = append(p.Prompts.Append, llm.PromptMessage{Role: m.Role, Content: m.Content})
		}
	}
	if s.PromptCaching != nil {
		pc, err := s.PromptCaching.build(bc.At("promptCaching"))
		if err != nil {
			return nil, err
		}
		p.PromptCaching = &pc
	}
	pol, err := llm.NewAIPolicy(p)
	if err != nil {
		return nil, bc.Wrap(err)
	}
	return pol, nil
}

// buildPromptGuard builds a PromptGuard; errors name the guard's path.
func buildPromptGuard(bc *BuildContext, s promptGuardSpec) (llm.PromptGuard, error) {
	var pg llm.PromptGuard
	switch s.Streaming {
	case "", "Disabled":
		pg.PassStreams = true // agentgateway's default: streamed answers are not guarded
	case "Enabled":
	default:
		return pg, bc.Errorf("streaming", "want Enabled or Disabled, got %q", s.Streaming)
	}
	for i, g := range s.Request {
		guard, err := buildGuard(bc.At(fmt.Sprintf("request[%d]", i)), g, true)
		if err != nil {
			return pg, err
		}
		pg.Request = append(pg.Request, guard)
	}
	for i, g := range s.Response {
		guard, err := buildGuard(bc.At(fmt.Sprintf("response[%d]", i)), g, false)
		if err != nil {
			return pg, err
		}
		pg.Response = append(pg.Response, guard)
	}
	return pg, nil
}

func buildGuard(bc *BuildContext, s guardSpec, request bool) (*llm.Guard, error) {
	n := 0
	for _, set := range []bool{s.Regex != nil, s.Webhook != nil, s.OpenAIModeration != nil, s.PromptInjection != nil,
		s.BedrockGuardrails != nil, s.GoogleModelArmor != nil, s.AzureContentSafety != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		kinds := "regex, webhook, openAIModeration, promptInjection, bedrockGuardrails, googleModelArmor, azureContentSafety"
		if !request {
			kinds = "regex, webhook, bedrockGuardrails, googleModelArmor, azureContentSafety"
		}
		return nil, bc.Errorf("", "set exactly one of %s", kinds)
	}
	g, err := buildCloudGuard(bc, s, request)
	if err != nil {
		return nil, err
	}
	switch {
	case g != nil:
	case s.Regex != nil:
		var rules []llm.Rule
		for i, r := range s.Regex.Rules {
			switch {
			case r.Builtin != "" && r.Pattern == "":
				rules = append(rules, llm.Builtin(r.Builtin))
			case r.Pattern != "" && r.Builtin == "":
				rules = append(rules, llm.Pattern(r.Pattern))
			default:
				return nil, bc.Errorf(fmt.Sprintf("regex.rules[%d]", i), "set exactly one of builtin, pattern")
			}
		}
		action := llm.Action(s.Regex.Action)
		if action == "" {
			action = llm.Mask
		}
		g = llm.Regex(action, rules...)
	case s.Webhook != nil:
		w, err := buildWebhookGuard(bc.At("webhook"), *s.Webhook)
		if err != nil {
			return nil, err
		}
		g = w
	case s.PromptInjection != nil:
		if !request {
			return nil, bc.Errorf("promptInjection", "applies to request guards only")
		}
		pi, err := s.PromptInjection.build(bc.At("promptInjection"))
		if err != nil {
			return nil, err
		}
		g = pi
	case s.OpenAIModeration != nil:
		if !request {
			return nil, bc.Errorf("openAIModeration", "applies to request guards only")
		}
		m := s.OpenAIModeration
		g = llm.Moderation().Model(m.Model)
		if p := m.Policies; p != nil {
			pbc := bc.At("openAIModeration.policies")
			if err := notYet(pbc, map[string]Node{"requestHeaderModifier": p.RequestHeaderModifier, "transformations": p.Transformations,
				"backendTLS": p.BackendTLS, "http": p.HTTP, "tcp": p.TCP, "backendTunnel": p.BackendTunnel}); err != nil {
				return nil, err
			}
			if a := p.BackendAuth; a != nil {
				if a.Key == nil {
					return nil, pbc.Errorf("backendAuth", "only key is supported")
				}
				key, err := a.Key.load(pbc, "backendAuth.key")
				if err != nil {
					return nil, err
				}
				g = g.Key(strings.TrimSpace(string(key)))
			}
		}
	}
	if len(s.Scope) > 0 {
		if !request {
			return nil, bc.Errorf("scope", "applies to request guards only")
		}
		var scopes []llm.Scope
		for _, sc := range s.Scope {
			scopes = append(scopes, llm.Scope(sc))
		}
		g = g.Scope(scopes...)
	}
	if r := s.Rejection; r != nil {
		rej := llm.Rejection{Status: r.Status, Body: string(r.Body)}
		if h := r.Headers; h != nil {
			rej.Set, rej.Add, rej.Remove = h.Set, h.Add, h.Remove
		}
		g = g.Rejecting(rej)
	}
	if err := g.Err(); err != nil {
		return nil, bc.Wrap(err)
	}
	return g, nil
}

func buildWebhookGuard(bc *BuildContext, s webhookSpec) (*llm.Guard, error) {
	var g *llm.Guard
	switch t := s.Target; {
	case t.Host != "" && t.Service == nil && t.Backend == "":
		u := t.Host
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		g = llm.Webhook(u)
	case t.Service != nil && t.Host == "" && t.Backend == "":
		hp, err := bc.Service("target.service", *t.Service)
		if err != nil {
			return nil, err
		}
		g = llm.Webhook("http://" + hp)
	case t.Backend != "" && t.Host == "" && t.Service == nil:
		h, err := bc.At("target").Backend(t)
		if err != nil {
			return nil, err
		}
		g = llm.Webhook("http://" + t.Backend).ViaHandler(h)
	default:
		return nil, bc.Errorf("target", "set exactly one of host, service, backend")
	}
	for name, expr := range s.Headers {
		g = g.HeaderExpr(name, expr)
	}
	for i, f := range s.ForwardHeaderMatches {
		fbc := bc.At(fmt.Sprintf("forwardHeaderMatches[%d]", i))
		if f.Name == "" || strings.HasPrefix(f.Name, ":") {
			return nil, fbc.Errorf("name", "want a header name")
		}
		var match func(string) bool
		switch {
		case f.Value.Exact != "" && f.Value.Regex == "":
			exact := f.Value.Exact
			match = func(v string) bool { return v == exact }
		case f.Value.Regex != "" && f.Value.Exact == "":
			re, err := regexp.Compile("^(?:" + f.Value.Regex + ")$")
			if err != nil {
				return nil, fbc.Errorf("value.regex", "%v", err)
			}
			match = re.MatchString
		case f.Value.Regex == "" && f.Value.Exact == "":
		default:
			return nil, fbc.Errorf("value", "set exactly one of exact, regex")
		}
		g = g.ForwardHeader(f.Name, match)
	}
	g, raw, err := rawWebhook(bc, s, g)
	if err != nil {
		return nil, err
	}
	switch s.FailureMode {
	case "":
		if raw { // a raw processor (compression) is an optimisation: by default it fails open
			g = g.FailOpen()
		}
	case "failClosed":
	case "failOpen":
		g = g.FailOpen()
	default:
		return nil, bc.Errorf("failureMode", "want failClosed or failOpen, got %q", s.FailureMode)
	}
	return g, nil
}

// splitLLMPolicies takes `guardrails` out of the short form's `policies` (the other keys are route
// policies) and builds it.
func splitLLMPolicies(bc *BuildContext, n Node) (Node, *llm.PromptGuard, error) {
	if n.IsZero() || n.n.Kind != yaml.MappingNode {
		return n, nil, nil
	}
	rest := *n.n
	rest.Content = nil
	var guard *llm.PromptGuard
	for i := 0; i+1 < len(n.n.Content); i += 2 {
		if n.n.Content[i].Value != "guardrails" {
			rest.Content = append(rest.Content, n.n.Content[i], n.n.Content[i+1])
			continue
		}
		gn := Node{n: n.n.Content[i+1], path: joinPath(n.path, "guardrails")}
		if gn.IsZero() {
			continue
		}
		spec, err := Decode[promptGuardSpec](gn)
		if err != nil {
			return n, nil, err
		}
		pg, err := buildPromptGuard(bc.At("guardrails"), spec)
		if err != nil {
			return n, nil, err
		}
		guard = &pg
	}
	return Node{n: &rest, path: n.path}, guard, nil
}

// modelGovernance builds a model's guardrails and prompt caching (falling back to its provider's).
func modelGovernance(bc *BuildContext, guardrails, caching, providerCaching Node) ([]llm.ModelOption, error) {
	var opts []llm.ModelOption
	if !guardrails.IsZero() {
		spec, err := Decode[promptGuardSpec](guardrails)
		if err != nil {
			return nil, err
		}
		pg, err := buildPromptGuard(bc.At("guardrails"), spec)
		if err != nil {
			return nil, err
		}
		opts = append(opts, llm.ModelGuardrails(pg))
	}
	field := "promptCaching"
	if caching.IsZero() {
		caching, field = providerCaching, providerCaching.Path()
	}
	if !caching.IsZero() {
		spec, err := Decode[promptCachingSpec](caching)
		if err != nil {
			return nil, err
		}
		cbc := bc.At(field)
		if field != "promptCaching" { // the provider's defaults.promptCaching: report its own path
			sub := *bc
			sub.Path = field
			cbc = &sub
		}
		pc, err := spec.build(cbc)
		if err != nil {
			return nil, err
		}
		opts = append(opts, llm.ModelPromptCaching(pc))
	}
	return opts, nil
}
