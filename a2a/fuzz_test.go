package a2a

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agentgw/agentgateway/internal/jsonscan"
)

// FuzzParseCall checks the scanner against encoding/json decoding the way a2a-go does (into a struct:
// keys match case-insensitively, the last match wins): it never panics; it refuses bodies with
// duplicate keys (equal under strings.EqualFold) or nesting deeper than jsonscan.MaxDepth; on any
// other valid JSON request it finds the same method, id and task/context ids a full decode finds.
func FuzzParseCall(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","taskId":"t","contextId":"c","metadata":{"skill":"s"},"parts":[{"kind":"text","text":"hi"}]}}}`,
		`{"jsonrpc":"2.0","id":"a","method":"tasks/get","params":{"id":"t1","historyLength":3}}`,
		`{"jsonrpc":"2.0","id":null,"method":"CancelTask","params":{"id":"t\u00e9"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"SendStreamingMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"x"}]},"metadata":{"skill":"k"}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tasks/pushNotificationConfig/set","params":{"taskId":"t","pushNotificationConfig":{"url":"http://x"}}}`,
		`[{"jsonrpc":"2.0"}]`, `"x"`, `{}`, `{"method":1}`, `{"jsonrpc":"2.0","method":"x\"y"}`, ``, `{"a":[[[[[]]]]]}`,
		`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"taskId":1}}}`,
		// Duplicate keys: rules saw one member, a2a-go acts on another.
		`{"jsonrpc":"2.0","id":1,"method":"tasks/get","m\u0065thod":"message/send","params":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tasks/get","METHOD":"message/send","params":{}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tasks/cancel","params":{"id":"mine","\u0069d":"theirs"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"message/send","params":{"message":{"taskId":"a","t\u0061skId":"b"}}}`,
		`{"jsonrpc":"2.0","ID":4,"Method":"tasks/get","PARAMS":{"Id":"t"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := parseCall(body, nil)
		if !json.Valid(body) || !utf8.Valid(body) {
			if err == nil {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			return
		}
		if dup, deep := strictProblems(body); dup || deep {
			if err == nil || (!errors.Is(err, jsonscan.ErrDuplicateKey) && !errors.Is(err, jsonscan.ErrTooDeep)) || c.ID != nil {
				t.Fatalf("got %v (id %s) for a body with duplicate keys or deep nesting: %q", err, c.ID, body)
			}
			return
		}
		var top struct {
			JSONRPC, ID, Method, Params json.RawMessage
		}
		if json.Unmarshal(body, &top) != nil {
			if err == nil {
				t.Fatalf("accepted a non-object: %q", body)
			}
			return
		}
		var method string
		_ = json.Unmarshal(top.Method, &method)
		known := methods[method] != nil
		wellFormed := string(top.JSONRPC) == `"2.0"` && known && (top.Params == nil || isObjectOrNull(top.Params)) && validIDRaw(top.ID)
		if wellFormed != (err == nil) {
			t.Fatalf("scanner says %v, decoder says well-formed=%v for %q", err, wellFormed, body)
		}
		if err != nil {
			return
		}
		if c.Method != method {
			t.Fatalf("method %q, want %q", c.Method, method)
		}
		if id := top.ID; id != nil && string(c.ID) != string(id) {
			t.Fatalf("id %s, want %s", c.ID, id)
		}
		var p struct {
			ID        any
			TaskID    any
			ContextID any
			Message   any
		}
		if json.Unmarshal(top.Params, &p) != nil {
			return
		}
		if s, ok := p.ID.(string); ok && methods[method].idIsTask && p.TaskID == nil && p.Message == nil && c.TaskID != s {
			t.Fatalf("task id %q, want %q", c.TaskID, s)
		}
		if s, ok := p.TaskID.(string); ok && p.Message == nil && (p.ID == nil || !methods[method].idIsTask) && c.TaskID != s {
			t.Fatalf("task id %q, want %q", c.TaskID, s)
		}
	})
}

// strictProblems walks valid JSON with encoding/json's tokens: dup reports an object with two keys
// equal under strings.EqualFold, deep nesting beyond jsonscan.MaxDepth.
func strictProblems(body []byte) (dup, deep bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type level struct {
		object, key bool
		keys        []string
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return false, false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				if len(stack) == jsonscan.MaxDepth {
					return false, true
				}
				if top != nil {
					top.key = true
				}
				stack = append(stack, &level{object: d == '{', key: true})
			} else {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if s, ok := tok.(string); ok && top != nil && top.object && top.key {
			for _, k := range top.keys {
				if strings.EqualFold(k, s) {
					return true, false
				}
			}
			top.keys = append(top.keys, s)
			top.key = false
			continue
		}
		if top != nil {
			top.key = true
		}
	}
}

func isObjectOrNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return strings.HasPrefix(s, "{") || s == "null"
}

func validIDRaw(raw json.RawMessage) bool {
	if raw == nil {
		return true
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	switch v.(type) {
	case nil, string, float64:
		return true
	}
	return false
}

// FuzzTransformCard feeds arbitrary cards to the rewriter (and the version bridge): no panics, and a
// rewritten card is JSON whose v0.3 url leads to the public base.
func FuzzTransformCard(f *testing.F) {
	for _, s := range []string{
		`{"name":"x","url":"http://agent:9999/rpc","additionalInterfaces":[{"url":"http://agent/rpc","transport":"JSONRPC"},{"url":"agent:1","transport":"GRPC"}],"capabilities":{},"skills":[]}`,
		`{"name":"y","supportedInterfaces":[{"url":"http://agent/v1","protocolBinding":"JSONRPC","protocolVersion":"1.0"}],"capabilities":{"extendedAgentCard":true},"skills":[{"id":"s","securityRequirements":[{"schemes":{"k":{"list":["a"]}}}]}],"securitySchemes":{"k":{"apiKeySecurityScheme":{"location":"header","name":"X"}}}}`,
		`{"url":"::::","signatures":[{"protected":"x"}]}`, `null`, `[]`, `{"url":1}`, `{"supportedInterfaces":[null,1]}`,
		`{"security":[{"a":["b"]}],"securitySchemes":{"a":{"type":"http","scheme":"bearer"}},"url":"http://x/?q=1#f"}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, card []byte, mode uint8) {
		o := cardOptions{base: "https://gw.example/agents/a", prefix: "/agents/a", rewrite: true, stripSignatures: mode&1 == 1}
		switch mode % 3 {
		case 1:
			o.bridge, o.client = V03, V10
		case 2:
			o.bridge, o.client = V10, V03
		}
		out, err := transformCard(card, o)
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("output is not a JSON object: %v: %s", err, out)
		}
		if u, ok := m["url"].(string); ok && u != "" && !strings.HasPrefix(u, o.base) {
			t.Fatalf("url %q not under the public base", u)
		}
	})
}

