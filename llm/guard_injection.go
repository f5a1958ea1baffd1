package llm

import (
	"fmt"
	"regexp"
)

// kindInjection is the local prompt-injection heuristic. It sits apart from the iota block of
// guard.go so that guard kinds added there do not renumber it.
const kindInjection guardKind = 64

// DefaultInjectionThreshold is the score at or above which [PromptInjection] rejects when the
// configuration names no threshold: one signal alone is not enough, two are.
const DefaultInjectionThreshold = 0.5

// injectionSignals are the families of wording that prompt-injection attempts use. Each signal
// that matches a text adds one third to its score, so three distinct signals score 1.
var injectionSignals = func() []*regexp.Regexp {
	exprs := []string{
		// Overriding what came before.
		`(?i)\b(?:ignore|disregard|forget|skip)\s+(?:all\s+|any\s+|the\s+|your\s+)*(?:previous|prior|above|earlier|preceding|your)\s+(?:instructions?|prompts?|rules?|directives?|constraints?|guidelines?|training)`,
		// Taking on another identity.
		`(?i)\byou\s+are\s+now\s+(?:a|an|the|my)\s+\w+`,
		`(?i)\b(?:act|behave)\s+as\s+(?:a|an|if\s+you\s+(?:are|were)|though)\s`,
		`(?i)\bpretend\s+(?:you\s+are|to\s+be|you're)\s`,
		`(?i)\bswitch\s+to\s+(?:a\s+)?new\s+(?:role|persona|mode|identity)`,
		`(?i)\bfrom\s+now\s+on,?\s+(?:you\s+)?(?:are|will|should|must)\s`,
		// Extracting the system prompt.
		`(?i)\b(?:reveal|show|display|print|output|repeat|echo|leak)\s+(?:me\s+)?(?:your|the|all)\s+(?:system\s+|hidden\s+|initial\s+)?(?:prompt|instructions?|rules?|directives?|guidelines?)`,
		`(?i)\bwhat\s+(?:are|is|were)\s+your\s+(?:system\s+|initial\s+|hidden\s+)?(?:prompt|instructions?|rules?)`,
		`(?i)\b(?:tell|give)\s+me\s+(?:your|the)\s+(?:system\s+|hidden\s+)?(?:prompt|instructions?|rules?)`,
		// Forged delimiters and role markers.
		`(?i)\[\s*system\s*\]\s*:?\s*(?:you|the|from|new|override|ignore)`,
		"(?i)```\\s*(?:system|admin|root|override)\\b",
		`(?i)<\|?\s*(?:system|im_start|im_end|endofprompt)\s*\|?>`,
		`(?i)###\s*(?:system|admin|new\s+instructions?|override|reset)\b`,
		// Switching safety off.
		`(?i)\b(?:override|bypass|disable|turn\s+off|deactivate)\s+(?:all\s+)?(?:your\s+|the\s+)?(?:safety|content|ethical|security)\s*(?:filters?|rules?|restrictions?|guidelines?|guardrails?|policies?|checks?|measures?)`,
		`(?i)\benter\s+(?:developer|debug|admin|god|unrestricted|maintenance|test)\s+mode`,
		`(?i)\bsudo\s+mode\b`,
		`(?i)\bjailbr(?:eak|oken)`,
		`(?i)\bdo\s+anything\s+now\b`,
		`(?i)\bDAN\b.*\bmode\b`,
		// Smuggling instructions in an encoding, or dictating the answer.
		`(?i)\b(?:base64|rot13|hex)\s*(?:decode|decrypt)\b`,
		`(?i)\brespond\s+(?:only\s+)?with\s+(?:the\s+)?(?:word|phrase|text)\s`,
		`(?i)\byour\s+(?:first|only|new)\s+(?:instruction|directive|rule|task)\s+is\b`,
	}
	out := make([]*regexp.Regexp, len(exprs))
	for i, e := range exprs {
		out[i] = regexp.MustCompile(e)
	}
	return out
}()

// InjectionScore is the heuristic prompt-injection score of text, from 0 (no signal) to 1 (three
// or more distinct signals).
func InjectionScore(text string) float64 {
	n := 0
	for _, re := range injectionSignals {
		if re.MatchString(text) {
			if n++; n >= 3 {
				return 1
			}
		}
	}
	return float64(n) / 3
}

// PromptInjection is a request guard that scores each inspected text with a local heuristic (no
// external call) and rejects the request when a text scores at or above threshold (0 < threshold
// <= 1; 0 means [DefaultInjectionThreshold]). It applies to requests only.
func PromptInjection(threshold float64) *Guard {
	g := &Guard{kind: kindInjection, action: Reject, rejection: DefaultRejection, threshold: threshold}
	if threshold == 0 {
		g.threshold = DefaultInjectionThreshold
	}
	if g.threshold < 0 || g.threshold > 1 {
		g.err = fmt.Errorf("promptInjection: threshold %v: want a number in (0, 1]", threshold)
	}
	return g
}

// injected reports whether any text reaches the guard's threshold.
func (g *Guard) injected(texts ...string) bool {
	for _, t := range texts {
		if t != "" && InjectionScore(t) >= g.threshold {
			return true
		}
	}
	return false
}
