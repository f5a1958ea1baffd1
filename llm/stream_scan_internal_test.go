package llm

import (
	"encoding/json"
	"testing"
)

// FuzzAnthropicDelta: whenever the scanner reads an event as a text or tool-argument delta,
// encoding/json (the full decoder the other events take) reads the same index, kind and value.
func FuzzAnthropicDelta(f *testing.F) {
	for _, s := range []string{
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
		`{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`,
		`{"TYPE":"content_block_delta","Index":12,"delta":{"Type":"text_delta","TEXT":"caf\u00e9 \ud83d\ude00"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"},"type":"ping"}`,
		`{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"a"}}`,
		`{"type":"content_block_delta","index":1e0,"delta":{"type":"text_delta","text":"a"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		i, s, args, ok := anDelta(data)
		if !ok {
			return
		}
		var ev struct {
			Type  string `json:"type"`
			Index int    `json:"index"`
			Delta *struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
			} `json:"delta"`
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("scanner took %q, encoding/json refuses it: %v", data, err)
		}
		want := ev.Delta.Text
		if args {
			want = ev.Delta.PartialJSON
		}
		if ev.Type != "content_block_delta" || ev.Index != i || want != s ||
			(ev.Delta.Type == "input_json_delta") != args {
			t.Fatalf("%q: scanner read (%d, %q, args=%v), encoding/json %+v %+v", data, i, s, args, ev, *ev.Delta)
		}
	})
}

func TestAnthropicDeltaFallsBack(t *testing.T) {
	for _, s := range []string{
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"},"type":"ping"}`, // duplicate
		`{"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"a"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":7}}`,
	} {
		if _, _, _, ok := anDelta([]byte(s)); ok {
			t.Errorf("%s: read by the fast path", s)
		}
	}
	i, text, args, ok := anDelta([]byte(`{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"caf\u00e9"}}`))
	if !ok || i != 2 || text != "café" || args {
		t.Errorf("got %d %q %v %v", i, text, args, ok)
	}
}

// FuzzBedrockTextDelta: whenever the scanner reads a Converse delta as text, encoding/json reads
// the same block index and text, and no other kind of delta.
func FuzzBedrockTextDelta(f *testing.F) {
	for _, s := range []string{
		`{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdefgh"}`,
		`{"contentBlockIndex":2,"delta":{"toolUse":{"input":"{\"a\""}}}`,
		`{"contentBlockIndex":0,"delta":{"text":"a","reasoningContent":{"text":"b"}}}`,
		`{"ContentBlockIndex":1,"Delta":{"TEXT":"x\u0041"}}`,
		`{"contentBlockIndex":0,"delta":{"text":null}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		i, text, ok := bdTextDelta(data)
		if !ok {
			return
		}
		var ev bdStreamEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("scanner took %q, encoding/json refuses it: %v", data, err)
		}
		d := ev.Delta
		if d == nil || d.Text == nil || *d.Text != text || ev.ContentBlockIndex != i || d.ToolUse != nil || d.ReasoningContent != nil {
			t.Fatalf("%q: scanner read (%d, %q), encoding/json %+v", data, i, text, ev)
		}
	})
}