// FuzzTranslate runs every translation on arbitrary JSON: results and events of agents in either
// version must never crash the gateway.
func FuzzTranslate(f *testing.F) {
	for _, s := range []string{
		`{"kind":"task","id":"t","status":{"state":"working","message":{"kind":"message","role":"agent","parts":[{"kind":"file","file":{"uri":"u"}}]}},"artifacts":[{"parts":[{"kind":"data","data":{}}]}]}`,
		`{"statusUpdate":{"status":{"state":"TASK_STATE_FAILED"}}}`, `{"artifactUpdate":{"artifact":{"parts":[{"raw":"AA=="},{"data":1}]}}}`,
		`{"message":{"role":"ROLE_AGENT","parts":[null,1,"x",{"url":"u"}]}}`, `{"kind":"status-update","status":"x"}`, `[]`, `null`,
		`{"message":{"parts":{}},"configuration":{"returnImmediately":"yes","blocking":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := decodeAny(raw)
		if err != nil {
			return
		}
		for _, tr := range []translator{{to: V03}, {to: V10}} {
			for _, m := range []string{"message/send", "SendMessage", "tasks/get", "GetTask"} {
				if out, err := tr.result(m, v); err == nil {
					if _, err := json.Marshal(out); err != nil {
						t.Fatalf("result not encodable: %v", err)
					}
				}
				_, _ = tr.params(m, v)
			}
			_, _ = tr.event(v)
		}
	})
}
