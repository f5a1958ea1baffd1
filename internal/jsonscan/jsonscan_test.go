package jsonscan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScanAcceptsStrictJSON(t *testing.T) {
	for _, s := range []string{
		`{}`, `[]`, ` {"a":1} `, "\t\r\n[1]\n", `0`, `-0`, `-0.5e+10`, `1E-2`, `123`, `"x"`, `true`, `false`, `null`,
		`{"a":{"a":{"a":1}}}`, // equal keys in different objects
		`[{"a":1},{"a":2}]`,
		`{"a":1,"b":2,"A\u0301":3}`, // a combining accent makes another key
		`{"\ud83d\ude00":1,"\ud83d\ude01":2}`,
		`{"\u0000":1,"":2}`,
		`{"s":"é \u00e9 \ud800 \\ \/ \" \b\f\n\r\t"}`,
	} {
		_, err := Scan([]byte(s), nil)
		require.NoError(t, err, "%s", s)
		require.True(t, json.Valid([]byte(s)), s)
	}
}

func TestScanRejectsMalformedJSON(t *testing.T) {
	for _, s := range []string{
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1}{}`, `{"a":1} x`, `01`, `1.`, `.5`, `-`,
		`1e`, `+1`, `tru`, `truex`, `nul`, `NaN`, `Infinity`, `"\x"`, `"\u12g4"`, `"a` + "\x01" + `"`, `"abc`, `'a'`,
		"\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", // invalid UTF-8, a surrogate encoded as UTF-8
		"\xef\xbb\xbf{}", // byte order mark
		`[1 2]`, `{"a":1 "b":2}`, `{,"a":1}`, `[,1]`, `{"a":}`, `{"a"}`, `[}`, `{]`,
	} {
		_, err := Scan([]byte(s), nil)
		require.ErrorIs(t, err, ErrSyntax, "%q", s)
		var se *Error
		require.True(t, errors.As(err, &se))
	}
}

func TestScanRejectsDuplicateKeys(t *testing.T) {
	for _, c := range []struct{ body, path, key string }{
		{`{"a":1,"a":2}`, "$", "a"},
		{`{"name":"x","n\u0061me":"y"}`, "$", "name"},
		{`{"a/b":1,"a\/b":2}`, "$", "a/b"},
		{`{"😀":1,"\ud83d\ude00":2}`, "$", "😀"},
		{`{"\ud800":1,"\udbff":2}`, "$", "\ufffd"}, // Go decodes both lone surrogates as U+FFFD
		{`{"\ufffd":1,"\ud800":2}`, "$", "\ufffd"},
		{`{"method":"x","METHOD":"y"}`, "$", "METHOD"},
		{`{"skill":1,"ſkill":2}`, "$", "ſkill"},        // U+017F LATIN SMALL LETTER LONG S folds to s
		{`{"kind":1,"\u212aind":2}`, "$", "\u212aind"}, // U+212A KELVIN SIGN folds to k
		{`{"ǆ":1,"ǅ":2}`, "$", "ǅ"},                    // lower and title case of one letter
		{`{"jsonrpc":"2.0","params":{"name":"a","arguments":{},"name":"b"}}`, "$.params", "name"},
		{`{"params":{"arguments":{"deep":[1,{"x":1,"y":{},"x":2}]}}}`, "$.params.arguments.deep[1]", "x"},
		{`[0,1,{"a.b":{"c":1,"c":1}}]`, `$[2]["a.b"]`, "c"},
	} {
		_, err := Scan([]byte(c.body), nil)
		require.ErrorIs(t, err, ErrDuplicateKey, c.body)
		var se *Error
		require.True(t, errors.As(err, &se))
		assert.Equal(t, c.path, se.Path, c.body)
		assert.Equal(t, c.key, se.Key, c.body)
		assert.Contains(t, err.Error(), "duplicate object key")
	}
}

