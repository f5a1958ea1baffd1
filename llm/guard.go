package llm

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Guard is one prompt guard (the schema's RequestGuard / ResponseGuard): a regex guard that masks
// or rejects, a webhook that passes, masks or rejects, OpenAI moderation that rejects flagged
// content, or a cloud content-safety service (Bedrock Guardrails, Model Armor, Azure Content
// Safety). Build one with [Regex], [Webhook], [Moderation], [BedrockGuardrails],
// [GoogleModelArmor] or [AzureContentSafety] and refine it with its methods; a Guard is immutable
// once a router or policy uses it.
type Guard struct {
	kind       guardKind
	action     Action
	rules      []*rule
	webhook    *webhookGuard
	moderation *moderationGuard
	cloud      *cloudGuard
	scopes     []Scope
	rejection  Rejection
	failOpen   bool
	threshold  float64 // promptInjection (guard_injection.go)
	err        error
}

type guardKind uint8

const (
	kindRegex guardKind = iota + 1
	kindWebhook
	kindModeration
	kindBedrockGuardrails
	kindModelArmor
	kindAzureContentSafety
)

// Action is what a regex guard does with a match.
type Action string

// Regex guard actions (the schema's Action).
const (
	// Mask replaces each match with a placeholder naming what it was (<EMAIL_ADDRESS>, <CREDIT_CARD>, ...).
	Mask Action = "mask"
	// Reject refuses the request (or the response) with the guard's [Rejection].
	Reject Action = "reject"
)

// Scope is a part of a request that a request guard inspects (the schema's ContentScope).
type Scope string

// Request scopes; a guard without scopes inspects the system prompt and the messages.
const (
	ScopeSystemPrompt Scope = "systemPrompt"
	ScopeMessages     Scope = "messages"
	ScopeToolOutput   Scope = "toolOutput"
	ScopeToolInput    Scope = "toolInput"
)

// Rejection is the answer to rejected content (the schema's RequestRejection). The client gets it
// in its own format: Body becomes the message of an OpenAI or Anthropic error object (a Body that is
// itself a JSON object is sent as it is), Status is the HTTP status (mid-stream, the error event).
type Rejection struct {
	Status int
	Body   string
	// Set, Add and Remove modify the rejection's response headers.
	Set, Add map[string]string
	Remove   []string
}

// DefaultRejection is the rejection of a guard that configures none.
var DefaultRejection = Rejection{Status: http.StatusForbidden, Body: "The request was rejected due to inappropriate content"}

// ErrGuardRejected is the cause of every guard rejection; match it with errors.Is on the *Error.
var ErrGuardRejected = errors.New("rejected by a prompt guard")

// ErrGuardFailed is the cause when a webhook or moderation call failed and the guard fails closed.
var ErrGuardFailed = errors.New("prompt guard unavailable")

// Rule is one pattern of a regex guard: a [Builtin] or a custom [Pattern].
type Rule struct {
	builtin, pattern string
}

// Builtin is a built-in pattern: "email", "ssn" (U.S. Social Security number), "creditCard" (13–19
// digits passing the Luhn check), "phoneNumber" (North American and E.164 numbers) or "caSin"
// (Canadian Social Insurance Number, Luhn-checked).
func Builtin(name string) Rule { return Rule{builtin: name} }

// Pattern is a custom regular expression (RE2 syntax); a match is masked as <MASKED>.
func Pattern(expr string) Rule { return Rule{pattern: expr} }

// rule is a compiled Rule with what the stream scanner needs to know of it: the runes a match can
// contain and its longest match in runes (-1: unbounded).
type rule struct {
	name  string
	re    *regexp.Regexp
	check func(string) bool // extra validation (Luhn), nil for none
	// may is a cheap prefilter: false when s cannot contain a match (the regexp is skipped).
	may    func(s string) bool
	mask   string
	chars  *unicode.RangeTable
	ascii  [utf8.RuneSelf]bool // chars, for ASCII runes
	any    bool                // the pattern can match any rune
	maxLen int
}

var builtins = map[string]struct {
	expr, mask string
	check      func(string) bool
	may        func(string) bool
}{
	"email":       {`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}`, "<EMAIL_ADDRESS>", nil, func(s string) bool { return strings.IndexByte(s, '@') >= 0 }},
	"ssn":         {`\b\d{3}[- ]\d{2}[- ]\d{4}\b`, "<SSN>", nil, digits(9)},
	"creditCard":  {`\b\d(?:[ -]?\d){12,18}\b`, "<CREDIT_CARD>", luhn, digits(13)},
	"phoneNumber": {`(?:\+[1-9]\d{0,2}[ .-]?)?(?:\(\d{3}\)|\b\d{3})[ .-]?\d{3}[ .-]\d{4}\b|\+[1-9]\d{7,14}\b`, "<PHONE_NUMBER>", nil, digits(8)},
	"caSin":       {`\b\d{3}[- ]\d{3}[- ]\d{3}\b`, "<CA_SIN>", luhn, digits(9)},
}

// digits is a prefilter: s holds at least n ASCII digits.
func digits(n int) func(string) bool {
	return func(s string) bool {
		c := 0
		for i := 0; i < len(s); i++ {
			if s[i] >= '0' && s[i] <= '9' {
				if c++; c >= n {
					return true
				}
			}
		}
		return false
	}
}

// luhn reports whether the digits of s pass the Luhn checksum.
func luhn(s string) bool {
	sum, n := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n > 0 && sum%10 == 0
}

func compileRule(r Rule) (*rule, error) {
	out := &rule{}
	expr := r.pattern
	switch {
	case r.builtin != "" && r.pattern == "":
		b, ok := builtins[r.builtin]
		if !ok {
			return nil, fmt.Errorf("unknown builtin %q (want email, ssn, creditCard, phoneNumber or caSin)", r.builtin)
		}
		expr, out.mask, out.check, out.may, out.name = b.expr, b.mask, b.check, b.may, r.builtin
	case r.pattern != "" && r.builtin == "":
		out.mask, out.name = "<MASKED>", "pattern"
	default:
		return nil, errors.New("a rule needs exactly one of builtin, pattern")
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", expr, err)
	}
	out.re = re
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", expr, err)
	}
	var ranges []unicode.Range32
	out.any = runeSet(parsed, &ranges)
	out.chars = &unicode.RangeTable{R32: normalizeRanges(ranges)}
	for c := rune(0); c < utf8.RuneSelf; c++ {
		out.ascii[c] = unicode.Is(out.chars, c)
	}
	out.maxLen = maxRunes(parsed)
	return out, nil
}

