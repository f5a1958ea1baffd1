package llm

import "testing"

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "gpt-4o", true}, {"gpt-4o", "gpt-4o", true}, {"gpt-4o", "gpt-4o-mini", false},
		{"gpt-*", "gpt-4o", true}, {"gpt-*", "claude", false}, {"*-mini", "gpt-4o-mini", true}, {"*-mini", "gpt-4o", false},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"a**", "a", true}, {"", "", true}, {"", "x", false},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	} {
		if got := globMatch(c.p, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}
