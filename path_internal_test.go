package agentgateway

import (
	"net/url"
	"testing"
)

// The common case, a path with nothing to normalize, costs no allocation on the hot path.
func TestNormalizeCleanPathAllocatesNothing(t *testing.T) {
	u, err := url.ParseRequestURI("/v1/chat/completions?x=1")
	if err != nil {
		t.Fatal(err)
	}
	var p PathNormalization
	if n := testing.AllocsPerRun(100, func() { _ = p.normalizeURL(u) }); n != 0 {
		t.Fatalf("normalizing a clean path allocated %v times", n)
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, target := range []string{"/v1/chat/completions", "/public/%2e%2e/admin//x"} {
		b.Run(target, func(b *testing.B) {
			var p PathNormalization
			b.ReportAllocs()
			for b.Loop() {
				u := url.URL{Path: target}
				_ = p.normalizeURL(&u)
			}
		})
	}
}