// runeSet adds the runes re can match to ranges; it reports true when re can match any rune.
func runeSet(re *syntax.Regexp, ranges *[]unicode.Range32) bool {
	add := func(lo, hi rune) {
		*ranges = append(*ranges, unicode.Range32{Lo: uint32(lo), Hi: uint32(hi), Stride: 1})
	}
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			add(r, r)
			if re.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					add(f, f)
				}
			}
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 2 && re.Rune[0] == 0 && re.Rune[1] == unicode.MaxRune {
			return true
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			add(re.Rune[i], re.Rune[i+1])
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	}
	anyRune := false
	for _, s := range re.Sub {
		anyRune = runeSet(s, ranges) || anyRune
	}
	return anyRune
}

func normalizeRanges(rs []unicode.Range32) []unicode.Range32 {
	if len(rs) == 0 {
		return nil
	}
	// insertion sort: patterns have few ranges
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Lo < rs[j-1].Lo; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.Lo <= last.Hi+1 {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// maxRunes is the longest match of re in runes, -1 when unbounded.
func maxRunes(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpStar, syntax.OpPlus:
		return -1
	case syntax.OpQuest, syntax.OpCapture:
		return maxRunes(re.Sub[0])
	case syntax.OpRepeat:
		n := maxRunes(re.Sub[0])
		if re.Max < 0 || n < 0 {
			return -1
		}
		return n * re.Max
	case syntax.OpConcat:
		t := 0
		for _, s := range re.Sub {
			n := maxRunes(s)
			if n < 0 {
				return -1
			}
			t += n
		}
		return t
	case syntax.OpAlternate:
		m := 0
		for _, s := range re.Sub {
			n := maxRunes(s)
			if n < 0 {
				return -1
			}
			m = max(m, n)
		}
		return m
	}
	return 0 // empty, anchors, word boundaries
}

// Regex is a guard that applies rules to text: with [Mask] each match is replaced by a placeholder,
// with [Reject] any match rejects the request or response.
func Regex(action Action, rules ...Rule) *Guard {
	g := &Guard{kind: kindRegex, action: action, rejection: DefaultRejection}
	if action != Mask && action != Reject {
		g.err = fmt.Errorf("regex: action %q: want mask or reject", action)
	}
	if len(rules) == 0 {
		g.err = errors.Join(g.err, errors.New("regex: at least one rule is required"))
	}
	for i, r := range rules {
		c, err := compileRule(r)
		if err != nil {
			g.err = errors.Join(g.err, fmt.Errorf("regex.rules[%d]: %w", i, err))
			continue
		}
		g.rules = append(g.rules, c)
	}
	return g
}

// Scope sets what parts of a request the guard inspects (request guards only).
func (g *Guard) Scope(scopes ...Scope) *Guard {
	for _, s := range scopes {
		switch s {
		case ScopeSystemPrompt, ScopeMessages, ScopeToolOutput, ScopeToolInput:
		default:
			g.err = errors.Join(g.err, fmt.Errorf("scope %q: want systemPrompt, messages, toolOutput or toolInput", s))
		}
	}
	g.scopes = scopes
	return g
}

// Rejecting sets the answer to content this guard rejects (default [DefaultRejection]); a zero
// Status means 403 and an empty Body the default message.
func (g *Guard) Rejecting(r Rejection) *Guard {
	if r.Status == 0 {
		r.Status = DefaultRejection.Status
	}
	if r.Status < 100 || r.Status > 999 {
		g.err = errors.Join(g.err, fmt.Errorf("rejection.status %d: want an HTTP status", r.Status))
	}
	if r.Body == "" {
		r.Body = DefaultRejection.Body
	}
	g.rejection = r
	return g
}

// FailOpen lets content through when the webhook, moderation or cloud guard call fails. By default
// a guard fails closed: the call is answered 503 with cause [ErrGuardFailed].
func (g *Guard) FailOpen() *Guard { g.failOpen = true; return g }

// Timeout bounds a webhook, moderation or cloud guard call (default 10 s).
func (g *Guard) Timeout(d time.Duration) *Guard {
	switch {
	case g.webhook != nil:
		g.webhook.timeout = d
	case g.moderation != nil:
		g.moderation.timeout = d
	case g.cloud != nil:
		g.cloud.timeout = d
	}
	return g
}

// Err reports a configuration error of the guard (also reported by [New] and [NewAIPolicy]).
func (g *Guard) Err() error { return g.err }

func (g *Guard) inScope(s Scope) bool {
	if len(g.scopes) == 0 {
		return s == ScopeSystemPrompt || s == ScopeMessages
	}
	for _, x := range g.scopes {
		if x == s {
			return true
		}
	}
	return false
}

// match is one rule match in a text.
type match struct {
	start, end int
	rule       *rule
}

// findMatches returns the non-overlapping matches of the guard's rules in s, in order.
func (g *Guard) findMatches(s string, dst []match) []match {
	dst = dst[:0]
	for _, r := range g.rules {
		if r.may != nil && !r.may(s) {
			continue
		}
		if r.any {
			dst = r.appendMatches(dst, s, 0, len(s))
			continue
		}
		// A match lies within one run of the runes the pattern can match: run the regexp only on
		// runs that pass the prefilter (with a rune of context each side for \b).
		for i := 0; i < len(s); {
			start := i
			for i < len(s) {
				c, size := rune(s[i]), 1
				if c >= utf8.RuneSelf {
					c, size = utf8.DecodeRuneInString(s[i:])
				}
				if !r.has(c) {
					break
				}
				i += size
			}
			if i > start && (r.may == nil || r.may(s[start:i])) {
				dst = r.appendMatches(dst, s, start, i)
			}
			if i == start {
				_, size := utf8.DecodeRuneInString(s[i:])
				i += size
			}
		}
	}
	if len(dst) < 2 {
		return dst
	}
	// sort by start, drop overlaps (the earlier, then longer, wins)
	for i := 1; i < len(dst); i++ {
		for j := i; j > 0 && (dst[j].start < dst[j-1].start || dst[j].start == dst[j-1].start && dst[j].end > dst[j-1].end); j-- {
			dst[j], dst[j-1] = dst[j-1], dst[j]
		}
	}
	out := dst[:1]
	for _, m := range dst[1:] {
		if m.start < out[len(out)-1].end {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (r *rule) has(c rune) bool {
	if c < utf8.RuneSelf {
		return r.ascii[c]
	}
	return unicode.Is(r.chars, c)
}

// appendMatches appends the matches of r within s[start:end], the regexp seeing a rune of context
// on each side.
func (r *rule) appendMatches(dst []match, s string, start, end int) []match {
	lo, hi := start, end
	if lo > 0 {
		_, size := utf8.DecodeLastRuneInString(s[:lo])
		lo -= size
	}
	if hi < len(s) {
		_, size := utf8.DecodeRuneInString(s[hi:])
		hi += size
	}
	for _, loc := range r.re.FindAllStringIndex(s[lo:hi], -1) {
		a, b := lo+loc[0], lo+loc[1]
		if a < start || b > end || (r.check != nil && !r.check(s[a:b])) {
			continue
		}
		dst = append(dst, match{a, b, r})
	}
	return dst
}

// applyMasks returns s with the matches replaced by their rules' placeholders.
func applyMasks(s string, ms []match) string {
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prev := 0
	for _, m := range ms {
		b.WriteString(s[prev:m.start])
		b.WriteString(m.rule.mask)
		prev = m.end
	}
	b.WriteString(s[prev:])
	return b.String()
}

// regexText applies a regex guard to one text: the masked text, or rejected.
func (g *Guard) regexText(s string) (string, bool) {
	var buf [4]match
	ms := g.findMatches(s, buf[:0])
	if len(ms) == 0 {
		return s, false
	}
	if g.action == Reject {
		return s, true
	}
	return applyMasks(s, ms), false
}

// holdBack is how many bytes at the end of s may still be the beginning of a match of one of the
// rules: the longest suffix made only of runes a rule's match can contain, bounded by the rule's
// longest match. Streams emit everything before it.
func (g *Guard) holdBack(s string) int {
	hold := 0
	for _, r := range g.rules {
		limit := maxStreamHold
		if r.maxLen > 0 {
			limit = min(r.maxLen, maxStreamHold)
		}
		n, runes := 0, 0
		for n < len(s) && runes < limit {
			c, size := utf8.DecodeLastRuneInString(s[:len(s)-n])
			if !r.any && !unicode.Is(r.chars, c) {
				break
			}
			n += size
			runes++
		}
		hold = max(hold, n)
	}
	return hold
}

// maxStreamHold bounds what a stream holds back for a pattern that can match any rune or is
// unbounded: a match longer than this may be split and escape masking.
const maxStreamHold = 1024
