package llm_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

// geminiRequest2KB is a Gemini generateContent request of about 2 KB (system instruction, turns, a
// tool), the Gemini twin of request2KB.
func geminiRequest2KB() []byte {
	turn := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 8)
	return []byte(fmt.Sprintf(`{"systemInstruction":{"parts":[{"text":"You are a helpful assistant."}]},"contents":[{"role":"user","parts":[{"text":%q}]},{"role":"model","parts":[{"text":%q}]},{"role":"user","parts":[{"text":%q}]},{"role":"model","parts":[{"text":%q}]},{"role":"user","parts":[{"text":"And the weather?"}]}],"tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather of a city","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}},"required":["city"]}}]}],"generationConfig":{"maxOutputTokens":256,"temperature":0.3}}`,
		turn, turn, turn, turn))
}

// BenchmarkGeminiClient: a Gemini client's 2 KB request and its answer through the router, to an
// OpenAI provider (translated both ways) and to a Gemini provider (forwarded unchanged).
func BenchmarkGeminiClient(b *testing.B) {
	body := geminiRequest2KB()
	b.Run("to_openai", func(b *testing.B) {
		rt := cannedRT{"application/json", []byte(openaiAnswer)}
		serve(b, benchRouter(b, llm.OpenAI(llm.APIKey("k"), llm.Transport(rt))), "/v1beta/models/m:generateContent", body)
	})
	b.Run("to_gemini", func(b *testing.B) {
		rt := cannedRT{"application/json", []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"It is sunny in Paris today, 21 degrees, light wind from the west."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":480,"candidatesTokenCount":18,"totalTokenCount":498},"modelVersion":"m"}`)}
		serve(b, benchRouter(b, llm.Gemini(llm.APIKey("k"), llm.Transport(rt))), "/v1beta/models/m:generateContent", body)
	})
}

// BenchmarkGeminiStreamChunk: the Gemini client's stream encoder, per text delta.
func BenchmarkGeminiStreamChunk(b *testing.B) {
	for _, sse := range []bool{true, false} {
		b.Run(map[bool]string{true: "sse", false: "array"}[sse], func(b *testing.B) {
			enc := llm.GeminiNative{Model: "m", Stream: true, SSE: sse}.NewStreamEncoder(nil)
			buf := enc.Encode(nil, &llm.Event{Type: llm.EventStart, ID: "r", Model: "m"})
			ev := llm.Event{Type: llm.EventDelta, PartType: llm.PartText, Text: "some words "}
			b.ReportAllocs()
			for b.Loop() {
				buf = enc.Encode(buf[:0], &ev)
			}
		})
	}
}
