package config

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/llm"
)

// The rows of package llm: the top-level short form `llm:` (schema LocalLLMConfig) and the route
// backend `ai` (schema LocalAIBackend). Both build an llm.Router; provider kinds the router has no
// wire for yet (gemini, vertex, bedrock, azure, copilot) are rejected at their path.
var (
	llmBackends = []BackendSection{
		Backend("ai", buildAIBackend),
	}
	llmTop = []TopSection{
		Top("llm", buildLLMShortForm),
	}
)

// DefaultLLMPort is the port of the `llm:` short form when it names none.
const DefaultLLMPort = 4000

// llmShortForm is the schema's LocalLLMConfig.
type llmShortForm struct {
	Gateways      Node              `json:"gateways"`
	Port          *int              `json:"port"`
	TLS           Node              `json:"tls"`
	Providers     []llmProviderSpec `json:"providers"`
	Models        []llmModelSpec    `json:"models"`
	VirtualModels []llmVirtualSpec  `json:"virtualModels"`
	Policies      Node              `json:"policies"`

	guard *llm.PromptGuard // policies.guardrails (sections_llm_ai.go)
}

// llmProviderSpec is the schema's LocalLLMProvider.
type llmProviderSpec struct {
	Name     string            `json:"name"`
	Params   llmParamsSpec     `json:"params"`
	Provider llmProviderKind   `json:"provider"`
	Defaults *llmProviderDflts `json:"defaults"`
}

// llmProviderDflts is the schema's LocalLLMProviderDefaults (the supported part).
type llmProviderDflts struct {
	Defaults        map[string]any `json:"defaults"`
	Overrides       map[string]any `json:"overrides"`
	Transformation  Node           `json:"transformation"`
	RequestHeaders  *headerModSpec `json:"requestHeaders"`
	ResponseHeaders Node           `json:"responseHeaders"`
	BackendTLS      Node           `json:"backendTLS"`
	TLS             Node           `json:"tls"`
	Auth            *llmAuthSpec   `json:"auth"`
	Health          Node           `json:"health"`
	BackendTunnel   Node           `json:"backendTunnel"`
	PromptCaching   Node           `json:"promptCaching"`
}

// llmModelSpec is the schema's LocalLLMModels.
type llmModelSpec struct {
	ID                  string          `json:"id"`
	Name                string          `json:"name"`
	Visibility          string          `json:"visibility"`
	Params              llmParamsSpec   `json:"params"`
	Provider            llmProviderKind `json:"provider"`
	Passthrough         Node            `json:"passthrough"`
	Authorization       Node            `json:"authorization"`
	Defaults            map[string]any  `json:"defaults"`
	Overrides           map[string]any  `json:"overrides"`
	Transformation      Node            `json:"transformation"`
	FinalTransformation Node            `json:"finalTransformation"`
	RequestHeaders      *headerModSpec  `json:"requestHeaders"`
	ResponseHeaders     Node            `json:"responseHeaders"`
	BackendTLS          Node            `json:"backendTLS"`
	TLS                 Node            `json:"tls"`
	Auth                *llmAuthSpec    `json:"auth"`
	Health              Node            `json:"health"`
	BackendTunnel       Node            `json:"backendTunnel"`
	Guardrails          Node            `json:"guardrails"`
	PromptCaching       Node            `json:"promptCaching"`
	Matches             Node            `json:"matches"`
	ServerTools         Node            `json:"serverTools"` // sections_llm_servertools.go
}

