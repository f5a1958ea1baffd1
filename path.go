package agentgateway

import (
	"errors"
	"net/url"
	"strings"
)

// PathNormalization says how the gateway rewrites a request's path before it matches routes. What a
// route matched is what policies and the backend see: the normalized path is also the one forwarded,
// so "/public/../admin" can never pass a rule guarding "/admin" and then reach the upstream verbatim.
//
// The zero value is the default, and it corresponds to Envoy's `normalize_path: true` together with
// `merge_slashes: true`:
//   - percent-encoded unreserved characters are decoded ("%2e" is ".", "%7E" is "~") and the remaining
//     escapes are upper-cased (RFC 3986 §6.2.2.1–2);
//   - a backslash is a slash, as Envoy and most browsers treat it;
//   - "." and ".." segments are removed (RFC 3986 §5.2.4); ".." never climbs above the root;
//   - runs of slashes are merged into one.
//
// Encoded slashes ("%2F") and backslashes ("%5C") stay encoded and are forwarded unchanged, as with
// Envoy's default `path_with_escaped_slashes_action: KEEP_UNCHANGED`; a path whose decoded form would
// contain a dot segment because of them ("/a%2F..%2Fadmin") is refused with 400 instead, since an
// upstream that decodes them would see a different path from the one that was matched.
type PathNormalization struct {
	// Off matches and forwards paths exactly as received.
	Off bool
	// KeepSlashes keeps repeated slashes instead of merging them (Envoy's merge_slashes: false).
	KeepSlashes bool
}

// WithPathNormalization sets how request paths are normalized before matching (see [PathNormalization];
// by default they are).
func WithPathNormalization(p PathNormalization) Option { return func(o *options) { o.paths = p } }

// ErrBadPath is returned by path normalization for a path that cannot be matched safely.
var ErrBadPath = errors.New("path has an encoded dot segment")

// normalizeURL normalizes u's path in place. It allocates only when the path changes.
func (p PathNormalization) normalizeURL(u *url.URL) error {
	if p.Off {
		return nil
	}
	esc := u.EscapedPath()
	if u.RawPath != "" && esc != u.RawPath {
		// EscapedPath re-encodes a raw path it finds invalid, hiding a backslash as %5C; read what the
		// client sent instead, so "\" is treated as the separator it is to many upstreams.
		if dec, err := url.PathUnescape(u.RawPath); err == nil && dec == u.Path {
			esc = u.RawPath
		}
	}
	if esc == "" || esc[0] != '/' || !needsNormalizing(esc, !p.KeepSlashes) {
		return nil // "*" (OPTIONS *), and the common case: nothing to do, nothing allocated
	}
	out, changed := normalizeEscapedPath(esc, !p.KeepSlashes)
	dec := u.Path
	if changed {
		var err error
		if dec, err = url.PathUnescape(out); err != nil {
			return ErrBadPath // cannot happen for a path net/http parsed; refuse rather than guess
		}
	}
	if hasDotSegment(dec) {
		return ErrBadPath
	}
	if changed {
		u.Path = dec
		u.RawPath = ""
		if u.EscapedPath() != out {
			u.RawPath = out
		}
	}
	return nil
}

// needsNormalizing is the allocation-free check run on every request.
func needsNormalizing(p string, merge bool) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\':
			return true
		case '/':
			if i+1 < len(p) {
				switch p[i+1] {
				case '/':
					if merge {
						return true
					}
				case '.':
					// "/." starts a dot segment when followed by the end, "/" or ".".
					if i+2 == len(p) || p[i+2] == '/' || (p[i+2] == '.' && (i+3 == len(p) || p[i+3] == '/')) {
						return true
					}
				}
			}
		}
	}
	return false
}

// normalizeEscapedPath normalizes an escaped absolute path and reports whether it changed.
func normalizeEscapedPath(p string, merge bool) (string, bool) {
	if !needsNormalizing(p, merge) {
		return p, false
	}
	// Pass 1: escapes and backslashes, segment by segment.
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			b.WriteByte('/')
		case c == '%' && i+2 < len(p) && ishex(p[i+1]) && ishex(p[i+2]):
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if unreserved(d) {
				b.WriteByte(d)
			} else {
				b.WriteByte('%')
				b.WriteByte(upperHex(p[i+1]))
				b.WriteByte(upperHex(p[i+2]))
			}
			i += 2
		case c == '%':
			b.WriteString("%25") // a stray '%' (net/http refuses these; other callers may not)
		default:
			b.WriteByte(c)
		}
	}
	s := b.String()
	// Pass 2: remove dot segments and, if asked, empty ones; keep a trailing slash.
	segs := strings.Split(s[1:], "/")
	out := segs[:0]
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == ".":
			if last {
				out = append(out, "")
			}
		case seg == "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		case seg == "" && merge && !last:
			// "//": dropped; a trailing empty segment is the trailing slash and stays.
		default:
			out = append(out, seg)
		}
	}
	res := "/" + strings.Join(out, "/")
	return res, res != p
}

// hasDotSegment reports whether a decoded path has a "." or ".." segment (split on "/" and "\").
func hasDotSegment(p string) bool {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' || p[i] == '\\' {
			if seg := p[start:i]; seg == "." || seg == ".." {
				return true
			}
			start = i + 1
		}
	}
	return false
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func upperHex(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}
