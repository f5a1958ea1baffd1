package mcp

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzEventID feeds Last-Event-ID values to the parser: it never panics, and what it accepts names
// the same target ids once issued again.
func FuzzEventID(f *testing.F) {
	fed := New(Config{Targets: []Target{HTTPTarget("alpha", "http://127.0.0.1:1/mcp"), HTTPTarget("beta", "http://127.0.0.1:1/mcp")}})
	defer fed.Close()
	for _, s := range []string{"alpha/XzA", "+alpha/XzA+beta/MV8z", "+beta/MV8z", "alpha/YQo", "alpha/", "+", "++", "alpha/XzA+beta/MV8z", "ghost/XzA", "/", "alpha//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, get, err := fed.parseEventID(s)
		if err != nil {
			return
		}
		var again string
		if get {
			again = getEventID(fed.targets, ids)
			if again == "" {
				again = primeSuffix() // a priming event sent before any target gave an id
			}
		} else {
			for i, id := range ids {
				if id != "" {
					again = postEventID(fed.targets[i], id)
				}
			}
		}
		ids2, get2, err := fed.parseEventID(again)
		if err != nil || get2 != get || !slices.Equal(ids, ids2) {
			t.Fatalf("%q parsed to %q, issued again as %q: %q %v", s, ids, again, ids2, err)
		}
	})
}

// FuzzReadSSE feeds arbitrary streams to the SSE reader: it never panics, reports comments apart
// from events, never hands out an event without data or id, and the rest of a stream after an
// event can be read to its end (the drain after a response).
func FuzzReadSSE(f *testing.F) {
	for _, s := range []string{
		"event: message\ndata: {}\n\n",
		": keep-alive\n\nid: 1\ndata:\n\n",
		"id: _0\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n: after\n\n",
		"data: a\r\ndata: b\r\n\r\n",
		"data: x\n\ndata: y",
		":\n:\n\n\n",
		"id\ndata\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		br := getSSEReader(bytes.NewReader(b))
		defer putSSEReader(br)
		_, _ = readSSEFrom(br, func(ev sseEvent) bool {
			if ev.comment && (ev.id != "" || ev.data != nil) {
				t.Fatalf("comment with content: %+v", ev)
			}
			if !ev.comment && ev.id == "" && ev.data == nil {
				t.Fatalf("empty event: %+v", ev)
			}
			return !ev.comment && ev.data != nil && len(ev.data)%2 == 0 // stop at some events, as at a response
		})
		if !discardAll(br) {
			t.Fatal("the rest of a short stream was not read to its end")
		}
	})
}
