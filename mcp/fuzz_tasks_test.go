package mcp

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func fuzzFederation(tb testing.TB) *Federation {
	f := New(Config{
		Targets:    []Target{ServerTarget("a", sdk.NewServer(&sdk.Implementation{Name: "a", Version: "1"}, nil))},
		SessionKey: []byte("0123456789abcdef0123456789abcdef"),
	})
	tb.Cleanup(func() { _ = f.Close() })
	return f
}

// FuzzTaskID checks the client-facing task ids: whatever a client sends as a task id, opening it
// never panics, and it opens only if it is exactly an id the gateway issued (resealing what it holds
// gives the same id back), so a client cannot forge one, tamper with one, or reuse a session id.
// Records round-trip through seal and open.
func FuzzTaskID(f *testing.F) {
	fed := fuzzFederation(f)
	issued, err := fed.sealTask(taskRecord{Target: "a", Tool: "research", ID: "4f1c", Session: "s1"})
	if err != nil {
		f.Fatal(err)
	}
	tampered := []byte(issued)
	tampered[10] ^= 'A' ^ 'B'
	sid, _ := fed.seal(&token{Version: "2025-11-25", Issued: 1, Expires: 2})
	for _, s := range []string{
		issued, string(tampered), sid, // the attacks: a flipped byte, a session id as a task id
		"", "x", strings.Repeat("A", maxTaskID+1), base64.RawURLEncoding.EncodeToString(make([]byte, 64)),
		issued + "A", issued[:len(issued)-1], "====", "\x00\xff",
	} {
		f.Add(s, "a", "tool", "id", "sess")
	}
	f.Fuzz(func(t *testing.T, id, target, tool, upstream, session string) {
		if rec, err := fed.openTask(id); err == nil {
			again, err := fed.sealTask(rec)
			if err != nil || again != id {
				t.Fatalf("opened an id the gateway did not issue: %q -> %+v", id, rec)
			}
		}
		rec := taskRecord{Target: target, Tool: tool, ID: upstream, Session: session}
		sealed, err := fed.sealTask(rec)
		if err != nil {
			if plain, _ := json.Marshal(rec); upstream != "" && len(upstream) <= maxUpstreamTaskID && len(plain) < 1400 {
				t.Fatalf("sealing %+v: %v", rec, err)
			}
			return
		}
		if len(sealed) > maxTaskID {
			t.Fatalf("issued an id of %d bytes", len(sealed))
		}
		back, err := fed.openTask(sealed)
		if target == "" {
			if err == nil {
				t.Fatalf("a record without a target opened: %+v", back)
			}
			return
		}
		if err != nil {
			t.Fatalf("opening what was sealed: %v", err)
		}
		// JSON carries strings as valid UTF-8: compare what a round trip through JSON keeps.
		var want taskRecord
		b, _ := json.Marshal(rec)
		_ = json.Unmarshal(b, &want)
		if back != want {
			t.Fatalf("round trip: %+v != %+v", back, want)
		}
	})
}

// FuzzTaskMessages feeds arbitrary target messages and answers through the task id rewriting: no
// panic, and valid JSON stays valid JSON.
func FuzzTaskMessages(f *testing.F) {
	fed := fuzzFederation(f)
	for _, s := range []string{
		`{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"t1","status":"working"}}`,
		`{"jsonrpc":"2.0","id":"x","method":"elicitation/create","params":{"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"t1"}}}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"task":{"taskId":"t1","status":"working"}}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"taskId":"t1","status":"completed"}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"content":[],"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"t1"}}}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"contents":[{"uri":"ui://x/y.html","text":"<html>"}]}}`,
		`{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":17}}`,
		`{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"` + strings.Repeat("x", 600) + `"}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"task":{"taskId":"a\"b\\u0000"}}}`,
		`{`, `[]`, `null`,
	} {
		f.Add([]byte(s), "notifications/tasks/status")
	}
	sealed, err := fed.sealTask(taskRecord{Target: "a", Tool: "x", ID: "t1", Session: "k"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":3,"result":{"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"` + sealed + `"}}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"x","params":{"_meta":{"io.modelcontextprotocol/related-task":{"taskId":"` + sealed + `"}}}}`,
	} {
		f.Add([]byte(s), "x")
	}
	f.Fuzz(func(t *testing.T, msg []byte, method string) {
		sess := fed.newSession("2025-11-25", nil)
		sess.key = "k"
		tg := fed.targets[0]
		valid := json.Valid(msg)
		check := func(what string, out []byte) {
			if valid && !json.Valid(out) {
				t.Fatalf("%s made invalid JSON: %s -> %s", what, msg, out)
			}
		}
		check("relay", fed.sealRelayedTask(sess, tg, method, append([]byte(nil), msg...)))
		check("unseal", fed.unsealRelatedTask(sess, tg, append([]byte(nil), msg...)))
		var got []byte
		sink := &capture{fn: func(b []byte) { got = b }}
		(&taskCallReply{reply: sink, f: fed, sess: sess, t: tg, tool: "x"}).final(append([]byte(nil), msg...))
		check("create", got)
		(&taskIDReply{reply: sink, sealed: "S", method: "tasks/result"}).final(append([]byte(nil), msg...))
		check("result", got)
		(&readReply{reply: sink, t: tg}).final(append([]byte(nil), msg...))
		check("read", got)
	})
}

type capture struct{ fn func([]byte) }

func (c *capture) relay([]byte)     {}
func (c *capture) final(msg []byte) { c.fn(msg) }

// FuzzExposedURI: a prefixed resource URI (ui:// ones keep their scheme) always splits back into its
// target and the target's URI, and splitting any client input never panics.
func FuzzExposedURI(f *testing.F) {
	for _, s := range []string{"ui://get-time/mcp-app.html", "ui://", "ui:///x", "file:///a+b", "demo://a/readme", "ui://a+b/c", "", "+", "ui:/x"} {
		f.Add("apps", s)
	}
	f.Fuzz(func(t *testing.T, name, uri string) {
		splitExposedURI(uri)
		if name == "" || strings.ContainsAny(name, "_+/") {
			return
		}
		got, up, ok := splitExposedURI(exposedURI(&target{Target: Target{Name: name}}, uri))
		if !ok || got != name || up != uri {
			t.Fatalf("%q %q: split back to %q %q %v", name, uri, got, up, ok)
		}
	})
}
