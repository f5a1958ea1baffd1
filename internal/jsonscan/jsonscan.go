// Package jsonscan is the gateway's one JSON scanner. The protocol layers (MCP, A2A) route JSON-RPC
// messages on a few fields and forward the bytes untouched, so the scanner has two jobs: make sure
// every upstream parser reads those bytes exactly as the gateway did, and read the fields without
// decoding the rest.
//
// [Scan] validates a message strictly and in one pass:
//
//   - exactly one RFC 8259 value, optionally surrounded by white space;
//   - UTF-8 throughout (invalid bytes are an error, not a replacement character);
//   - at most [MaxDepth] nested arrays and objects;
//   - no object, at any depth, with two keys that some parser could take for the same member.
//
// The last rule is the point. Parsers disagree about duplicates (Go, Python and JavaScript keep the
// last, a scanner that stops early sees the first), so a gateway that authorizes one member while the
// target runs another is bypassed. Keys are compared after unescaping ("n\u0061me" is "name", "\/"
// is "/", surrogate pairs are one code point, a lone surrogate is U+FFFD as Go decodes it) and
// ignoring case by Unicode simple folding, the way Go's encoding/json matches struct fields (A2A's
// a2a-go and mark3labs/mcp-go decode requests that way: "METHOD" sets the method there). Rejecting
// rather than picking means the forwarded bytes have one meaning everywhere.
//
// Lookups on scanned bytes ([Key.Matches], [Field], [Members]) use the same folding, so the gateway
// reads a member whenever any upstream parser would.
//
// Scanning does not allocate for ordinary messages: a key is compared with the other keys of its
// object while the object has at most 16; larger objects switch to a map keyed by a hash with a random
// seed, so an object with n keys costs O(n) even when the keys are chosen to collide.
package jsonscan

