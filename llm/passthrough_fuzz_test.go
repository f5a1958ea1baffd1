package llm

import (
	"bytes"
	"encoding/json"
	"testing"

	agentgateway "github.com/agentgw/agentgateway"
)

// FuzzDetectStream: the usage reader of passthrough detect never panics or loops on any stream
// bytes, in each wire's framing, and never reports negative usage.
func FuzzDetectStream(f *testing.F) {
	f.Add(uint8(0), []byte("data: {\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n"))
	f.Add(uint8(1), []byte("event: message_start\ndata: {\"message\":{\"model\":\"m\",\"usage\":null}}\n\nevent: message_delta\ndata: {\"usage\":{\"output_tokens\":-5}}\n\n"))
	f.Add(uint8(2), []byte("data: {\"candidates\":[{}],\"usageMetadata\":{\"promptTokenCount\":3}}\r\n\r\n"))
	f.Add(uint8(3), []byte("[{\"usageMetadata\":{\"promptTokenCount\":3}}\n,\r\n{\"modelVersion\":\"x\"}]"))
	f.Add(uint8(3), []byte("[{\"usageMetadata\""))
	f.Add(uint8(4), []byte("event: response.completed\ndata: {\"response\":{\"usage\":{\"input_tokens\":1,\"output_tokens_details\":null}}}\n\n"))
	f.Fuzz(func(t *testing.T, kind uint8, stream []byte) {
		wires := []string{"openai", "anthropic", "gemini", "gemini", "openai-responses"}
		k := int(kind) % 5
		st := &agentgateway.State{}
		var fm Format = OpenAIChat{}
		switch k {
		case 1:
			fm = AnthropicMessages{}
		case 2:
			fm = GeminiNative{Model: "m", Stream: true, SSE: true}
		case 3:
			fm = GeminiNative{Model: "m", Stream: true}
		case 4:
			fm = OpenAIResponses{}
		}
		c := &call{r: &Router{}, st: st, in: &inspected{ep: endpoint{OpChat, fm}}}
		c.detectStream(bytes.NewReader(stream), wires[k])
	})
}

// FuzzEmbeddingsAnswer: provider embedding answers of any shape decode or fail cleanly, and what
// the gateway writes back is valid JSON whatever the input texts and vectors.
func FuzzEmbeddingsAnswer(f *testing.F) {
	f.Add(uint8(0), []byte(`{"embeddings":[{"values":[1,2]},{"values":null}]}`), []byte(`["a","b"]`))
	f.Add(uint8(1), []byte(`{"predictions":[{"embeddings":{"values":[1e308,-1e308],"statistics":{"token_count":-3}}}]}`), []byte(`"a"`))
	f.Add(uint8(2), []byte(`{"embedding":[0.5],"inputTextTokenCount":2}`), []byte(`[[1,2]]`))
	f.Add(uint8(2), []byte(`{"embeddings":{"float":[[1],[2]]}}`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, kind uint8, answer, input []byte) {
		r := embedRequest{Model: "m", Input: input}
		_, _ = r.texts()
		var em embedder
		switch kind % 3 {
		case 0:
			em = GeminiAPI{}
		case 1:
			em = &VertexAI{}
		default:
			em = &BedrockConverse{}
		}
		res, err := em.embedDecode([][]byte{answer})
		if err != nil {
			return
		}
		for _, b64 := range []bool{false, true} {
			out := encodeEmbeddings(res.vectors, b64, "m\x00\"", res.tokens)
			if !json.Valid(out) {
				t.Fatalf("invalid JSON answer: %s", out)
			}
		}
	})
}
