package llm

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// The hand-written encoders and decoders of the translation hot path are checked against the
// encoding/json code they replace: same bytes out, same requests and responses in.

// stdString is encoding/json's encoding of s, with or without HTML escaping.
func stdString(s string, html bool) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

var trickyStrings = []string{
	"", "plain", `quote " backslash \ slash /`, "\x00\x01\b\f\n\r\t\x1f\x7f", "<script>&amp;</script>",
	"line\u2028para\u2029end", "bad \xff\xfe utf8 \xc3", "emoji 😀 é ü", "\xed\xa0\x80 surrogate bytes",
	"trailing \xe2\x80", "\u2027\u202a",
}

func TestAppendJSONStrMatchesEncodingJSON(t *testing.T) {
	for _, s := range trickyStrings {
		for _, html := range []bool{false, true} {
			if got, want := appendJSONStr(nil, s, html), stdString(s, html); !bytes.Equal(got, want) {
				t.Errorf("appendJSONStr(%q, html=%v) = %s, encoding/json %s", s, html, got, want)
			}
		}
		if got, want := appendJSONString(nil, s), stdString(s, false); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, encoding/json %s", s, got, want)
		}
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(checkJSONString)
}

func checkJSONString(t *testing.T, s string) {
	for _, html := range []bool{false, true} {
		if got, want := appendJSONStr(nil, s, html), stdString(s, html); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONStr(%q, html=%v) = %s, encoding/json %s", s, html, got, want)
		}
	}
	raw := []byte(s)
	got, err := appendRawJSON(nil, raw, true)
	want, werr := json.Marshal(json.RawMessage(raw))
	if len(raw) == 0 {
		want, werr = []byte("null"), nil
	}
	if (err == nil) != (werr == nil) || err == nil && !bytes.Equal(got, want) {
		t.Fatalf("appendRawJSON(%q) = %s, %v; encoding/json %s, %v", s, got, err, want, werr)
	}
}

// fuzzRequests are requests built from fuzz input: decoded by both client formats, and one made
// with s in every string and raw member.
func fuzzRequests(body []byte, s string) []*Request {
	var out []*Request
	for _, f := range []Format{OpenAIChat{}, AnthropicMessages{}} {
		if r, err := f.DecodeRequest(body); err == nil {
			out = append(out, r)
		}
	}
	raw := json.RawMessage(s)
	temp := float64(len(s)) / 7
	k := len(s)
	out = append(out, &Request{
		Model: s, System: []Part{{Type: PartText, Text: s}, {Type: PartText, Text: "b", CacheControl: raw}},
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: s}, {Type: PartImage, URL: s, MediaType: s, Data: s}}},
			{Role: RoleAssistant, Parts: []Part{{Type: PartThinking, Text: s, Signature: s}, {Type: PartToolCall, ToolCallID: s, ToolName: s, Arguments: raw, CacheControl: raw}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: s, Content: []Part{{Type: PartText, Text: s}}}}},
			{Role: RoleUser, Parts: []Part{{Type: PartText, Text: s, CacheControl: raw}, {Type: PartRedactedThinking, Data: s}}},
			{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: s, IsError: true, Content: []Part{{Type: PartImage, Data: s}, {Type: PartText}}}}},
		},
		Tools:      []Tool{{Name: s, Description: s, Parameters: raw, CacheControl: raw}, {Name: "t"}},
		ToolChoice: &ToolChoice{Mode: ToolChoiceTool, Name: s, DisableParallel: true},
		MaxTokens:  len(s) - 3, Temperature: &temp, TopP: &temp, TopK: &k, Stop: []string{s, ""}, Stream: len(s)%2 == 0,
		Thinking: &Thinking{Effort: s}, User: s,
	})
	return out
}