import (
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects [Scan] accepts. JSON-RPC messages nest a
// handful of levels; the bound keeps hostile input cheap for every parser behind the gateway.
const MaxDepth = 256

// Errors of [Scan]; the returned error is an [*Error] wrapping one of them.
var (
	// ErrSyntax: the input is not one well-formed JSON value in UTF-8.
	ErrSyntax = errors.New("jsonscan: invalid JSON")
	// ErrDuplicateKey: an object has two keys that are equal after unescaping and case folding.
	ErrDuplicateKey = errors.New("jsonscan: duplicate object key")
	// ErrTooDeep: arrays and objects nest deeper than MaxDepth.
	ErrTooDeep = errors.New("jsonscan: nesting deeper than " + strconv.Itoa(MaxDepth))
)

// Error describes why [Scan] rejected its input.
type Error struct {
	// Err is ErrSyntax, ErrDuplicateKey or ErrTooDeep.
	Err error
	// Offset is the byte offset at which the problem was found.
	Offset int
	// Path locates the object holding a duplicate key, JSONPath style ("$", "$.params",
	// "$.params.arguments[2]"); empty for other errors.
	Path string
	// Key is the duplicate key and First the earlier key it collides with (both unescaped).
	Key, First string
}

func (e *Error) Error() string {
	if e.Err != ErrDuplicateKey {
		return fmt.Sprintf("%v at byte %d", e.Err, e.Offset)
	}
	if e.Key == e.First {
		return fmt.Sprintf("%v %q in %s", e.Err, e.Key, e.Path)
	}
	return fmt.Sprintf("%v %q (same member as %q) in %s", e.Err, e.Key, e.First, e.Path)
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

// Span is the half-open byte range of a JSON value inside a message.
type Span struct{ Start, End int }

// Found reports whether the span holds a value (the zero Span means absent).
func (s Span) Found() bool { return s.End > s.Start }

// In returns the bytes of the span in b (nil when absent).
func (s Span) In(b []byte) []byte {
	if !s.Found() || s.End > len(b) {
		return nil
	}
	return b[s.Start:s.End]
}

// Key is an object key as it appears in the message (without the quotes, escapes intact).
type Key struct {
	raw []byte
	// plain: ASCII without escapes, so the raw bytes are the key.
	plain bool
}

// Raw returns the key's bytes between the quotes, escapes intact.
func (k Key) Raw() []byte { return k.raw }

// String returns the unescaped key.
func (k Key) String() string { return unescape(k.raw, k.plain) }

// Matches reports whether the key names the member name under the scanner's equality: after
// unescaping and ignoring case by Unicode simple folding. Because [Scan] rejects objects with two
// such keys, at most one key of an object matches.
func (k Key) Matches(name string) bool {
	if k.plain {
		switch {
		case len(k.raw) == len(name):
			// A byte of name outside ASCII cannot match then: name would have fewer runes.
			return foldEqualASCII(k.raw, name)
		case len(name) < len(k.raw):
			return false
		}
	}
	return k.matchesSlow(name)
}

func (k Key) matchesSlow(name string) bool {
	raw := k.raw
	if k.plain {
		// Every rune of name must fold to one ASCII byte of raw, so name is at least as long; only
		// U+017F and U+212A (long s, Kelvin sign) fold to ASCII from longer encodings.
		if len(raw) > 0 && name[0] < utf8.RuneSelf && !foldEqualASCII(raw[:1], name[:1]) || asciiOnly(name) {
			return false
		}
	}
	i, j := 0, 0
	for i < len(raw) && j < len(name) {
		r1, n1 := nextRune(raw, i)
		r2, n2 := utf8.DecodeRuneInString(name[j:])
		if r1 != r2 && foldRune(r1) != foldRune(r2) {
			return false
		}
		i, j = i+n1, j+n2
	}
	return i == len(raw) && j == len(name)
}

func asciiOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// seed keys the hash of keys: collisions cannot be computed offline, so the map of a large object
// keeps its O(1) cost under hostile input.
var seed = maphash.MakeSeed()

// linearKeys is how many keys an object holds before duplicate checks switch to a map.
const linearKeys = 16

type keyEntry struct {
	at, end int // the key's opening quote and one past its closing quote
	plain   bool
}

type frame struct {
	start int // offset of '{' or '['
	// keys is the index in the key stack of the object's first key; -1 for an array. Only an
	// object's first linearKeys keys go on the stack; a map in large.sets holds them all after that.
	keys int
	n    int      // members or elements so far
	cur  keyEntry // the current member's key (objects)
	// large is set once the object outgrows linearKeys: its keys are in the last of large.sets. (No
	// pointers here: frames are pushed often, and pointer-free values copy cheaply.)
	large bool
}

// large is what objects beyond linearKeys keys need, kept for the whole scan.
type large struct {
	// sets has a map for each open large object, innermost last: the keyed hash of each key to the
	// key's offset.
	sets  []map[uint64]int
	spare []map[uint64]int // maps of closed objects, for reuse
	// over holds keys whose hash another key of their object took (depth: the object's frame).
	over []struct {
		depth int
		hash  uint64
		key   keyEntry
	}
}

// Scan validates b strictly (see the package documentation) and returns the span of its value
// (white space trimmed). When the value is an object and member is not nil, member is called for each
// of its members, in order, as soon as the member's value has been scanned; those calls are only
// meaningful if Scan then returns no error. The error is an [*Error] that wraps ErrSyntax,
// ErrDuplicateKey or ErrTooDeep.
func Scan(b []byte, member func(key Key, value Span)) (Span, error) {
	// The stacks start in these arrays and move to the heap only for unusual messages. They are only
	// ever kept in local variables: stored through a pointer, they would escape.
	var frames [8]frame
	var keys [16]keyEntry
	return scan(b, frames[:0], keys[:0], member)
}

// Valid reports whether Scan accepts b.
func Valid(b []byte) bool {
	_, err := Scan(b, nil)
	return err == nil
}

func scan(b []byte, frames []frame, keys []keyEntry, member func(Key, Span)) (Span, error) {
	var big large
	i := skipWS(b, 0)
	top := i
	var vs int // start of the value just scanned
	var err error
value:
	for {
		// A value starts at i.
		if i >= len(b) {
			return Span{}, syntax(i)
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(frames) >= MaxDepth {
				return Span{}, &Error{Err: ErrTooDeep, Offset: i}
			}
			if len(frames) < cap(frames) {
				frames = frames[:len(frames)+1]
			} else {
				frames = append(frames, frame{})
			}
			f := &frames[len(frames)-1]
			f.start, f.keys, f.n, f.large = i, -1, 0, false
			end := byte(']')
			if c == '{' {
				f.keys, end = len(keys), '}'
			}
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == end {
				vs, i = f.start, i+1
				frames = frames[:len(frames)-1]
				break
			}
			if c == '{' {
				if i, keys, err = addKey(b, i, frames, keys, &big); err != nil {
					return Span{}, err
				}
			}
			continue value
		case c == '"':
			vs = i
			if i, _, err = str(b, i); err != nil {
				return Span{}, err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			vs, i = i, number(b, i)
		case c == 't':
			vs, i = i, literal(b, i, "true")
		case c == 'f':
			vs, i = i, literal(b, i, "false")
		case c == 'n':
			vs, i = i, literal(b, i, "null")
		default:
			return Span{}, syntax(i)
		}
		if i < 0 {
			return Span{}, syntax(vs)
		}
		// The value vs..i is complete: move on in the enclosing containers.
		for {
			d := len(frames)
			if d == 0 {
				if j := skipWS(b, i); j != len(b) {
					return Span{}, syntax(j)
				}
				return Span{top, i}, nil
			}
			f := &frames[d-1]
			if d == 1 && f.keys >= 0 && member != nil {
				k := f.cur
				member(Key{raw: b[k.at+1 : k.end-1], plain: k.plain}, Span{vs, i})
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return Span{}, syntax(i)
			}
			switch c := b[i]; {
			case c == ',':
				i = skipWS(b, i+1)
				if f.keys >= 0 {
					if i, keys, err = addKey(b, i, frames, keys, &big); err != nil {
						return Span{}, err
					}
				} else {
					f.n++
				}
				continue value
			case c == '}' && f.keys >= 0:
				keys = keys[:f.keys]
				if f.large {
					big.release(d)
				}
			case c == ']' && f.keys < 0:
			default:
				return Span{}, syntax(i)
			}
			vs, i = f.start, i+1
			frames = frames[:d-1]
		}
	}
}

// addKey reads an object key at i, checks it against the other keys of the innermost object (the
// last frame), and returns the offset of the member's value.
func addKey(b []byte, i int, frames []frame, keys []keyEntry, big *large) (int, []keyEntry, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, keys, syntax(i)
	}
	end, plain, err := str(b, i)
	if err != nil {
		return 0, keys, err
	}
	k := keyEntry{at: i, end: end, plain: plain}
	var canon []byte // the canonical form of an escaped or non-ASCII key
	if !plain {
		canon = canonical(make([]byte, 0, 64), b[i+1:end-1], false)
	}
	f := &frames[len(frames)-1]
	if !f.large {
		// Few keys: compare with each (most comparisons end at the length).
		ks := keys[f.keys:]
		for j := range ks {
			if o := &ks[j]; (o.end-o.at == k.end-k.at || !o.plain || !k.plain) && sameKey(b, o, &k, canon) {
				return 0, keys, duplicate(b, frames, k, *o)
			}
		}
		if f.n < linearKeys {
			keys = append(keys, k)
		} else {
			f.large = true
			set := big.open()
			for _, o := range ks {
				big.remember(set, len(frames), keyedHash(b, o), o)
			}
			big.remember(set, len(frames), keyedHash(b, k), k)
		}
	} else {
		set := big.sets[len(big.sets)-1]
		h := keyedHash(b, k)
		if at, ok := set[h]; ok {
			if o := entryAt(b, at); sameKey(b, &o, &k, canon) {
				return 0, keys, duplicate(b, frames, k, o)
			}
			for _, o := range big.over {
				if o.depth == len(frames) && o.hash == h && sameKey(b, &o.key, &k, canon) {
					return 0, keys, duplicate(b, frames, k, o.key)
				}
			}
		}
		big.remember(set, len(frames), h, k)
	}
	f.cur = k
	f.n++
	i = skipWS(b, end)
	if i >= len(b) || b[i] != ':' {
		return 0, keys, syntax(i)
	}
	return skipWS(b, i+1), keys, nil
}

// open starts the set of a large object.
func (l *large) open() map[uint64]int {
	var m map[uint64]int
	if n := len(l.spare); n > 0 {
		m, l.spare = l.spare[n-1], l.spare[:n-1]
	} else {
		m = make(map[uint64]int, 4*linearKeys)
	}
	l.sets = append(l.sets, m)
	return m
}

// remember adds a key (known to be new) to the set of a large object at depth.
func (l *large) remember(set map[uint64]int, depth int, h uint64, k keyEntry) {
	if _, taken := set[h]; taken {
		// A different key with the same 64-bit keyed hash: not to be expected, still handled.
		l.over = append(l.over, struct {
			depth int
			hash  uint64
			key   keyEntry
		}{depth, h, k})
		return
	}
	set[h] = k.at
}

// release closes the innermost large object, at depth.
func (l *large) release(depth int) {
	m := l.sets[len(l.sets)-1]
	l.sets = l.sets[:len(l.sets)-1]
	clear(m)
	l.spare = append(l.spare, m)
	for len(l.over) > 0 && l.over[len(l.over)-1].depth >= depth {
		l.over = l.over[:len(l.over)-1]
	}
}

// keyedHash hashes the key's canonical form with the process's random seed, for the maps of large
// objects.
func keyedHash(b []byte, k keyEntry) uint64 {
	var buf [64]byte
	return maphash.Bytes(seed, canonical(buf[:0], b[k.at+1:k.end-1], k.plain))
}

// entryAt rebuilds the entry of the (scanned) key whose opening quote is at b[at].
func entryAt(b []byte, at int) keyEntry {
	end := skipString(b, at)
	return keyEntry{at: at, end: end, plain: isPlain(b[at+1 : end-1])}
}

// sameKey reports whether key o equals key k (whose canonical form is canon unless k is plain)
// after unescaping and case folding.
func sameKey(b []byte, o, k *keyEntry, canon []byte) bool {
	ro := b[o.at+1 : o.end-1]
	if k.plain {
		if o.plain {
			return foldEqualASCII(ro, b[k.at+1:k.end-1])
		}
		o, k, ro = k, o, b[k.at+1:k.end-1]
		var buf [64]byte
		canon = canonical(buf[:0], b[k.at+1:k.end-1], false)
	}
	if o.plain {
		// The canonical form of a plain key is its upper case.
		if len(ro) != len(canon) {
			return false
		}
		for i, c := range ro {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			if c != canon[i] {
				return false
			}
		}
		return true
	}
	var buf [64]byte
	return string(canonical(buf[:0], ro, false)) == string(canon)
}

// foldEqualASCII compares two strings of ASCII ignoring case (a byte outside ASCII only matches
// itself).
func foldEqualASCII[S1, S2 []byte | string](x S1, y S2) bool {
	if len(x) != len(y) {
		return false
	}
	for i := 0; i < len(x); i++ {
		if c, d := x[i], y[i]; c != d {
			if l := c | 0x20; l != d|0x20 || l < 'a' || l > 'z' {
				return false
			}
		}
	}
	return true
}

func duplicate(b []byte, frames []frame, k, first keyEntry) error {
	return &Error{
		Err:    ErrDuplicateKey,
		Offset: k.at,
		Path:   path(b, frames),
		Key:    unescape(b[k.at+1:k.end-1], k.plain),
		First:  unescape(b[first.at+1:first.end-1], first.plain),
	}
}

// path is the JSONPath of the innermost open container.
func path(b []byte, frames []frame) string {
	var sb strings.Builder
	sb.WriteByte('$')
	for _, f := range frames[:len(frames)-1] {
		if f.keys < 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(f.n))
			sb.WriteByte(']')
			continue
		}
		k := f.cur
		name := unescape(b[k.at+1:k.end-1], k.plain)
		if isIdent(name) {
			sb.WriteByte('.')
			sb.WriteString(name)
		} else {
			sb.WriteByte('[')
			sb.WriteString(strconv.Quote(name))
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func syntax(i int) error { return &Error{Err: ErrSyntax, Offset: i} }

// plainByte marks the bytes a string holds as themselves: printable ASCII other than '"' and '\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str validates the string at b[i] == '"' and returns the offset past it; plain reports a string of
// ASCII without escapes.
func str(b []byte, i int) (end int, plain bool, err error) {
	plain = true
	j := i + 1
	for {
		for j < len(b) && plainByte[b[j]] {
			j++
		}
		if j >= len(b) {
			return 0, false, syntax(i)
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, plain, nil
		case c == '\\':
			plain = false
			if j+1 >= len(b) {
				return 0, false, syntax(j)
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) || hex4(b[j+2:j+6]) < 0 {
					return 0, false, syntax(j)
				}
				j += 6
			default:
				return 0, false, syntax(j)
			}
		case c < 0x20:
			return 0, false, syntax(j)
		default:
			plain = false
			r, n := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && n == 1 {
				return 0, false, syntax(j)
			}
			j += n
		}
	}
}

// number returns the offset past the number at b[i], or -1.
func number(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// literal returns the offset past lit at b[i], or -1.
func literal(b []byte, i int, lit string) int {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return -1
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// nextRune decodes the code point at raw[i] inside a scanned string: an escape, a surrogate pair of
// escapes or a UTF-8 sequence. A lone surrogate, like anything malformed, is U+FFFD (as in Go).
func nextRune(raw []byte, i int) (rune, int) {
	c := raw[i]
	if c < utf8.RuneSelf {
		if c != '\\' {
			return rune(c), 1
		}
		if i+1 >= len(raw) {
			return utf8.RuneError, 1
		}
		switch raw[i+1] {
		case 'b':
			return '\b', 2
		case 'f':
			return '\f', 2
		case 'n':
			return '\n', 2
		case 'r':
			return '\r', 2
		case 't':
			return '\t', 2
		case 'u':
			if i+6 > len(raw) {
				return utf8.RuneError, len(raw) - i
			}
			r := hex4(raw[i+2 : i+6])
			switch {
			case r < 0:
				return utf8.RuneError, 6
			case r >= 0xD800 && r < 0xDC00:
				if i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
					if lo := hex4(raw[i+8 : i+12]); lo >= 0xDC00 && lo < 0xE000 {
						return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12
					}
				}
				return utf8.RuneError, 6
			case r >= 0xDC00 && r < 0xE000:
				return utf8.RuneError, 6
			}
			return r, 6
		default: // '"', '\\', '/'
			return rune(raw[i+1]), 2
		}
	}
	return utf8.DecodeRune(raw[i:])
}

// foldRune returns the smallest rune of r's simple case folding orbit: two runes fold together
// exactly when Go's case-insensitive matching (strings.EqualFold, encoding/json field names) takes
// them for the same letter.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		// An ASCII letter's orbit starts with its capital (Kelvin sign and long s come later).
		if r >= 'a' && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// canonical appends the key's canonical form: unescaped, every rune folded.
func canonical(dst, raw []byte, plain bool) []byte {
	if plain {
		for _, c := range raw {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst
	}
	for i := 0; i < len(raw); {
		r, n := nextRune(raw, i)
		dst = utf8.AppendRune(dst, foldRune(r))
		i += n
	}
	return dst
}

func unescape(raw []byte, plain bool) string {
	if plain {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		r, n := nextRune(raw, i)
		if raw[i] == '\\' {
			out = utf8.AppendRune(out, r)
		} else {
			out = append(out, raw[i:i+n]...)
		}
		i += n
	}
	return string(out)
}

// Unquote returns the string value at s in b, unescaped; "" when s is absent or not a string. b must
// have been accepted by Scan.
func Unquote(b []byte, s Span) string {
	raw, ok := inner(b, s)
	if !ok {
		return ""
	}
	return unescape(raw, !hasEscape(raw))
}

// RawString returns the bytes between the quotes of the string value at s when it has no escapes (so
// they are the value), for lookups that must not allocate; ok is false otherwise.
func RawString(b []byte, s Span) (raw []byte, ok bool) {
	raw, ok = inner(b, s)
	if !ok || hasEscape(raw) {
		return nil, false
	}
	return raw, true
}

func inner(b []byte, s Span) ([]byte, bool) {
	if !s.Found() || s.End > len(b) || s.End-s.Start < 2 || b[s.Start] != '"' || b[s.End-1] != '"' {
		return nil, false
	}
	return b[s.Start+1 : s.End-1], true
}

func hasEscape(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' {
			return true
		}
	}
	return false
}

// IsString reports whether the value at s is a string.
func IsString(b []byte, s Span) bool { return s.Found() && s.Start < len(b) && b[s.Start] == '"' }

// IsObject reports whether the value at s is an object.
func IsObject(b []byte, s Span) bool { return s.Found() && s.Start < len(b) && b[s.Start] == '{' }

// Members iterates over the members of the object at obj in b (nothing when obj is not an object).
// b must have been accepted by Scan: Members does not validate again, though it never reads out of
// bounds.
func Members(b []byte, obj Span) iter.Seq2[Key, Span] {
	return func(yield func(Key, Span) bool) {
		it := members(b, obj)
		for k, v, ok := it.next(); ok && yield(k, v); k, v, ok = it.next() {
		}
	}
}

// Field returns the span of the value at the path of keys below the value at v (matched as
// [Key.Matches] does), or the zero Span. b must have been accepted by Scan.
func Field(b []byte, v Span, path ...string) Span {
	for _, name := range path {
		it := members(b, v)
		v = Span{}
		for k, fv, ok := it.next(); ok; k, fv, ok = it.next() {
			if k.Matches(name) {
				v = fv
				break
			}
		}
		if !v.Found() {
			return Span{}
		}
	}
	return v
}

// Walk calls fn for each member of the object at b[i] in order, with its key and the offset at which
// its value starts; fn returns the offset just past the value, from [Skip] or from reading the value
// itself (with a nested Walk, say). Unlike [Members], which measures every value before yielding it,
// Walk reads each byte once. It returns the offset past the object, or -1 when b[i] is not an object
// or fn returned -1. b must have been accepted by Scan.
func Walk(b []byte, i int, fn func(k Key, v int) int) int {
	if i < 0 || i >= len(b) || b[i] != '{' {
		return -1
	}
	i = skipWS(b, i+1)
	for i < len(b) && b[i] == '"' {
		ke, plain := skipKey(b, i)
		if ke < 0 {
			return -1
		}
		k := Key{raw: b[i+1 : ke-1], plain: plain}
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		if i = fn(k, skipWS(b, i+1)); i < 0 {
			return -1
		}
		if i = skipWS(b, i); i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	return -1
}

// Skip returns the offset just past the value at b[i], or -1. b must have been accepted by Scan.
func Skip(b []byte, i int) int { return skipValue(b, i) }

// memberIter walks the members of a scanned object.
type memberIter struct {
	b []byte
	i int // the next key's opening quote; -1 when done
}

func members(b []byte, obj Span) memberIter {
	if !IsObject(b, obj) {
		return memberIter{i: -1}
	}
	return memberIter{b: b, i: skipWS(b, obj.Start+1)}
}

func (it *memberIter) next() (Key, Span, bool) {
	b, i := it.b, it.i
	it.i = -1
	if i < 0 || i >= len(b) || b[i] != '"' {
		return Key{}, Span{}, false
	}
	ke, plain := skipKey(b, i)
	if ke < 0 {
		return Key{}, Span{}, false
	}
	k := Key{raw: b[i+1 : ke-1], plain: plain}
	i = skipWS(b, ke)
	if i >= len(b) || b[i] != ':' {
		return Key{}, Span{}, false
	}
	i = skipWS(b, i+1)
	ve := skipValue(b, i)
	if ve < 0 {
		return Key{}, Span{}, false
	}
	if j := skipWS(b, ve); j < len(b) && b[j] == ',' {
		it.i = skipWS(b, j+1)
	}
	return k, Span{i, ve}, true
}

func isPlain(raw []byte) bool {
	for _, c := range raw {
		if !plainByte[c] {
			return false
		}
	}
	return true
}

// skipKey is skipString for a key: it also reports whether the key is plain (ASCII, no escapes).
func skipKey(b []byte, i int) (int, bool) {
	plain := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, plain
		case c == '\\':
			plain = false
			j++
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return -1, false
}

// skipString returns the offset past the (scanned) string at b[i] == '"', or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the offset past the (scanned) value at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}
