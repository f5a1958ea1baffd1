package cel

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	celgo "github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// textFunctions are agentgateway's functions for rewriting values: map merge, regex replacement and
// the URL / form encoders. MCP guardrail transforms (mcp.params.merge(...),
// text.regexReplaceAll(...)) and header values (url.encode(source.certificate)) are written with them.
func textFunctions() []celgo.EnvOption {
	mapType := celgo.MapType(celgo.DynType, celgo.DynType)
	return []celgo.EnvOption{
		// m.merge(o): a map with the entries of both; o's value wins for a key in both.
		celgo.Function("merge",
			celgo.MemberOverload("map_merge_map", []*celgo.Type{mapType, mapType}, mapType,
				celgo.BinaryBinding(mergeMaps))),
		// s.regexReplace(re, repl): s with the first match of re replaced; repl may name groups ($1).
		celgo.Function("regexReplace",
			celgo.MemberOverload("string_regexReplace_string_string",
				[]*celgo.Type{celgo.StringType, celgo.StringType, celgo.StringType}, celgo.StringType,
				celgo.FunctionBinding(func(args ...ref.Val) ref.Val { return regexReplace(args, false) }))),
		// s.regexReplaceAll(re, repl): s with every non-overlapping match of re replaced.
		celgo.Function("regexReplaceAll",
			celgo.MemberOverload("string_regexReplaceAll_string_string",
				[]*celgo.Type{celgo.StringType, celgo.StringType, celgo.StringType}, celgo.StringType,
				celgo.FunctionBinding(func(args ...ref.Val) ref.Val { return regexReplace(args, true) }))),
		// url.encode(s): s percent-encoded for a query component or header value.
		celgo.Function("url.encode",
			celgo.Overload("url_encode_string", []*celgo.Type{celgo.StringType}, celgo.StringType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return types.String(url.QueryEscape(string(v.(types.String)))) })),
			celgo.Overload("url_encode_bytes", []*celgo.Type{celgo.BytesType}, celgo.StringType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val { return types.String(url.QueryEscape(string(v.(types.Bytes)))) }))),
		// url.decode(s): the inverse of url.encode; malformed escapes are an error.
		celgo.Function("url.decode",
			celgo.Overload("url_decode_string", []*celgo.Type{celgo.StringType}, celgo.StringType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val {
					s, err := url.QueryUnescape(string(v.(types.String)))
					if err != nil {
						return types.NewErr("url.decode: %v", err)
					}
					return types.String(s)
				}))),
		// base64.encode(s): agentgateway also encodes a string (cel-go's encoder takes bytes).
		celgo.Function("base64.encode",
			celgo.Overload("base64_encode_string", []*celgo.Type{celgo.StringType}, celgo.StringType,
				celgo.UnaryBinding(func(v ref.Val) ref.Val {
					return types.String(base64.StdEncoding.EncodeToString([]byte(v.(types.String))))
				}))),
		// unvalidatedJwtPayload(token): the claims of a JWT's payload, its signature NOT checked (for
		// tokens the gateway itself just obtained, e.g. from a token endpoint).
		celgo.Function("unvalidatedJwtPayload",
			celgo.Overload("unvalidatedJwtPayload_string", []*celgo.Type{celgo.StringType}, celgo.DynType,
				celgo.UnaryBinding(jwtPayload))),
		// form.encode(m): m as an application/x-www-form-urlencoded body, keys sorted; a list value
		// repeats its key.
		celgo.Function("form.encode",
			celgo.Overload("form_encode_map", []*celgo.Type{mapType}, celgo.StringType,
				celgo.UnaryBinding(formEncode))),
	}
}

func mergeMaps(a, b ref.Val) ref.Val {
	am, ok1 := a.(traits.Mapper)
	bm, ok2 := b.(traits.Mapper)
	if !ok1 || !ok2 {
		return types.NewErr("merge: want two maps")
	}
	out := map[ref.Val]ref.Val{}
	for _, m := range []traits.Mapper{am, bm} {
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			out[k] = m.Get(k)
		}
	}
	return types.NewRefValMap(types.DefaultTypeAdapter, out)
}

// regexCache keeps the patterns expressions use, which are nearly always literals, compiled. It is
// bounded: past regexCacheMax patterns it starts over.
var regexCache = struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}{m: map[string]*regexp.Regexp{}}

const regexCacheMax = 512

func compileRegex(p string) (*regexp.Regexp, error) {
	regexCache.Lock()
	defer regexCache.Unlock()
	if re, ok := regexCache.m[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	if len(regexCache.m) >= regexCacheMax {
		regexCache.m = map[string]*regexp.Regexp{}
	}
	regexCache.m[p] = re
	return re, nil
}

func regexReplace(args []ref.Val, all bool) ref.Val {
	s, ok1 := args[0].(types.String)
	p, ok2 := args[1].(types.String)
	repl, ok3 := args[2].(types.String)
	if !ok1 || !ok2 || !ok3 {
		return types.NewErr("regexReplace: want strings")
	}
	re, err := compileRegex(string(p))
	if err != nil {
		return types.NewErr("regexReplace: %v", err)
	}
	if all {
		return types.String(re.ReplaceAllString(string(s), string(repl)))
	}
	loc := re.FindStringSubmatchIndex(string(s))
	if loc == nil {
		return s
	}
	var b strings.Builder
	b.WriteString(string(s[:loc[0]]))
	b.Write(re.ExpandString(nil, string(repl), string(s), loc))
	b.WriteString(string(s[loc[1]:]))
	return types.String(b.String())
}

func formEncode(v ref.Val) ref.Val {
	m, ok := v.(traits.Mapper)
	if !ok {
		return types.NewErr("form.encode: want a map")
	}
	vals := url.Values{}
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		key := fmt.Sprint(k.Value())
		switch x := m.Get(k).(type) {
		case traits.Lister:
			for li := x.Iterator(); li.HasNext() == types.True; {
				vals.Add(key, formValue(li.Next()))
			}
		case *types.Err:
			return x
		default:
			vals.Add(key, formValue(x))
		}
	}
	return types.String(vals.Encode()) // Encode sorts by key
}

func formValue(v ref.Val) string {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case types.Bytes:
		return string(x)
	case types.Null:
		return ""
	}
	return fmt.Sprint(v.Value())
}

// ToJSON encodes a value an expression returned as JSON: maps as objects, lists as arrays (an empty
// list as []), null as null. An error value is returned as the error.
func ToJSON(v ref.Val) ([]byte, error) {
	native, err := nativeOf(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(native)
}

func jwtPayload(v ref.Val) ref.Val {
	parts := strings.Split(string(v.(types.String)), ".")
	if len(parts) != 3 {
		return types.NewErr("unvalidatedJwtPayload: not a JWT (want three dot-separated parts)")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return types.NewErr("unvalidatedJwtPayload: payload: %v", err)
	}
	return parseJSON(b)
}

// clientCertPEM is the leaf certificate a TLS client presented (source.certificate), PEM-encoded; ""
// without one.
func clientCertPEM(r *http.Request) string {
	if r == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.TLS.PeerCertificates[0].Raw}))
}