func readInput(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "input", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzANRequestEncoder: whenever the hand-written Anthropic request encoder answers, its bytes are
// encoding/json's (for valid UTF-8; otherwise the same JSON).
func FuzzANRequestEncoder(f *testing.F) {
	f.Add(readInput(f, "openai_request.json"), `{"type":"ephemeral"}`)
	f.Add(readInput(f, "anthropic_request.json"), "<&>\u2028 x")
	f.Add([]byte(`{"model":"m","messages":[{"role":"tool","content":"a","tool_call_id":"1"},{"role":"user","content":"b"},{"role":"tool","content":"c"}]}`), `{ "a" : [1, 2] }`)
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":""},{"role":"assistant","reasoning_content":"r"}],"tool_choice":"none"}`), "")
	f.Add([]byte(`{"model":"m","messages":[],"temperature":1e-7,"top_p":1e21,"max_tokens":-4,"reasoning_effort":"high"}`), "null")
	f.Fuzz(checkANRequestEncoder)
}

func checkANRequestEncoder(t *testing.T, body []byte, s string) {
	for _, req := range fuzzRequests(body, s) {
		got, ok := appendANRequest(nil, req)
		want, err := encodeANRequestStd(req)
		if !ok {
			continue
		}
		if err != nil {
			t.Fatalf("encoding/json fails (%v) where the fast encoder answers %s", err, got)
		}
		if bytes.Equal(got, want) {
			continue
		}
		// With invalid UTF-8 in the input, encoding/json's own path is not byte-stable: it writes
		// U+FFFD escaped where it encodes a string once and literally where it re-encodes a block
		// it decoded (merged tool results). There the two must still be the same JSON.
		if utf8.Valid(body) && utf8.ValidString(s) || !sameJSON(got, want) {
			t.Fatalf("fast encoder differs:\n got %s\nwant %s", got, want)
		}
	}
}

// sameJSON reports whether a and b decode to the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func TestANRequestEncoderGivesUp(t *testing.T) {
	nan := 0.0
	nan /= nan
	for name, req := range map[string]*Request{
		"array arguments": {Model: "m", Messages: []Message{{Role: RoleAssistant, Parts: []Part{{Type: PartToolCall, ToolName: "t", Arguments: json.RawMessage(`[1]`)}}}}},
		"invalid cache":   {Model: "m", Tools: []Tool{{Name: "t", CacheControl: json.RawMessage(`{`)}}},
		"NaN":             {Model: "m", Temperature: &nan},
		"unknown part":    {Model: "m", Messages: []Message{{Role: RoleUser, Parts: []Part{{Type: "video"}}}}},
	} {
		if b, ok := appendANRequest(nil, req); ok {
			t.Errorf("%s: fast encoder answered %s", name, b)
		}
		_, errStd := encodeANRequestStd(req)
		_, err := AnthropicMessages{}.EncodeRequest(req)
		if (err == nil) != (errStd == nil) {
			t.Errorf("%s: EncodeRequest error %v, encoding/json encoder %v", name, err, errStd)
		}
	}
}

// FuzzOARequestDecoder: whenever the scanner-based OpenAI request decoder answers, encoding/json
// decodes the body into the same request.
func FuzzOARequestDecoder(f *testing.F) {
	f.Add(readInput(f, "openai_request.json"))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[]},{"role":"system","content":null},{"role":"assistant","content":"","tool_calls":[{"id":"1","function":{"name":"f","arguments":" "}}]}],"stop":[]}`))
	f.Add([]byte(`{"MODEL":"m","Messages":[{"rOle":"tool","content":"x","tool_call_id":"1"}],"stop":"s","n":1,"max_tokens":5,"max_completion_tokens":null,"tool_choice":{"type":"function","function":{"name":"f"}}}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"\ud800 \u00e9 <&>"}],"tools":[{"type":"function","function":{"name":"t","parameters":null,"strict":true}}],"parallel_tool_calls":false,"stream":true,"stream_options":{"include_usage":true}}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"a"}],"model":"n"}`))
	f.Add([]byte(`{"model":"m","temperature":1e400,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":1.0,"messages":[{"role":"user","content":"a"}]}`))
	f.Add([]byte(`{"model":"m","ſtream":true,"messages":[{"role":"user","content":"a","refusal":1}]}`))
	f.Fuzz(checkOARequestDecoder)
}

func checkOARequestDecoder(t *testing.T, body []byte) {
	got, ok := decodeOARequestFast(body)
	want, err := decodeOARequestStd(body)
	if !ok {
		return
	}
	if err != nil {
		t.Fatalf("encoding/json refuses the body (%v); the fast decoder answers %+v", err, got)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast decoder differs:\n got %#v\nwant %#v", got, want)
	}
}

// TestFastPathsTaken: ordinary requests and answers take the hand-written paths (the differential
// fuzz targets would pass vacuously otherwise).
func TestFastPathsTaken(t *testing.T) {
	for _, name := range []string{"openai_request.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", "input", name))
		if err != nil {
			t.Fatal(err)
		}
		req, ok := decodeOARequestFast(body)
		if !ok {
			t.Fatalf("%s: the fast decoder gave up", name)
		}
		req.Model = "upstream"
		if _, ok := appendANRequest(nil, req); !ok {
			t.Fatalf("%s: the fast Anthropic encoder gave up", name)
		}
	}
	body, err := os.ReadFile(filepath.Join("testdata", "input", "anthropic_response.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := decodeANResponseFast(body); !ok {
		t.Fatal("anthropic_response.json: the fast decoder gave up")
	}
}

