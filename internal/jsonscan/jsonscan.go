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
// Scanning does not allocate for ordinary messages: objects with up to 16 keys are checked by
// comparing keyed hashes; larger ones switch to a map, so an object with n keys costs O(n).
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
	raw := k.raw
	if k.plain && isASCII(name) {
		if len(raw) != len(name) {
			return false
		}
		for i := 0; i < len(raw); i++ {
			if a, c := raw[i], name[i]; a != c {
				if l := a | 0x20; l != c|0x20 || l < 'a' || l > 'z' {
					return false
				}
			}
		}
		return true
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

// seed keys the hash of keys: collisions cannot be computed offline, so the map of a large object
// keeps its O(1) cost under hostile input.
var seed = maphash.MakeSeed()

// linearKeys is how many keys an object holds before duplicate checks switch to a map.
const linearKeys = 16

type keyEntry struct {
	hash    uint64
	at, end int // the key's opening quote and one past its closing quote
	plain   bool
}

type frame struct {
	start int // offset of '{' or '['
	// keys is the index in the key stack of the object's first key; -1 for an array. Only an
	// object's first linearKeys keys go on the stack; set holds them all from then on.
	keys int
	n    int      // members or elements so far
	cur  keyEntry // the current member's key (objects)
	// set maps the hash of each key to its offset, once the object outgrows linearKeys; over holds
	// keys whose hash was taken by a different key.
	set  map[uint64]int
	over []keyEntry
}

// Scan validates b strictly (see the package documentation) and returns the span of its value
// (white space trimmed). When the value is an object and member is not nil, member is called for each
// of its members, in order, as soon as the member's value has been scanned; those calls are only
// meaningful if Scan then returns no error. The error is an [*Error] that wraps ErrSyntax,
// ErrDuplicateKey or ErrTooDeep.
func Scan(b []byte, member func(key Key, value Span)) (Span, error) {
	// The stacks start in these arrays and move to the heap only for unusual messages. They are only
	// ever kept in local variables: stored through a pointer, they would escape.
	var frames [16]frame
	var keys [32]keyEntry
	return scan(b, frames[:0], keys[:0], member)
}

// Valid reports whether Scan accepts b.
func Valid(b []byte) bool {
	_, err := Scan(b, nil)
	return err == nil
}

func scan(b []byte, frames []frame, keys []keyEntry, member func(Key, Span)) (Span, error) {
	var spare []map[uint64]int // maps of closed large objects, for reuse
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
			f := frame{start: i, keys: -1}
			end := byte(']')
			if c == '{' {
				f.keys, end = len(keys), '}'
			}
			frames = append(frames, f)
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == end {
				frames = frames[:len(frames)-1]
				vs, i = f.start, i+1
				break
			}
			if c == '{' {
				if i, keys, err = addKey(b, i, frames, keys, &spare); err != nil {
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
					if i, keys, err = addKey(b, i, frames, keys, &spare); err != nil {
						return Span{}, err
					}
				} else {
					f.n++
				}
				continue value
			case c == '}' && f.keys >= 0:
				keys = keys[:f.keys]
				if f.set != nil {
					clear(f.set)
					spare = append(spare, f.set)
					f.set = nil
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
func addKey(b []byte, i int, frames []frame, keys []keyEntry, spare *[]map[uint64]int) (int, []keyEntry, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, keys, syntax(i)
	}
	end, plain, err := str(b, i)
	if err != nil {
		return 0, keys, err
	}
	var buf [64]byte
	canon := canonical(buf[:0], b[i+1:end-1], plain)
	k := keyEntry{hash: maphash.Bytes(seed, canon), at: i, end: end, plain: plain}
	f := &frames[len(frames)-1]
	if f.set == nil {
		for _, o := range keys[f.keys:] {
			if o.hash == k.hash && same(b, o, canon) {
				return 0, keys, duplicate(b, frames, k, o)
			}
		}
		if f.n < linearKeys {
			keys = append(keys, k)
		} else {
			if n := len(*spare); n > 0 {
				f.set, *spare = (*spare)[n-1], (*spare)[:n-1]
			} else {
				f.set = make(map[uint64]int, 4*linearKeys)
			}
			for _, o := range keys[f.keys:] {
				f.set[o.hash] = o.at
			}
			f.set[k.hash] = k.at
		}
	} else if at, ok := f.set[k.hash]; !ok {
		f.set[k.hash] = k.at
	} else {
		o := entryAt(b, at, k.hash)
		if same(b, o, canon) {
			return 0, keys, duplicate(b, frames, k, o)
		}
		// A different key with the same 64-bit keyed hash: not to be expected, still handled.
		for _, o := range f.over {
			if o.hash == k.hash && same(b, o, canon) {
				return 0, keys, duplicate(b, frames, k, o)
			}
		}
		f.over = append(f.over, k)
	}
	f.cur = k
	f.n++
	i = skipWS(b, end)
	if i >= len(b) || b[i] != ':' {
		return 0, keys, syntax(i)
	}
	return skipWS(b, i+1), keys, nil
}

// entryAt rebuilds the entry of the (scanned) key whose opening quote is at b[at].
func entryAt(b []byte, at int, hash uint64) keyEntry {
	end := skipString(b, at)
	return keyEntry{hash: hash, at: at, end: end, plain: isPlain(b[at+1 : end-1])}
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

// same reports whether key k has the canonical form canon.
func same(b []byte, k keyEntry, canon []byte) bool {
	var buf [64]byte
	return string(canonical(buf[:0], b[k.at+1:k.end-1], k.plain)) == string(canon)
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
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
	ke := skipString(b, i)
	if ke < 0 {
		return Key{}, Span{}, false
	}
	k := Key{raw: b[i+1 : ke-1]}
	k.plain = isPlain(k.raw)
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
