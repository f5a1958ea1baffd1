package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// reference is the strict decoder the scanner is checked against, built from encoding/json: nil for
// input it accepts, else ErrSyntax, ErrDuplicateKey or ErrTooDeep (the first problem in document
// order). Keys are compared as encoding/json decodes them, with strings.EqualFold.
func reference(b []byte) error {
	if !utf8.Valid(b) || !json.Valid(b) {
		return ErrSyntax
	}
	type level struct {
		object bool
		// keys buckets the keys so far (EqualFold compares within a bucket): large objects stay cheap.
		keys map[string][]string
		key  bool // the next string token is a key
	}
	var stack []*level
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // 1e400 is valid JSON
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return ErrSyntax // not expected after json.Valid
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				if len(stack) == MaxDepth {
					return ErrTooDeep
				}
				stack = append(stack, &level{object: v == '{', key: true, keys: map[string][]string{}})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.key {
				bucket := strings.ToUpper(strings.ToLower(v))
				for _, k := range top.keys[bucket] {
					if strings.EqualFold(k, v) {
						return ErrDuplicateKey
					}
				}
				top.keys[bucket] = append(top.keys[bucket], v)
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}

var fuzzSeeds = []string{
	// The attacks: a second name, escaped, in another case, with surrogates, deep inside params.
	`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_simple_text","name":"test_image_content","arguments":{}}}`,
	`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_simple_text","n\u0061me":"test_image_content","arguments":{}}}`,
	`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"x_fast","name":"hang"}}`,
	`{"jsonrpc":"2.0","id":7,"method":"tasks/get","METHOD":"message/send","params":{"id":"t"}}`,
	`{"jsonrpc":"2.0","id":8,"method":"tasks/cancel","params":{"id":"mine","\u0069d":"theirs"}}`,
	`{"jsonrpc":"2.0","id":9,"method":"message/send","params":{"message":{"taskId":"a","ta\u017fkId":"b"}}}`,
	`{"\ud83d\ude00":1,"😀":2}`, `{"\ud800":1,"\udfff":2}`, `{"a\/b":1,"a/b":2}`, `{"\u212a":1,"k":2}`,
	`{"params":{"arguments":{"x":[{"y":1,"y":2}]}}}`,
	// Valid messages and edge cases.
	`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}`,
	`{"jsonrpc":"2.0","id":"a","result":{"tools":[{"name":"a","inputSchema":{"type":"object"}},{"name":"b"}]}}`,
	`[[[[[[[[[[]]]]]]]]]]`, `{"a":{"a":{"a":{}}}}`, `-0.0e-0`, `"\u0000\"\\\/\b\f\n\r\t"`, ` null `, `{"":0,"\u0000":1}`,
	"{\"a\":\"\xff\"}", `{"a":1,}`, `[01]`, `{"a" : 1 , "b" : [ true , false , null ] }`, `[1e400,-2E-400]`,
}

// FuzzScan checks Scan against the reference decoder: it accepts exactly the valid JSON without
// duplicate keys (nor too deep), rejects the rest with the right error, and what it extracts (members,
// nested fields, string values) is what encoding/json decodes.
func FuzzScan(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		type member struct {
			key Key
			v   Span
		}
		var got []member
		top, err := Scan(b, func(k Key, v Span) { got = append(got, member{k, v}) })
		want := reference(b)
		if want == nil {
			if err != nil {
				t.Fatalf("rejected valid input %q: %v", b, err)
			}
		} else if err == nil || (want != ErrSyntax && !errors.Is(err, want)) {
			// Malformed input may hold a duplicate key or deep nesting before its syntax error.
			t.Fatalf("got %v, want %v for %q", err, want, b)
		}
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(b) {
				t.Fatalf("error %#v for %q", err, b)
			}
			return
		}
		if string(bytes.TrimSpace(b)) != string(top.In(b)) {
			t.Fatalf("top span %v of %q", top, b)
		}
		if !IsObject(b, top) {
			if len(got) != 0 {
				t.Fatalf("members reported for a non-object %q", b)
			}
			return
		}
		checkObject(t, b, top)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(top.In(b), &m); err != nil {
			t.Fatal(err)
		}
		if len(m) != len(got) {
			t.Fatalf("%d members, encoding/json has %d: %q", len(got), len(m), b)
		}
		for _, g := range got {
			if raw, ok := m[g.key.String()]; !ok || !bytes.Equal(raw, g.v.In(b)) {
				t.Fatalf("member %q = %q, encoding/json has %q", g.key.String(), g.v.In(b), raw)
			}
		}
	})
}

// checkObject compares Members, Field, Key.Matches and Unquote on the object at obj (and the objects
// inside it) with encoding/json.
func checkObject(t *testing.T, b []byte, obj Span) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj.In(b), &m); err != nil {
		t.Fatal(err)
	}
	n := 0
	for k, v := range Members(b, obj) {
		n++
		name := k.String()
		if raw, ok := m[name]; !ok || !bytes.Equal(raw, v.In(b)) {
			t.Fatalf("Members: %q = %q, encoding/json has %q", name, v.In(b), raw)
		}
		if !k.Matches(name) || (n <= 64 && Field(b, obj, name) != v) { // Field is O(members)
			t.Fatalf("key %q not found by its own name", name)
		}
		if up := strings.ToUpper(name); asciiOnly(name) && (!k.Matches(up) || (n <= 64 && Field(b, obj, up) != v)) {
			t.Fatalf("key %q not found as %q", name, up)
		}
		if IsString(b, v) {
			var s string
			if err := json.Unmarshal(v.In(b), &s); err != nil || s != Unquote(b, v) {
				t.Fatalf("Unquote %q = %q, encoding/json says %q", v.In(b), Unquote(b, v), s)
			}
			if raw, ok := RawString(b, v); ok && string(raw) != s {
				t.Fatalf("RawString %q = %q", v.In(b), raw)
			}
		}
		if IsObject(b, v) {
			checkObject(t, b, v)
		}
	}
	if n != len(m) {
		t.Fatalf("Members saw %d of %d members of %q", n, len(m), obj.In(b))
	}
	// Walk sees the same members and ends where the object does.
	var walked []Span
	if end := Walk(b, obj.Start, func(k Key, v int) int {
		e := Skip(b, v)
		walked = append(walked, Span{v, e})
		if Field(b, obj, k.String()) != (Span{v, e}) && len(walked) <= 64 {
			t.Fatalf("Walk: %q at %v, Field says %v", k.String(), Span{v, e}, Field(b, obj, k.String()))
		}
		return e
	}); end != obj.End || len(walked) != n {
		t.Fatalf("Walk ended at %d (object ends at %d) after %d of %d members", end, obj.End, len(walked), n)
	}
}
