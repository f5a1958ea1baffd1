package llm

import (
	"strings"
	"testing"
)

func TestEstimateTokens(t *testing.T) {
	for body, want := range map[string]int{
		`{}`:           1,
		`{"a":"abcd"}`: 2, // 5 characters of strings
		`{"t":"a\"b"}`: 1, // t, a, ", b
		`{"t":"a\\"}`:  1, // t, a, \ then the string ends
		`{"abcdefgh`:   2, // an unterminated string counts to the end
		`{"k":"` + strings.Repeat("x", 400) + `"}`: 101,
		`{"n":12345678901234567890}`:               1, // numbers and punctuation are not content
	} {
		if got := EstimateTokens([]byte(body)); got != want {
			t.Errorf("EstimateTokens(%s) = %d, want %d", body, got, want)
		}
	}
}

func BenchmarkEstimateTokens(b *testing.B) {
	body := []byte(`{"model":"m","messages":[{"role":"system","content":"be \"brief\""},{"role":"user","content":"` + strings.Repeat("hello world ", 170) + `"}]}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		EstimateTokens(body)
	}
}

// FuzzEstimateTokens: the estimate never panics, is at least 1 and at most a token per four bytes
// of the body (rounded up).
func FuzzEstimateTokens(f *testing.F) {
	f.Add([]byte(`{"t":"a\"b\\"}`))
	f.Add([]byte(`"\\\\\"`))
	f.Add([]byte(`""""\`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n := EstimateTokens(body)
		if n < 1 || n > max(1, (len(body)+3)/4) {
			t.Fatalf("EstimateTokens(%q) = %d", body, n)
		}
	})
}
