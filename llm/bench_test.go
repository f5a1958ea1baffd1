package llm_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

// cannedRT answers every request with a fixed response, without a network: the benchmarks measure
// the LLM layer's own cost.
type cannedRT struct {
	ctype string
	body  []byte
}

func (c cannedRT) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {c.ctype}}, Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

// request2KB is an OpenAI chat request of about 2 KB: a system prompt, a few turns and a tool.
func request2KB(stream bool) []byte {
	turn := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 8)
	return []byte(fmt.Sprintf(`{"model":"m","stream":%v,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":%q},{"role":"assistant","content":%q},{"role":"user","content":%q},{"role":"assistant","content":%q},{"role":"user","content":"And the weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"max_tokens":256,"temperature":0.3}`,
		stream, turn, turn, turn, turn))
}

const (
	openaiAnswer    = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"It is sunny in Paris today, 21 degrees, light wind from the west."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":480,"completion_tokens":18,"total_tokens":498}}`
	anthropicAnswer = `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"It is sunny in Paris today, 21 degrees, light wind from the west."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":480,"output_tokens":18}}`
)

func benchRouter(b *testing.B, up *llm.Upstream) *llm.Router {
	r, err := llm.New(llm.Model("m", up))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// direct is the baseline: the same canned upstream called without the LLM layer (a request built,
// sent, its answer copied to the client).
func direct(b *testing.B, rt http.RoundTripper, body []byte) {
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "http://upstream/v1/chat/completions", bytes.NewReader(body))
		resp, _ := rt.RoundTrip(req)
		w := httptest.NewRecorder()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
	}
}

func serve(b *testing.B, r http.Handler, path string, body []byte) {
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		// Built like direct's request: httptest.NewRequest parses a request text through a bufio
		// reader, a cost no served request has.
		req, _ := http.NewRequest(http.MethodPost, "http://gateway"+path, bytes.NewReader(body))
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkPassthrough: an OpenAI client to an OpenAI provider (the fast path: body forwarded, usage
// read) against the direct call.
func BenchmarkPassthrough(b *testing.B) {
	rt := cannedRT{"application/json", []byte(openaiAnswer)}
	body := request2KB(false)
	b.Run("direct", func(b *testing.B) { direct(b, rt, body) })
	b.Run("gateway", func(b *testing.B) {
		serve(b, benchRouter(b, llm.OpenAI(llm.APIKey("k"), llm.Transport(rt))), "/v1/chat/completions", body)
	})
}

// BenchmarkTranslate: an OpenAI client to an Anthropic provider: the 2 KB request translated, the
// answer translated back.
func BenchmarkTranslate(b *testing.B) {
	rt := cannedRT{"application/json", []byte(anthropicAnswer)}
	body := request2KB(false)
	b.Run("direct", func(b *testing.B) { direct(b, rt, body) })
	b.Run("gateway", func(b *testing.B) {
		serve(b, benchRouter(b, llm.Anthropic(llm.APIKey("k"), llm.Transport(rt))), "/v1/chat/completions", body)
	})
}

// anthropicStream is a streamed answer of n text deltas.
func anthropicStream(n int) []byte {
	var sb strings.Builder
	sb.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":480,\"output_tokens\":1}}}\n\n")
	sb.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := 0; i < n; i++ {
		sb.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token \"}}\n\n")
	}
	sb.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	sb.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":100}}\n\n")
	sb.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return []byte(sb.String())
}

// BenchmarkStreamChunk: the cost per streamed chunk of a 100-chunk answer, translated (Anthropic
// provider, OpenAI client) and passed through (Anthropic to Anthropic), against copying the stream.
func BenchmarkStreamChunk(b *testing.B) {
	const chunks = 100
	stream := anthropicStream(chunks)
	rt := cannedRT{"text/event-stream", stream}
	perChunk := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/chunks, "ns/chunk")
	}
	b.Run("direct", func(b *testing.B) { direct(b, rt, request2KB(true)); perChunk(b) })
	r := benchRouter(b, llm.Anthropic(llm.APIKey("k"), llm.Transport(rt)))
	b.Run("translated", func(b *testing.B) { serve(b, r, "/v1/chat/completions", request2KB(true)); perChunk(b) })
	anBody := []byte(`{"model":"m","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	b.Run("passthrough", func(b *testing.B) { serve(b, r, "/v1/messages", anBody); perChunk(b) })
}
