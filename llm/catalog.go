package llm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Catalog is a model cost catalog (agentgateway's `config.modelCatalog`): prices per million tokens
// by provider and model. The router multiplies them by a call's normalised [Usage] into
// State.LLM.Cost (CEL llm.cost, the access log's gen_ai.usage.cost and the
// agentgateway.gen_ai.cost metric). A model the catalog does not price costs nothing: a missing
// price is never an error.
type Catalog struct {
	// Providers maps a provider name ("openai", "anthropic", "gemini", "bedrock", ... or the name of
	// an OpenAI-compatible server) to its models' prices by model ID.
	Providers map[string]map[string]ModelPrice
}

// ModelPrice is the price of one model: base rates, and context-length tiers that replace some of
// them for long prompts.
type ModelPrice struct {
	Rates Rates
	// Tiers apply when the prompt (every input token, cached ones included) has more than
	// ContextOver tokens; the tier with the highest threshold exceeded wins, its set rates
	// overlaid on the base rates.
	Tiers []PriceTier
	// Tags are free-form capability or routing tags.
	Tags []string
}

// PriceTier is a context-length pricing tier.
type PriceTier struct {
	ContextOver int64
	Rates       Rates
}

// Rates are prices per million tokens; a nil rate is unset. An unset CacheRead or CacheWrite falls
// back to Input, an unset Reasoning to Output (as the schema says for reasoning; cache reads and
// writes are prompt tokens, so the input rate is their natural default).
type Rates struct {
	Input, Output, CacheRead, CacheWrite, Reasoning *float64
	// InputAudio and OutputAudio are kept for completeness; usage does not separate audio tokens,
	// so they do not enter the cost.
	InputAudio, OutputAudio *float64
}

// ErrCatalog is wrapped by every catalog parse error.
var ErrCatalog = errors.New("invalid model catalog")

// maxCatalogBytes bounds a catalog document (a file or an inline string).
const maxCatalogBytes = 16 << 20

// ParseCatalog reads a catalog document, YAML or JSON, in the schema's Catalog shape:
//
//	providers:
//	  openai:
//	    models:
//	      gpt-4o: {rates: {input: "2.50", output: "10", cacheRead: "1.25"}}
//
// Prices (the schema's Money) are decimal strings or numbers. Unknown fields, negative or
// non-decimal prices and duplicate tier thresholds are errors wrapping [ErrCatalog].
func ParseCatalog(data []byte) (*Catalog, error) {
	if len(data) > maxCatalogBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCatalog, maxCatalogBytes)
	}
	var raw struct {
		Providers map[string]struct {
			Models map[string]struct {
				Rates *rawRates `yaml:"rates"`
				Tiers []struct {
					ContextOver *int64    `yaml:"contextOver"`
					Rates       *rawRates `yaml:"rates"`
				} `yaml:"tiers"`
				Tags []string `yaml:"tags"`
			} `yaml:"models"`
		} `yaml:"providers"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%w: %w", ErrCatalog, err)
	}
	c := &Catalog{Providers: make(map[string]map[string]ModelPrice, len(raw.Providers))}
	for pname, p := range raw.Providers {
		if pname == "" {
			return nil, fmt.Errorf("%w: providers: empty provider name", ErrCatalog)
		}
		models := make(map[string]ModelPrice, len(p.Models))
		for mname, m := range p.Models {
			path := "providers." + pname + ".models." + mname
			if mname == "" {
				return nil, fmt.Errorf("%w: providers.%s.models: empty model name", ErrCatalog, pname)
			}
			var mp ModelPrice
			if m.Rates != nil {
				mp.Rates = m.Rates.rates()
			}
			for i, t := range m.Tiers {
				if t.ContextOver == nil || t.Rates == nil {
					return nil, fmt.Errorf("%w: %s.tiers[%d]: contextOver and rates are required", ErrCatalog, path, i)
				}
				if *t.ContextOver < 0 {
					return nil, fmt.Errorf("%w: %s.tiers[%d].contextOver: must not be negative", ErrCatalog, path, i)
				}
				mp.Tiers = append(mp.Tiers, PriceTier{ContextOver: *t.ContextOver, Rates: t.Rates.rates()})
			}
			sort.SliceStable(mp.Tiers, func(i, j int) bool { return mp.Tiers[i].ContextOver < mp.Tiers[j].ContextOver })
			for i := 1; i < len(mp.Tiers); i++ {
				if mp.Tiers[i].ContextOver == mp.Tiers[i-1].ContextOver {
					return nil, fmt.Errorf("%w: %s.tiers: two tiers for contextOver %d", ErrCatalog, path, mp.Tiers[i].ContextOver)
				}
			}
			mp.Tags = m.Tags
			models[mname] = mp
		}
		c.Providers[pname] = models
	}
	return c, nil
}

// rawRates is the schema's Rates as written.
type rawRates struct {
	Input       *money `yaml:"input"`
	Output      *money `yaml:"output"`
	CacheRead   *money `yaml:"cacheRead"`
	CacheWrite  *money `yaml:"cacheWrite"`
	Reasoning   *money `yaml:"reasoning"`
	InputAudio  *money `yaml:"inputAudio"`
	OutputAudio *money `yaml:"outputAudio"`
}

func (r *rawRates) rates() Rates {
	return Rates{Input: r.Input.ptr(), Output: r.Output.ptr(), CacheRead: r.CacheRead.ptr(), CacheWrite: r.CacheWrite.ptr(),
		Reasoning: r.Reasoning.ptr(), InputAudio: r.InputAudio.ptr(), OutputAudio: r.OutputAudio.ptr()}
}

// money is the schema's Money: a non-negative decimal, as a string or a number.
type money float64

func (m *money) ptr() *float64 {
	if m == nil {
		return nil
	}
	f := float64(*m)
	return &f
}

func (m *money) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return fmt.Errorf("line %d: a price must be a decimal number", n.Line)
	}
	f, err := parseMoney(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*m = money(f)
	return nil
}

// parseMoney accepts plain decimals ("2.50", "10", ".5"): no sign, exponent, hex or infinities, so
// a price is exactly what it reads as.
func parseMoney(s string) (float64, error) {
	s = strings.TrimSpace(s)
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return 0, fmt.Errorf("price %q: want a non-negative decimal such as \"2.50\"", s)
		}
	}
	if digits == 0 || len(s) > 64 {
		return 0, fmt.Errorf("price %q: want a non-negative decimal such as \"2.50\"", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("price %q: out of range", s)
	}
	return f, nil
}

// MergeCatalogs merges catalogs in order, later ones taking precedence model by model (the schema's
// modelCatalog list). Nil catalogs are skipped; the result is nil when every input is.
func MergeCatalogs(cs ...*Catalog) *Catalog {
	var out *Catalog
	for _, c := range cs {
		if c == nil {
			continue
		}
		if out == nil {
			out = &Catalog{Providers: map[string]map[string]ModelPrice{}}
		}
		for p, models := range c.Providers {
			dst := out.Providers[p]
			if dst == nil {
				dst = make(map[string]ModelPrice, len(models))
				out.Providers[p] = dst
			}
			for m, price := range models {
				dst[m] = price
			}
		}
	}
	return out
}

// providerAliases maps the gen_ai.provider.name the router records to the provider kinds of
// agentgateway's schema, the names a catalog is likely to use.
var providerAliases = map[string]string{
	"gcp.gemini":      "gemini",
	"gcp.vertex_ai":   "vertex",
	"aws.bedrock":     "bedrock",
	"azure.ai.openai": "azure",
}

// Price finds the price of model served by provider: under the provider's own name, then its
// schema kind name (gcp.gemini → gemini, aws.bedrock → bedrock, ...), then under any provider
// (first by name order) that lists the model, so a catalog keyed by model creator still prices a
// model reached through a cloud provider.
func (c *Catalog) Price(provider, model string) (ModelPrice, bool) {
	if c == nil || model == "" {
		return ModelPrice{}, false
	}
	if p, ok := c.Providers[provider][model]; ok {
		return p, true
	}
	if alias, ok := providerAliases[provider]; ok {
		if p, ok := c.Providers[alias][model]; ok {
			return p, true
		}
	}
	var best string
	var price ModelPrice
	for name, models := range c.Providers {
		if p, ok := models[model]; ok && (best == "" || name < best) {
			best, price = name, p
		}
	}
	return price, best != ""
}

// Cost prices usage u of model served by provider, in the catalog's currency; ok is false when
// the catalog has no price for the model.
func (c *Catalog) Cost(provider, model string, u Usage) (cost float64, ok bool) {
	p, ok := c.Price(provider, model)
	if !ok {
		return 0, false
	}
	return p.Cost(u), true
}

// Cost prices usage u: uncached input at Input, cache reads at CacheRead, cache writes at
// CacheWrite, reasoning tokens at Reasoning and the rest of the output at Output, each per million
// tokens, with the rates of the applicable context tier.
func (p ModelPrice) Cost(u Usage) float64 {
	r := p.Rates
	for i := len(p.Tiers) - 1; i >= 0; i-- {
		if u.InputTokens > p.Tiers[i].ContextOver {
			r = r.overlay(p.Tiers[i].Rates)
			break
		}
	}
	cacheRead, cacheWrite := max(u.CachedInputTokens, 0), max(u.CacheCreationTokens, 0)
	fresh := max(u.InputTokens-cacheRead-cacheWrite, 0)
	reasoning := min(max(u.ReasoningTokens, 0), max(u.OutputTokens, 0))
	output := max(u.OutputTokens, 0) - reasoning
	in, out := rate(r.Input, nil), rate(r.Output, nil)
	sum := float64(fresh)*in +
		float64(cacheRead)*rate(r.CacheRead, r.Input) +
		float64(cacheWrite)*rate(r.CacheWrite, r.Input) +
		float64(output)*out +
		float64(reasoning)*rate(r.Reasoning, r.Output)
	return sum / 1e6
}

func rate(v, fallback *float64) float64 {
	switch {
	case v != nil:
		return *v
	case fallback != nil:
		return *fallback
	}
	return 0
}

// overlay returns r with t's set rates replacing its own.
func (r Rates) overlay(t Rates) Rates {
	pick := func(a, b *float64) *float64 {
		if b != nil {
			return b
		}
		return a
	}
	return Rates{Input: pick(r.Input, t.Input), Output: pick(r.Output, t.Output), CacheRead: pick(r.CacheRead, t.CacheRead),
		CacheWrite: pick(r.CacheWrite, t.CacheWrite), Reasoning: pick(r.Reasoning, t.Reasoning),
		InputAudio: pick(r.InputAudio, t.InputAudio), OutputAudio: pick(r.OutputAudio, t.OutputAudio)}
}

// ModelCatalog prices calls with c (see [Catalog]); [Router.SetCatalog] replaces it while serving.
func ModelCatalog(c *Catalog) Option {
	return func(r *Router) error { r.catalog.Store(c); return nil }
}

// SetCatalog replaces the router's cost catalog (nil: no prices) for the calls that complete from
// now on; it is safe to call while serving.
func (r *Router) SetCatalog(c *Catalog) { r.catalog.Store(c) }

// cost prices the call recorded in st: the model the provider answered with, else the one sent to
// it, else the one the client asked for.
func (c *call) cost() float64 {
	cat := c.r.catalog.Load()
	if cat == nil {
		return 0
	}
	l := &c.st.LLM
	u := Usage{InputTokens: l.InputTokens, OutputTokens: l.OutputTokens, CachedInputTokens: l.CachedInputTokens,
		CacheCreationTokens: l.CacheCreationTokens, ReasoningTokens: l.ReasoningTokens}
	for _, m := range [...]string{l.ResponseModel, c.sent, l.RequestModel} {
		if v, ok := cat.Cost(l.Provider, m, u); ok {
			return v
		}
	}
	return 0
}