// llmParamsSpec is the schema's LocalLLMParams.
type llmParamsSpec struct {
	Model             string        `json:"model"`
	APIKey            *fileOrInline `json:"apiKey"`
	AWSRegion         string        `json:"awsRegion"`
	VertexRegion      string        `json:"vertexRegion"`
	VertexProject     string        `json:"vertexProject"`
	AzureResourceName string        `json:"azureResourceName"`
	AzureResourceType string        `json:"azureResourceType"`
	AzureAPIVersion   string        `json:"azureApiVersion"`
	AzureProjectName  string        `json:"azureProjectName"`
	// Bedrock guardrail of an ai backend's provider.bedrock (not a LocalLLMParams field).
	bedrockGuardrailID, bedrockGuardrailVersion string
	bedrockMetadata                             *[]llm.MetadataEntry // provider.bedrock.requestMetadata (a pointer: the struct is compared)
	BaseURL                                     string               `json:"baseUrl"`
	HostOverride                                string               `json:"hostOverride"`
	PathOverride                                string               `json:"pathOverride"`
	PathPrefix                                  *string              `json:"pathPrefix"`
	Tokenize                                    bool                 `json:"tokenize"`
}

// headerModSpec is the schema's HeaderModifier (add and set become set; remove is not supported).
type headerModSpec struct {
	Add    map[string]string `json:"add"`
	Set    map[string]string `json:"set"`
	Remove []string          `json:"remove"`
}

