package llm

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzServerToolsMessages feeds arbitrary client tools lists, model answers and MCP contents to the
// server-tools helpers: none may panic, the gateway's tool calls never survive stripping, stream
// events always open and close the message, and a tool result stays within its budget.
func FuzzServerToolsMessages(f *testing.F) {
	f.Add(`[{"type":"web_search_20250305","name":"web_search","max_uses":2},{"name":"x","input_schema":{}}]`,
		`{"content":[{"type":"text","text":"a"},{"type":"tool_use","id":"1","name":"web_search","input":{"q":1}}],"stop_reason":"tool_use","usage":{"input_tokens":3}}`,
		`[{"type":"text","text":"héllo wörld"},{"type":"image","data":"AAAA"},{"type":"resource","resource":{"uri":"u"}}]`, 5)
	f.Add(`[{"type":"web_search_1","name":{}},{"type":7},null,1]`, `{"content":{"a":1},"usage":[1]}`, `[{"type":"audio"},null]`, 0)
	f.Add(`{"type":"web_search_x"}`, `{"content":[null,7,{"type":"tool_use","name":7}],"stop_reason":"tool_use"}`, `{}`, 1<<20)
	f.Fuzz(func(t *testing.T, tools, answer, content string, budget int) {
		if budget < 0 || budget > 1<<20 {
			budget = 16
		}
		st := &ServerTools{Tools: []ServerTool{{Type: "web_search_*", Tool: "search"}, {Type: "exact"}}}
		var list []map[string]json.RawMessage
		_ = json.Unmarshal([]byte(tools), &list)
		found := findServerTools(list, st)
		l := &stLoop{tools: map[string]declaredServerTool{}}
		for _, d := range found {
			if d.name == "" || d.mapping < 0 || d.mapping >= len(st.Tools) {
				t.Fatalf("bad match %+v", d)
			}
			l.tools[d.name] = d
		}
		var msg map[string]any
		if json.Unmarshal([]byte(answer), &msg) == nil && msg != nil {
			_ = toolUses(msg)
			var u usageTotals
			u.add(msg)
			u.apply(msg)
			l.stripOurs(msg)
			for _, c := range toolUses(msg) {
				if l.tools[c.name].name != "" {
					t.Fatalf("gateway tool call %q survived stripping", c.name)
				}
			}
			evs := messageEvents(msg)
			if evs[0].name != "message_start" || evs[len(evs)-1].name != "message_stop" {
				t.Fatalf("events %v", evs)
			}
			for _, ev := range evs {
				if _, err := json.Marshal(ev.data); err != nil {
					t.Fatal(err)
				}
			}
		}
		var items []map[string]any
		_ = json.Unmarshal([]byte(content), &items)
		size := 0
		for _, b := range mcpToToolResult(items, budget) {
			m := b.(map[string]any)
			if s, ok := m["text"].(string); ok {
				size += len(strings.TrimSuffix(s, truncationMarker))
			}
		}
		if size > budget+len(truncationMarker) {
			t.Fatalf("result of %d bytes over a budget of %d", size, budget)
		}
	})
}