func TestScanLargeObjects(t *testing.T) {
	const n = 200_000
	var sb strings.Builder
	sb.WriteString(`{"outer":{`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"k%d":{"v":%d,"w":[{"k1":1}]}`, i, i)
	}
	ok := sb.String() + `},"k1":2}`
	_, err := Scan([]byte(ok), nil)
	require.NoError(t, err, "keys of nested objects are their own")

	// The duplicate is the last key of a map-checked object; escaped, and in another case.
	_, err = Scan([]byte(sb.String()+`,"K\u0031234":0}}`), nil)
	require.ErrorIs(t, err, ErrDuplicateKey)
	assert.Contains(t, err.Error(), `"K1234" (same member as "k1234") in $.outer`)

	// Siblings reuse the map of a closed large object: the next object starts empty.
	var two strings.Builder
	two.WriteString(`[{`)
	for i := range 3 * linearKeys {
		fmt.Fprintf(&two, `"k%d":0,`, i)
	}
	two.WriteString(`"z":0},{"k0":0,"k1":1}]`)
	_, err = Scan([]byte(two.String()), nil)
	require.NoError(t, err)
}

func TestScanDepthLimit(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	_, err := Scan([]byte(ok), nil)
	require.NoError(t, err)
	deep := strings.Repeat(`{"a":[`, 1_000_000) // no closing: the limit stops the scan early
	_, err = Scan([]byte(deep), nil)
	require.ErrorIs(t, err, ErrTooDeep)
}

func TestScanReportsTopLevelMembers(t *testing.T) {
	body := []byte(` {"jsonrpc":"2.0", "i\u0064" : 7 ,"params":{"name":"a\"b","x":[1,{"y":2}]},"ID2":null} `)
	var keys []string
	var values []string
	top, err := Scan(body, func(k Key, v Span) {
		keys = append(keys, k.String())
		values = append(values, string(v.In(body)))
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"jsonrpc", "id", "params", "ID2"}, keys)
	assert.Equal(t, []string{`"2.0"`, `7`, `{"name":"a\"b","x":[1,{"y":2}]}`, `null`}, values)
	assert.Equal(t, string(body[1:len(body)-1]), string(top.In(body)))

	params := Field(body, top, "PARAMS")
	assert.Equal(t, `a"b`, Unquote(body, Field(body, params, "name")))
	assert.Equal(t, `[1,{"y":2}]`, string(Field(body, top, "params", "x").In(body)))
	assert.False(t, Field(body, top, "params", "nope").Found())
	assert.False(t, Field(body, top, "jsonrpc", "x").Found(), "not an object")
	raw, ok := RawString(body, Field(body, top, "jsonrpc"))
	assert.True(t, ok)
	assert.Equal(t, "2.0", string(raw))
	_, ok = RawString(body, Field(body, params, "name"))
	assert.False(t, ok, "escaped")
}

func TestKeyMatches(t *testing.T) {
	for _, c := range []struct {
		raw, name string
		want      bool
	}{
		{"name", "name", true}, {"NaMe", "name", true}, {`n\u0061me`, "name", true}, {`N\u0041ME`, "name", true},
		{"names", "name", false}, {"nam", "name", false}, {"nome", "name", false},
		{"ſkill", "skill", true}, {"\u212aey", "key", true}, {`\u017fkill`, "SKILL", true},
		{"a/b", `a/b`, true}, {`a\/b`, "a/b", true}, {"@", "`", false}, {"[", "{", false},
		{`\ud83d\ude00`, "😀", true}, {`\ud800`, "\ufffd", true},
	} {
		k := Key{raw: []byte(c.raw), plain: isPlain([]byte(c.raw))}
		assert.Equal(t, c.want, k.Matches(c.name), "%s vs %s", c.raw, c.name)
	}
}

func TestScanDoesNotAllocate(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":"p"},"arguments":{"text":"h\u00e9llo","n":[1,2.5,-3e2,true,false,null],"o":{"k":"v"}}}}`)
	var seen int
	allocs := testing.AllocsPerRun(100, func() {
		top, err := Scan(body, func(k Key, v Span) {
			if k.Matches("method") {
				seen++
			}
		})
		if err != nil || !Field(body, top, "params", "name").Found() {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
	require.NotZero(t, seen)
}

func BenchmarkScan(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"tools-call", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello","count":3,"flags":[true,false,null]}}}`},
		{"100k-keys", func() string {
			var sb strings.Builder
			sb.WriteByte('{')
			for i := range 100_000 {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `"key%d":%d`, i, i)
			}
			return sb.String() + "}"
		}()},
	} {
		body := []byte(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Scan(body, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/json.Valid", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !json.Valid(body) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
