package llm_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

// FuzzGeminiClientRequest: any body a Gemini client sends either fails with a 400 *llm.Error or
// decodes into a request every provider encodes (or refuses with an *llm.Error) into valid JSON;
// nothing panics. The seeds include the attacks: a functionResponse answering no call, deeply
// nested OpenAPI schemas, nullable without a type, countTokens' wrapped form nesting itself.
func FuzzGeminiClientRequest(f *testing.F) {
	f.Add(geminiFixture(f, "client_gemini.json"))
	f.Add([]byte(gmToolsReq))
	f.Add([]byte(`{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":null}}]}]}`))
	f.Add([]byte(`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","nullable":true,"properties":{"a":{"items":{"anyOf":[{"type":"STRING","nullable":true}]}}}}}]}]}`))
	f.Add([]byte(`{"generateContentRequest":{"generateContentRequest":{"contents":[{"parts":[{"text":"x"}]}]}}}`))
	f.Add([]byte(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}},{"functionCall":{"name":"f"}}]},{"parts":[{"functionResponse":{"id":"zz","name":"f","response":{"error":"x"}}}]}]}`))
	f.Add([]byte(`{"contents":[{"parts":[{"fileData":{"fileUri":"gs://b/o.png"}},{"inlineData":{"mimeType":"image/png","data":""}}]}],"generationConfig":{"topK":1e300,"thinkingConfig":{"thinkingBudget":-1}}}`))
	g := llm.GeminiNative{Model: "m", Stream: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, perr := g.Peek(body)
		req, err := g.DecodeRequest(body)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("decode error %v is not a 400 *llm.Error", err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("decoded but Peek failed: %v", perr)
		}
		for _, p := range []llm.Provider{llm.OpenAIChat{}, llm.AnthropicMessages{}, llm.GeminiAPI{}} {
			out, err := p.EncodeRequest(req)
			if err != nil {
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("%s encode error %v is not an *llm.Error", p.Name(), err)
				}
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("%s encoded invalid JSON: %s", p.Name(), out)
			}
		}
	})
}

// FuzzGeminiStreamText: whatever the text, model and ID (quotes, control bytes, invalid UTF-8), the
// hand-written text chunks of the Gemini stream encoder form a valid JSON array that gives the text
// back (as encoding/json reads it).
func FuzzGeminiStreamText(f *testing.F) {
	f.Add("hello", "gemini", "id-1")
	f.Add("\"<tag>&\\\n\x00\xff", "m\"", "")
	f.Fuzz(func(t *testing.T, text, model, id string) {
		enc := llm.GeminiNative{Model: "m", Stream: true}.NewStreamEncoder(nil)
		out := enc.Encode(nil, &llm.Event{Type: llm.EventStart, Model: model, ID: id})
		out = enc.Encode(out, &llm.Event{Type: llm.EventDelta, PartType: llm.PartText, Text: text})
		out = enc.Encode(out, &llm.Event{Type: llm.EventEnd})
		var chunks []struct {
			Candidates []struct {
				Content struct {
					Parts []struct {
						Text string `json:"text"`
					} `json:"parts"`
				} `json:"content"`
			} `json:"candidates"`
			ModelVersion string `json:"modelVersion"`
		}
		if err := json.Unmarshal(out, &chunks); err != nil {
			t.Fatalf("invalid stream %q: %v", out, err)
		}
		if text == "" {
			return
		}
		want, _ := json.Marshal(text)
		var norm string
		_ = json.Unmarshal(want, &norm)
		if got := chunks[0].Candidates[0].Content.Parts[0].Text; got != norm || chunks[0].ModelVersion != func() string { b, _ := json.Marshal(model); var s string; _ = json.Unmarshal(b, &s); return s }() {
			t.Fatalf("text %q model %q, want %q %q", got, chunks[0].ModelVersion, norm, model)
		}
	})
}