// llmProviderKind is the schema's LocalModelAIProvider: a builtin name, a preset name,
// {reference: name} or {custom: {...}}.
type llmProviderKind struct {
	Name      string
	Reference string
	Custom    *struct {
		Model            string `json:"model"`
		ProviderOverride string `json:"providerOverride"`
		Formats          []struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"formats"`
	}
}

func (k *llmProviderKind) UnmarshalJSON(b []byte) error {
	if err := unmarshalStrict(b, &k.Name); err == nil {
		return nil
	}
	var o struct {
		Reference string          `json:"reference"`
		Custom    json.RawMessage `json:"custom"`
	}
	if err := unmarshalStrict(b, &o); err != nil || (o.Reference == "") == (o.Custom == nil) {
		return fmt.Errorf("want a provider name, {reference: name} or {custom: {...}}")
	}
	k.Reference = o.Reference
	if o.Custom != nil {
		if err := unmarshalStrict(o.Custom, &k.Custom); err != nil {
			return fmt.Errorf("custom: %w", err)
		}
	}
	return nil
}

// llmAuthSpec is the schema's BackendAuthCompat: {key: "value" | {file}}, {key: {value}} or
// {passthrough: {}}.
type llmAuthSpec struct {
	Key         *fileOrInline
	Passthrough bool
	Other       string
	otherRaw    json.RawMessage // the aws, gcp or azure object (sections_llm_auth.go)
}

func (a *llmAuthSpec) UnmarshalJSON(b []byte) error {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(b, &o); err != nil || len(o) != 1 {
		return fmt.Errorf("want exactly one of key, passthrough")
	}
	for k, v := range o {
		switch k {
		case "passthrough":
			a.Passthrough = true
		case "key":
			var kv struct {
				Value fileOrInline `json:"value"`
			}
			if strings.Contains(string(v), `"value"`) && unmarshalStrict(v, &kv) == nil {
				a.Key = &kv.Value
				return nil
			}
			var f fileOrInline
			if err := f.UnmarshalJSON(v); err != nil {
				return fmt.Errorf("key: %w", err)
			}
			a.Key = &f
		default:
			a.Other, a.otherRaw = k, v
		}
	}
	return nil
}

// llmVirtualSpec is the schema's LocalLLMVirtualModel.
type llmVirtualSpec struct {
	Name    string `json:"name"`
	Routing struct {
		Weighted *struct {
			Targets []struct {
				Model  string `json:"model"`
				Weight *int   `json:"weight"`
			} `json:"targets"`
		} `json:"weighted"`
		Failover *struct {
			Targets []struct {
				Model    string `json:"model"`
				Priority int    `json:"priority"`
			} `json:"targets"`
		} `json:"failover"`
		Conditional Node `json:"conditional"`
	} `json:"routing"`
}

// notYet reports the first set field of an unsupported kind.
func notYet(bc *BuildContext, fields map[string]Node) error {
	for name, n := range fields {
		if !n.IsZero() {
			return bc.Errorf(name, "not supported yet")
		}
	}
	return nil
}

// presets are the schema's ProviderPreset names: OpenAI-compatible servers with a known base URL and
// the environment variable their key is read from.
var presets = map[string][2]string{
	"ollama":      {"http://localhost:11434/v1", ""},
	"groq":        {"https://api.groq.com/openai/v1", "GROQ_API_KEY"},
	"mistral":     {"https://api.mistral.ai/v1", "MISTRAL_API_KEY"},
	"deepseek":    {"https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"},
	"openrouter":  {"https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"},
	"togetherai":  {"https://api.together.xyz/v1", "TOGETHER_API_KEY"},
	"xai":         {"https://api.x.ai/v1", "XAI_API_KEY"},
	"fireworks":   {"https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"},
	"cerebras":    {"https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"},
	"deepinfra":   {"https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY"},
	"huggingface": {"https://router.huggingface.co/v1", "HF_TOKEN"},
	"baseten":     {"https://inference.baseten.co/v1", "BASETEN_API_KEY"},
	"cohere":      {"https://api.cohere.ai/compatibility/v1", "COHERE_API_KEY"},
}

// upstreamFor builds the upstream of a provider kind with params and auth.
func upstreamFor(bc *BuildContext, kind llmProviderKind, params llmParamsSpec, auth *llmAuthSpec, headers *headerModSpec) (*llm.Upstream, error) {
	var opts []llm.UpstreamOption
	if params.Model != "" {
		opts = append(opts, llm.UpstreamModel(params.Model))
	}
	if !cloudProviders[kind.Name] { // the cloud kinds read these params (sections_llm_providers.go)
		for f, v := range map[string]string{"params.awsRegion": params.AWSRegion, "params.vertexRegion": params.VertexRegion,
			"params.vertexProject": params.VertexProject, "params.azureResourceName": params.AzureResourceName,
			"params.azureResourceType": params.AzureResourceType, "params.azureApiVersion": params.AzureAPIVersion,
			"params.azureProjectName": params.AzureProjectName} {
			if v != "" {
				return nil, bc.Errorf(f, "not supported yet")
			}
		}
	}
	if params.BaseURL != "" {
		opts = append(opts, llm.BaseURL(params.BaseURL))
	}
	if params.HostOverride != "" {
		opts = append(opts, llm.HostOverride(params.HostOverride))
	}
	if params.PathPrefix != nil {
		opts = append(opts, llm.PathPrefix(*params.PathPrefix))
	}
	if params.PathOverride != "" {
		opts = append(opts, llm.PathOverride(params.PathOverride))
	}
	if params.APIKey != nil {
		key, err := params.APIKey.load(bc, "params.apiKey")
		if err != nil {
			return nil, err
		}
		opts = append(opts, llm.APIKey(strings.TrimSpace(string(key))))
	}
	if auth != nil {
		switch {
		case auth.Other != "":
			opt, err := cloudAuth(bc, auth.Other, auth.otherRaw)
			if err != nil {
				return nil, err
			}
			opts = append(opts, opt)
		case auth.Passthrough:
			opts = append(opts, llm.PassthroughKey())
		case auth.Key != nil:
			key, err := auth.Key.load(bc, "auth.key")
			if err != nil {
				return nil, err
			}
			opts = append(opts, llm.APIKey(strings.TrimSpace(string(key))))
		}
	}
	if headers != nil {
		for _, k := range headers.Remove {
			opts = append(opts, llm.RemoveUpstreamHeader(k))
		}
		for k, v := range headers.Add {
			opts = append(opts, llm.UpstreamHeader(k, v))
		}
		for k, v := range headers.Set {
			opts = append(opts, llm.UpstreamHeader(k, v))
		}
	}
	switch name := kind.Name; {
	case name == "openai" || name == "openAI":
		return llm.OpenAI(opts...), nil
	case name == "anthropic":
		return llm.Anthropic(opts...), nil
	case cloudProviders[name]:
		return cloudUpstream(bc, name, params, opts)
	case name == "copilot":
		return nil, bc.Errorf("provider", "%s is not supported yet", name)
	case presets[name][0] != "":
		p := presets[name]
		if params.BaseURL != "" {
			p[0] = params.BaseURL
		}
		if params.APIKey == nil && auth == nil && p[1] != "" {
			if v, ok := bc.lookupEnv(p[1]); ok {
				opts = append(opts, llm.APIKey(v))
			}
		}
		return llm.OpenAICompatible(name, p[0], opts...), nil
	case kind.Custom != nil:
		c := kind.Custom
		if c.Model != "" {
			opts = append(opts, llm.UpstreamModel(c.Model))
		}
		name := c.ProviderOverride
		if name == "" {
			name = "custom"
		}
		for i, f := range c.Formats {
			path := ""
			if f.Path != "" {
				path = f.Path
			}
			switch f.Type {
			case "completions":
				if path != "" {
					opts = append(opts, llm.PathOverride(path))
				}
				return llm.Custom(llm.OpenAIChat{ProviderName: name}, opts...), nil
			case "messages":
				if path != "" {
					opts = append(opts, llm.PathOverride(path))
				}
				return llm.Custom(named{llm.AnthropicMessages{}, name}, opts...), nil
			default:
				_ = i
			}
		}
		return nil, bc.Errorf("provider.custom.formats", "want a completions or messages format (others are not supported yet)")
	case name == "":
		return nil, bc.Errorf("provider", "a provider is required")
	}
	return nil, bc.Errorf("provider", "unknown provider %q", kind.Name)
}

// named gives a provider another gen_ai.provider.name.
type named struct {
	llm.AnthropicMessages
	name string
}

func (n named) Name() string { return n.name }

func (bc *BuildContext) lookupEnv(name string) (string, bool) {
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}

func buildLLMRouter(bc *BuildContext, s llmShortForm) (*llm.Router, error) {
	if len(s.Models) == 0 {
		return nil, bc.Errorf("models", "at least one model is required")
	}
	type provider struct {
		spec llmProviderSpec
		up   *llm.Upstream
	}
	providers := map[string]*provider{}
	for i, p := range s.Providers {
		pbc := bc.At(fmt.Sprintf("providers[%d]", i))
		if p.Name == "" {
			return nil, pbc.Errorf("name", "a name is required")
		}
		if _, dup := providers[p.Name]; dup {
			return nil, pbc.Errorf("name", "provider %q is defined twice", p.Name)
		}
		var auth *llmAuthSpec
		var hdr *headerModSpec
		if d := p.Defaults; d != nil {
			if err := notYet(pbc.At("defaults"), map[string]Node{"responseHeaders": d.ResponseHeaders,
				"backendTLS": d.BackendTLS, "tls": d.TLS, "backendTunnel": d.BackendTunnel}); err != nil {
				return nil, err
			}
			auth, hdr = d.Auth, d.RequestHeaders
		}
		if p.Provider.Reference != "" {
			return nil, pbc.Errorf("provider", "a provider cannot reference another")
		}
		up, err := upstreamFor(pbc, p.Provider, p.Params, auth, hdr)
		if err != nil {
			return nil, err
		}
		providers[p.Name] = &provider{p, up}
	}
	var opts []llm.Option
	for i, m := range s.Models {
		mbc := bc.At(fmt.Sprintf("models[%d]", i))
		if m.Name == "" {
			return nil, mbc.Errorf("name", "a name is required")
		}
		if err := notYet(mbc, map[string]Node{"authorization": m.Authorization,
			"finalTransformation": m.FinalTransformation, "responseHeaders": m.ResponseHeaders,
			"backendTLS": m.BackendTLS, "tls": m.TLS, "backendTunnel": m.BackendTunnel}); err != nil {
			return nil, err
		}
		var mopts []llm.ModelOption
		var up *llm.Upstream
		var providerCaching, providerXform, providerHealth Node
		if ref := m.Provider.Reference; ref != "" {
			p, ok := providers[ref]
			if !ok {
				return nil, mbc.Errorf("provider.reference", "no provider named %q", ref)
			}
			up = p.up
			if p.spec.Defaults != nil {
				providerCaching = p.spec.Defaults.PromptCaching
				providerXform, providerHealth = p.spec.Defaults.Transformation, p.spec.Defaults.Health
			}
			if d := p.spec.Defaults; d != nil {
				mopts = append(mopts, llm.Defaults(d.Defaults), llm.Overrides(d.Overrides))
			}
			if m.Params != (llmParamsSpec{}) {
				if m.Params.Model == "" || m.Params != (llmParamsSpec{Model: m.Params.Model}) {
					return nil, mbc.Errorf("params", "a model referencing a provider may only set params.model")
				}
			}
			if m.Auth != nil {
				return nil, mbc.Errorf("auth", "set auth on the referenced provider")
			}
		} else {
			var err error
			if up, err = upstreamFor(mbc, m.Provider, m.Params, m.Auth, nil); err != nil {
				return nil, err
			}
		}
		if m.Params.Model != "" {
			mopts = append(mopts, llm.As(m.Params.Model))
		}
		switch m.Visibility {
		case "", "public":
		case "internal":
			mopts = append(mopts, llm.Visible(llm.Internal))
		default:
			return nil, mbc.Errorf("visibility", "want public or internal, got %q", m.Visibility)
		}
		mopts = append(mopts, llm.Defaults(m.Defaults), llm.Overrides(m.Overrides))
		xopts, err := modelExtras(mbc, m.Transformation, m.Matches, m.Health, providerXform, providerHealth) // sections_llm_models.go
		if err != nil {
			return nil, err
		}
		mopts = append(mopts, xopts...)
		gopts, err := modelGovernance(mbc, m.Guardrails, m.PromptCaching, providerCaching) // sections_llm_ai.go
		if err != nil {
			return nil, err
		}
		mopts = append(mopts, gopts...)
		if !m.Passthrough.IsZero() {
			mode, err := Decode[string](m.Passthrough)
			if err != nil || (mode != "detect" && mode != "opaque") {
				return nil, mbc.Errorf("passthrough", "want detect or opaque")
			}
			mopts = append(mopts, llm.Passthrough(llm.PassthroughMode(mode)))
		}
		if !m.ServerTools.IsZero() {
			opt, err := serverToolsOption(mbc.At("serverTools"), m.ServerTools)
			if err != nil {
				return nil, err
			}
			mopts = append(mopts, opt)
		}
		if h := m.RequestHeaders; h != nil {
			for _, k := range h.Remove {
				mopts = append(mopts, llm.RemoveRequestHeader(k))
			}
			for k, v := range h.Add {
				mopts = append(mopts, llm.RequestHeader(k, v))
			}
			for k, v := range h.Set {
				mopts = append(mopts, llm.RequestHeader(k, v))
			}
		}
		opts = append(opts, llm.Model(m.Name, up, mopts...))
	}
	for i, v := range s.VirtualModels {
		vbc := bc.At(fmt.Sprintf("virtualModels[%d]", i))
		switch {
		case !v.Routing.Conditional.IsZero() && v.Routing.Failover == nil && v.Routing.Weighted == nil:
			opt, err := conditionalVirtual(vbc, v.Name, v.Routing.Conditional) // sections_llm_conditional.go
			if err != nil {
				return nil, err
			}
			opts = append(opts, opt)
		case v.Routing.Failover != nil && v.Routing.Weighted == nil && v.Routing.Conditional.IsZero():
			var ts []llm.Target
			for _, t := range v.Routing.Failover.Targets {
				ts = append(ts, llm.Target{Model: t.Model, Priority: t.Priority})
			}
			opts = append(opts, llm.Failover(v.Name, ts...))
		case v.Routing.Weighted != nil && v.Routing.Failover == nil && v.Routing.Conditional.IsZero():
			var ts []llm.Target
			for _, t := range v.Routing.Weighted.Targets {
				w := 1
				if t.Weight != nil {
					w = *t.Weight
				}
				ts = append(ts, llm.Target{Model: t.Model, Weight: w})
			}
			opts = append(opts, llm.Weighted(v.Name, ts...))
		default:
			return nil, vbc.Errorf("routing", "set exactly one of failover, weighted, conditional")
		}
	}
	if s.guard != nil {
		opts = append(opts, llm.Govern(llm.AIPolicy{PromptGuard: s.guard}))
	}
	opts = append(opts, llm.Logger(bc.Logger), llm.ModelCatalog(bc.LLMCatalog))
	r, err := llm.New(opts...)
	if err != nil {
		return nil, bc.Wrap(err)
	}
	bc.OnClose(r) // stops active health checks even where a wrapper hides the router from the gateway
	return r, nil
}

func buildLLMShortForm(bc *BuildContext, s llmShortForm) ([]Bind, error) {
	if !s.Gateways.IsZero() {
		return nil, bc.Errorf("gateways", "gateways are not supported; use port")
	}
	var serverTLS *tls.Config // sections_llm_serve.go
	if !s.TLS.IsZero() {
		var err error
		if serverTLS, err = llmServerTLS(bc, s.TLS); err != nil {
			return nil, err
		}
	}
	rest, guard, err := splitLLMPolicies(bc.At("policies"), s.Policies)
	if err != nil {
		return nil, err
	}
	s.Policies, s.guard = rest, guard
	r, err := buildLLMRouter(bc, s)
	if err != nil {
		return nil, err
	}
	port := DefaultLLMPort
	if s.Port != nil {
		port = *s.Port
	}
	var policies []agentgateway.Policy
	if !s.Policies.IsZero() {
		if policies, err = bc.At("policies").BuildPolicies(s.Policies); err != nil {
			return nil, err
		}
	}
	route := agentgateway.RouteConfig{
		Name:     "llm",
		Matches:  []agentgateway.Match{{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: "/"}}},
		Policies: policies,
		Backends: []agentgateway.WeightedBackend{{Name: "llm", Handler: r, Weight: 1}},
	}
	return []Bind{{Port: port, Listeners: []agentgateway.ListenerConfig{{Name: "llm", Port: port, TLS: serverTLS, Routes: []agentgateway.RouteConfig{route}}}}}, nil
}

// aiBackendSpec is the schema's LocalAIBackend: one named provider or groups of them.
type aiBackendSpec struct {
	aiProviderSpec
	Groups []struct {
		Providers []aiProviderSpec `json:"providers"`
	} `json:"groups"`
}

// aiProviderSpec is the schema's LocalNamedAIProvider.
type aiProviderSpec struct {
	Name         string          `json:"name"`
	Provider     json.RawMessage `json:"provider"`
	HostOverride string          `json:"hostOverride"`
	PathOverride string          `json:"pathOverride"`
	PathPrefix   *string         `json:"pathPrefix"`
	Tokenize     bool            `json:"tokenize"`
	Policies     *struct {
		BackendAuth           *llmAuthSpec   `json:"backendAuth"`
		RequestHeaderModifier *headerModSpec `json:"requestHeaderModifier"`
	} `json:"policies"`
}

func (s *aiBackendSpec) UnmarshalJSON(b []byte) error {
	var g struct {
		Groups json.RawMessage `json:"groups"`
	}
	if err := json.Unmarshal(b, &g); err == nil && g.Groups != nil {
		var out struct {
			Groups []struct {
				Providers []aiProviderSpec `json:"providers"`
			} `json:"groups"`
		}
		if err := unmarshalStrict(b, &out); err != nil {
			return err
		}
		s.Groups = out.Groups
		return nil
	}
	return unmarshalStrict(b, &s.aiProviderSpec)
}

// aiUpstream builds one named AI provider (schema AIProvider: exactly one of openAI, anthropic, ...).
func aiUpstream(bc *BuildContext, p aiProviderSpec) (*llm.Upstream, error) {
	if p.Name == "" {
		return nil, bc.Errorf("name", "a name is required")
	}
	var kinds map[string]json.RawMessage
	if err := json.Unmarshal(p.Provider, &kinds); err != nil || len(kinds) != 1 {
		return nil, bc.Errorf("provider", "set exactly one of openAI, anthropic, gemini, vertex, bedrock, azure, copilot, custom")
	}
	var kind llmProviderKind
	var params llmParamsSpec
	for k, v := range kinds {
		switch k {
		case "openAI", "anthropic":
			var c struct {
				Model      string          `json:"model"`
				Moderation json.RawMessage `json:"moderation"`
			}
			if err := unmarshalStrict(v, &c); err != nil {
				return nil, bc.Errorf("provider."+k, "%v", err)
			}
			if c.Moderation != nil {
				return nil, bc.Errorf("provider."+k+".moderation", "not supported yet")
			}
			kind.Name, params.Model = k, c.Model
		case "custom":
			kind.Name = ""
			if err := json.Unmarshal([]byte(`{"custom":`+string(v)+`}`), &kind); err != nil {
				return nil, bc.Errorf("provider.custom", "%v", err)
			}
		case "gemini", "vertex", "bedrock", "azure":
			if err := cloudProviderParams(bc, k, v, &params); err != nil {
				return nil, err
			}
			kind.Name = k
		case "copilot":
			return nil, bc.Errorf("provider."+k, "not supported yet")
		default:
			return nil, bc.Errorf("provider", "unknown provider kind %q", k)
		}
	}
	params.HostOverride, params.PathOverride, params.PathPrefix = p.HostOverride, p.PathOverride, p.PathPrefix
	var auth *llmAuthSpec
	var hdr *headerModSpec
	if p.Policies != nil {
		auth, hdr = p.Policies.BackendAuth, p.Policies.RequestHeaderModifier
	}
	return upstreamFor(bc, kind, params, auth, hdr)
}

func buildAIBackend(bc *BuildContext, s aiBackendSpec) (http.Handler, error) {
	var opts []llm.Option
	if len(s.Groups) == 0 {
		up, err := aiUpstream(bc, s.aiProviderSpec)
		if err != nil {
			return nil, err
		}
		opts = append(opts, llm.Model("*", up))
	} else {
		// Groups are priority groups: the first group's providers share the load, later groups
		// take over when every provider of the earlier ones fails.
		var targets []llm.Target
		for gi, g := range s.Groups {
			for pi, p := range g.Providers {
				up, err := aiUpstream(bc.At(fmt.Sprintf("groups[%d].providers[%d]", gi, pi)), p)
				if err != nil {
					return nil, err
				}
				name := fmt.Sprintf("\x00ai/%d/%d", gi, pi)
				opts = append(opts, llm.Model(name, up, llm.Visible(llm.Internal)))
				targets = append(targets, llm.Target{Model: name, Priority: gi})
			}
		}
		if len(targets) == 0 {
			return nil, bc.Errorf("groups", "at least one provider is required")
		}
		opts = append(opts, llm.Failover("*", targets...))
	}
	if m := aiPinnedModel(s); m != "" {
		opts = append(opts, llm.DefaultModel(m))
	}
	opts = append(opts, llm.Logger(bc.Logger), llm.ModelCatalog(bc.LLMCatalog))
	r, err := llm.New(opts...)
	if err != nil {
		return nil, bc.Wrap(err)
	}
	bc.OnClose(r) // stops active health checks even where a wrapper hides the router from the gateway
	return r, nil
}
