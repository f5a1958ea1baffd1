package llm_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/agentgw/agentgateway/llm"
)

// benchRequest is an OpenAI chat request of about 2 KB: a system prompt, a few turns, a tool.
func benchRequest() []byte {
	para := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 8)
	msgs := []map[string]any{{"role": "system", "content": "You are a helpful assistant. " + para}}
	for i := 0; i < 3; i++ {
		msgs = append(msgs, map[string]any{"role": "user", "content": fmt.Sprintf("Question %d: %s", i, para)},
			map[string]any{"role": "assistant", "content": "Answer: " + para[:120]})
	}
	b, _ := json.Marshal(map[string]any{"model": "m", "messages": msgs, "max_completion_tokens": 256,
		"tools": []any{map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "description": "Weather of a city",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}}})
	return b
}

// BenchmarkProviderTranslation is the in-process cost of one OpenAI client call to each provider: the
// 2 KB request decoded and encoded for the provider, the provider's answer decoded and encoded back.
func BenchmarkProviderTranslation(b *testing.B) {
	req := benchRequest()
	answers := map[string][]byte{
		"gemini":  []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"` + strings.Repeat("sunny and mild ", 20) + `"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":500,"candidatesTokenCount":60,"totalTokenCount":560},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`),
		"bedrock": []byte(`{"output":{"message":{"role":"assistant","content":[{"text":"` + strings.Repeat("sunny and mild ", 20) + `"}]}},"stopReason":"end_turn","usage":{"inputTokens":500,"outputTokens":60,"totalTokens":560}}`),
		// The existing OpenAI->Anthropic translation, as the baseline of the same run.
		"anthropic": []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"` + strings.Repeat("sunny and mild ", 20) + `"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":500,"output_tokens":60}}`),
	}
	providers := map[string]llm.Provider{"gemini": llm.GeminiAPI{}, "bedrock": llm.NewBedrockConverse("us-east-1"), "anthropic": llm.AnthropicMessages{}}
	f := llm.OpenAIChat{}
	for _, name := range []string{"anthropic", "gemini", "bedrock"} {
		p := providers[name]
		b.Run("openai_to_"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(req)))
			defer reportCPU(b)()
			for b.Loop() {
				r, err := f.DecodeRequest(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.EncodeRequest(r); err != nil {
					b.Fatal(err)
				}
				resp, err := p.DecodeResponse(answers[name])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.EncodeResponse(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProviderStreamChunk is the cost per streamed text chunk from each provider to an OpenAI
// client: decoding one provider frame and encoding the client's chunk.
func BenchmarkProviderStreamChunk(b *testing.B) {
	const n = 256
	var gm bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&gm, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"token %d \"}]},\"index\":0}],\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\r\n\r\n", i)
	}
	gm.WriteString("data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\".\"}]},\"finishReason\":\"STOP\",\"index\":0}]}\r\n\r\n")
	bd := bedrockFrames(n)
	// The existing Anthropic SSE stream, as the baseline of the same run.
	var an bytes.Buffer
	an.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n")
	an.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&an, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token %d \"}}\n\n", i)
	}
	an.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	streams := map[string][]byte{"gemini": gm.Bytes(), "bedrock": bd, "anthropic": an.Bytes()}
	providers := map[string]llm.Provider{"gemini": llm.GeminiAPI{}, "bedrock": llm.NewBedrockConverse("us-east-1"), "anthropic": llm.AnthropicMessages{}}
	for _, name := range []string{"anthropic", "gemini", "bedrock"} {
		b.Run(name+"_to_openai", func(b *testing.B) {
			b.ReportAllocs()
			req := &llm.Request{Model: "m"}
			buf := make([]byte, 0, 1024)
			chunks := 0
			cpu := cpuTime()
			for b.Loop() {
				dec := llm.Provider(providers[name]).NewStreamDecoder(bytes.NewReader(streams[name]))
				e := llm.OpenAIChat{}.NewStreamEncoder(req)
				for {
					ev, err := dec.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					buf = e.Encode(buf[:0], &ev)
				}
				chunks += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(chunks), "ns/chunk")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(chunks), "cpu-ns/chunk")
		})
	}
}

// bedrockFrames is a ConverseStream answer of n text deltas, as AWS event-stream messages.
func bedrockFrames(n int) []byte {
	var bd bytes.Buffer
	enc := eventstream.NewEncoder()
	frame := func(ev, payload string) {
		var m eventstream.Message
		m.Headers.Set(":event-type", eventstream.StringValue(ev))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Payload = []byte(payload)
		_ = enc.Encode(&bd, m)
	}
	frame("messageStart", `{"role":"assistant"}`)
	for i := 0; i < n; i++ {
		frame("contentBlockDelta", fmt.Sprintf(`{"contentBlockIndex":0,"delta":{"text":"token %d "}}`, i))
	}
	frame("contentBlockStop", `{"contentBlockIndex":0}`)
	frame("messageStop", `{"stopReason":"end_turn"}`)
	return bd.Bytes()
}

// BenchmarkBedrockFrame is the AWS SDK's share of a Bedrock chunk: its eventstream Decoder alone
// reading the frames of BenchmarkProviderStreamChunk/bedrock_to_openai (the payload buffer reused),
// the floor of what the gateway's per-chunk cost can be while the SDK does the framing.
func BenchmarkBedrockFrame(b *testing.B) {
	const n = 256
	stream := bedrockFrames(n)
	b.ReportAllocs()
	dec := eventstream.NewDecoder()
	var buf []byte
	frames := 0
	cpu := cpuTime()
	for b.Loop() {
		r := bufio.NewReaderSize(bytes.NewReader(stream), 16<<10)
		for {
			m, err := dec.Decode(r, buf[:0])
			if err != nil {
				break
			}
			buf = m.Payload
			frames++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(frames), "cpu-ns/frame")
}