// FuzzANResponseDecoder: whenever the scanner-based Anthropic answer decoder answers, encoding/json
// decodes the body into the same response.
func FuzzANResponseDecoder(f *testing.F) {
	f.Add(readInput(f, "anthropic_response.json"))
	f.Add([]byte(`{"id":"m","content":[{"type":"text","text":"a"},{"type":"server_tool_use","id":"x"},{"type":"tool_use","id":"t","name":"n","input":null},{"type":"thinking","thinking":"t","signature":"s"}],"stop_reason":null,"stop_sequence":"x","usage":{"input_tokens":3,"cache_read_input_tokens":2}}`))
	f.Add([]byte(`{"id":"m","content":[{"type":"tool_result","content":[{"type":"text","text":"a"}],"is_error":true},{"type":"image","source":{"type":"url","url":"u"}}],"stop_reason":""}`))
	f.Add([]byte(`{"id":"m","content":[null],"usage":{"input_tokens":1.5}}`))
	f.Fuzz(checkANResponseDecoder)
}

func checkANResponseDecoder(t *testing.T, body []byte) {
	got, ok := decodeANResponseFast(body)
	want, err := decodeANResponseStd(body)
	if !ok {
		return
	}
	if err != nil {
		t.Fatalf("encoding/json refuses the body (%v); the fast decoder answers %+v", err, got)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast decoder differs:\n got %#v\nwant %#v", got, want)
	}
}

// FuzzOAResponseEncoder: the hand-written OpenAI answer encoder writes encoding/json's bytes.
func FuzzOAResponseEncoder(f *testing.F) {
	f.Add(readInput(f, "anthropic_response.json"), "a<b>&c", 3)
	f.Add([]byte(`{"id":"m","content":[{"type":"tool_use","id":"t","name":"n","input":{"a":1}},{"type":"text","text":""}]}`), "\xe2\x80\xa8\"", 1)
	f.Add([]byte(`{}`), "\xc3\xa9 split", 1)
	f.Fuzz(checkOAResponseEncoder)
}

func checkOAResponseEncoder(t *testing.T, body []byte, s string, cut int) {
	var resps []*Response
	if r, err := decodeANResponseStd(body); err == nil {
		resps = append(resps, r)
	}
	if cut < 0 || cut > len(s) {
		cut = len(s) / 2
	}
	resps = append(resps, &Response{ID: s, Model: s, StopReason: StopReason(s), Parts: []Part{
		{Type: PartThinking, Text: s[:cut]}, {Type: PartText, Text: s[:cut]}, {Type: PartThinking, Text: s[cut:]},
		{Type: PartToolCall, ToolCallID: s, ToolName: s[cut:], Arguments: []byte(s)}, {Type: PartText, Text: s[cut:]},
	}, Usage: Usage{InputTokens: int64(len(s)), OutputTokens: int64(cut), CachedInputTokens: -1, ReasoningTokens: 7}},
		&Response{Parts: []Part{{Type: PartToolCall, Arguments: []byte(s)}, {Type: PartText, Text: s[:cut]}}})
	for _, r := range resps {
		r.Created = 1700000000
		got, _ := OpenAIChat{}.EncodeResponse(r)
		want, err := encodeOAResponseStd(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("fast encoder differs:\n got %s\nwant %s", got, want)
		}
	}
}

// encodeOAResponseStd is the encoding/json encoder appendOAResponse replaced: the reference of
// FuzzOAResponseEncoder.
func encodeOAResponseStd(resp *Response) ([]byte, error) {
	type choice struct {
		Index        int             `json:"index"`
		Message      oaMessage       `json:"message"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason string          `json:"finish_reason"`
	}
	out := struct {
		ID      string   `json:"id"`
		Object  string   `json:"object"`
		Created int64    `json:"created"`
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
		Usage   *oaUsage `json:"usage"`
	}{ID: resp.ID, Object: "chat.completion", Created: created(resp.Created), Model: resp.Model, Usage: toOAUsage(resp.Usage)}
	msg := oaMessage{Role: "assistant"}
	var text, thinking strings.Builder
	for _, p := range resp.Parts {
		switch p.Type {
		case PartText:
			text.WriteString(p.Text)
		case PartThinking:
			thinking.WriteString(p.Text)
		case PartToolCall:
			tc := oaToolCall{ID: p.ToolCallID, Type: "function"}
			tc.Function.Name, tc.Function.Arguments = p.ToolName, string(p.Arguments)
			msg.ToolCalls = append(msg.ToolCalls, tc)
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content, _ = json.Marshal(text.String())
	} else {
		msg.Content = json.RawMessage("null")
	}
	msg.ReasoningContent = thinking.String()
	out.Choices = []choice{{Message: msg, Logprobs: json.RawMessage("null"), FinishReason: finishReason(resp.StopReason)}}
	return json.Marshal(out)
}
