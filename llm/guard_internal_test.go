package llm

import (
	"strings"
	"testing"
)

var scanGuards = []*Guard{
	Regex(Mask, Builtin("creditCard"), Builtin("email"), Builtin("ssn"), Builtin("phoneNumber"), Builtin("caSin")),
	Regex(Mask, Pattern(`(?i)secret code \d+`)),
}

// streamMask feeds text in the given pieces through a scanner and returns what it emitted.
func streamMask(g *Guard, pieces []string) string {
	s := &maskScanner{g: g}
	var b strings.Builder
	for _, p := range pieces {
		out, _ := s.feed(p)
		b.WriteString(out)
	}
	out, _ := s.flush()
	b.WriteString(out)
	return b.String()
}

// TestMaskScannerSplits: a card number, an email and a custom pattern split anywhere across deltas
// are masked exactly as in the whole text, and prose is emitted before the end.
func TestMaskScannerSplits(t *testing.T) {
	text := "Pay with 4111 1111 1111 1111 or mail bob.smith@example.com, secret code 1234 ok. SSN 123-45-6789."
	for _, g := range scanGuards {
		want, _ := g.regexText(text)
		for i := 1; i < len(text); i++ {
			for j := i; j < len(text); j += 7 {
				if got := streamMask(g, []string{text[:i], text[i:j], text[j:]}); got != want {
					t.Fatalf("split at %d,%d:\n got %q\nwant %q", i, j, got, want)
				}
			}
		}
	}
	if want, _ := scanGuards[0].regexText(text); !strings.Contains(want, "<CREDIT_CARD>") || !strings.Contains(want, "<EMAIL_ADDRESS>") || !strings.Contains(want, "<SSN>") {
		t.Fatalf("whole-text masking missed something: %q", want)
	}
	s := &maskScanner{g: scanGuards[0]}
	if out, _ := s.feed("Hello there, how are you "); out != "Hello there, how are you" { // the space may start a card number
		t.Fatalf("prose held back: emitted %q", out)
	}
	if out, _ := s.feed("4111 1111"); out != "" {
		t.Fatalf("a card number's beginning was emitted: %q", out)
	}
}

func TestLuhn(t *testing.T) {
	g := Regex(Mask, Builtin("creditCard"))
	if out, _ := g.regexText("card 4111 1111 1111 1111"); out != "card <CREDIT_CARD>" {
		t.Fatalf("valid card not masked: %q", out)
	}
	if out, _ := g.regexText("order 4111 1111 1111 1112"); out != "order 4111 1111 1111 1112" {
		t.Fatalf("a number failing Luhn was masked: %q", out)
	}
}

func FuzzMaskScanner(f *testing.F) {
	f.Add("card 4111111111111111 end", uint16(7), uint16(13))
	f.Add("mail a.b@c.de and 555-123-4567", uint16(9), uint16(20))
	f.Add("x4111 1111 1111 1111x secret code 99", uint16(1), uint16(30))
	f.Add("\xff\xfe 123-45-6789 \u00e9", uint16(3), uint16(5))
	f.Fuzz(func(t *testing.T, text string, a, b uint16) {
		if len(text) > 512 {
			return
		}
		i, j := int(a)%(len(text)+1), int(b)%(len(text)+1)
		if i > j {
			i, j = j, i
		}
		for _, g := range scanGuards {
			want, _ := g.regexText(text)
			if got := streamMask(g, []string{text[:i], text[i:j], text[j:]}); got != want {
				t.Fatalf("pieces %q %q %q:\n got %q\nwant %q", text[:i], text[i:j], text[j:], got, want)
			}
		}
	})
}

// BenchmarkMaskScanner: the guard's own cost per streamed delta ("token ", a PII mask guard with
// four builtins), without any decoding or encoding.
func BenchmarkMaskScanner(b *testing.B) {
	g := Regex(Mask, Builtin("email"), Builtin("creditCard"), Builtin("ssn"), Builtin("phoneNumber"))
	b.ReportAllocs()
	s := &maskScanner{g: g}
	for b.Loop() {
		_, _ = s.feed("token ")
	}
}

// BenchmarkRegexText: the same guard on a 2 KB prompt of prose with digits.
func BenchmarkRegexText(b *testing.B) {
	g := Regex(Mask, Builtin("email"), Builtin("creditCard"), Builtin("ssn"), Builtin("phoneNumber"))
	text := strings.Repeat("The meeting on 12 May moved to room 4, bring the 2024 report. ", 40)[:2048]
	b.ReportAllocs()
	for b.Loop() {
		_, _ = g.regexText(text)
	}
}
