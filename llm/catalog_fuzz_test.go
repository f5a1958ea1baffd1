package llm_test

import (
	"errors"
	"math"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

// FuzzParseCatalog: any document either parses or fails with ErrCatalog, never panics, and a parsed
// catalog prices any usage at a finite, non-negative cost.
func FuzzParseCatalog(f *testing.F) {
	f.Add([]byte(testCatalog))
	f.Add([]byte(`{"providers":{"openai":{"models":{"m":{"rates":{"input":"2.5"},"tiers":[{"contextOver":10,"rates":{"output":"1"}}]}}}}}`))
	f.Add([]byte(`providers: {a: {models: {m: {rates: {input: "99999999999999999999999999999999999999"}}}}}`))
	f.Add([]byte("a: &a [*a, *a, *a]\nb: &b [*a, *a]"))                       // alias expansion
	f.Add([]byte(`providers: {a: {models: {m: {rates: {input: "1.2.3"}}}}}`)) // two dots
	f.Add([]byte(`providers: {a: {models: {m: {tiers: [{contextOver: 9223372036854775807, rates: {input: "1"}}]}}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := llm.ParseCatalog(doc)
		if err != nil {
			if !errors.Is(err, llm.ErrCatalog) {
				t.Fatalf("error %v does not wrap ErrCatalog", err)
			}
			return
		}
		u := llm.Usage{InputTokens: 1 << 40, OutputTokens: 1 << 30, CachedInputTokens: 7, CacheCreationTokens: 3, ReasoningTokens: 5}
		for p, models := range c.Providers {
			for m := range models {
				cost, ok := c.Cost(p, m, u)
				if !ok || cost < 0 || math.IsNaN(cost) {
					t.Fatalf("%s/%s: cost %v %v", p, m, cost, ok)
				}
			}
		}
	})
}
