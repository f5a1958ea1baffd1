package llm

import "testing"

// TestConditionalByName: resolving a conditional model without its request (a code path that only
// knows the name) gives the default target, never every target as failover candidates.
func TestConditionalByName(t *testing.T) {
	up := OpenAI(APIKey("k"))
	r, err := New(Model("a", up), Model("b", up),
		Conditional("with", CondTarget{When: "true", Model: "a"}, CondTarget{Model: "b"}),
		Conditional("without", CondTarget{When: "true", Model: "a"}))
	if err != nil {
		t.Fatal(err)
	}
	if c := r.resolve("with"); len(c) != 1 || c[0].model != "b" {
		t.Errorf("with default: %+v", c)
	}
	if c := r.resolve("without"); len(c) != 0 {
		t.Errorf("without default: %+v", c)
	}
}
