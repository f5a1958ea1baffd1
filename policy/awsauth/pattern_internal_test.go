package awsauth

import (
	"regexp"
	"strings"
	"testing"
)

// The rune-by-rune patterns accept exactly what STS's regular expressions accept.
func TestRunePatternsMatchSTSRegexps(t *testing.T) {
	re := map[string]*regexp.Regexp{
		"session": regexp.MustCompile(`^[\w+=,.@-]{2,64}$`),
		"key":     regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`),
		"value":   regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`),
	}
	pat := map[string]runePattern{"session": sessionNameRE, "key": tagKeyRE, "value": tagValueRE}
	inputs := []string{"", "a", "ab", "user@example.com", "a b", "a\tb", "ü-ñ", "名前", "x\u00a0y", "x\u2028y", "١٢٣", "a*b", "a\xffb",
		strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("é", 128), strings.Repeat("é", 129), strings.Repeat("9", 256), strings.Repeat("9", 257)}
	for name, p := range pat {
		for _, in := range inputs {
			if got, want := p.MatchString(in), re[name].MatchString(in); got != want {
				t.Errorf("%s %q: %v, regexp says %v", name, in, got, want)
			}
		}
	}
}
