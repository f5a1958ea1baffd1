package llm_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

// provFuzzStream drains a provider stream decoder through both client encoders and checks that it
// ends: after a bounded number of events, with EventEnd or EventError last, then io.EOF (or a read
// error), never a panic.
func provFuzzStream(t *testing.T, p llm.Provider, data []byte) {
	dec := p.NewStreamDecoder(bytes.NewReader(data))
	req := &llm.Request{Model: "m", IncludeUsage: true}
	encs := []llm.StreamEncoder{llm.OpenAIChat{}.NewStreamEncoder(req), llm.AnthropicMessages{}.NewStreamEncoder(req)}
	var last llm.EventType
	for n := 0; ; n++ {
		if n > 4*len(data)+16 {
			t.Fatalf("%d events from %d bytes: the stream does not end", n, len(data))
		}
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			if last != llm.EventEnd && last != llm.EventError {
				t.Fatalf("io.EOF after event type %d, want End or Error", last)
			}
			return
		}
		if err != nil {
			return
		}
		if last == llm.EventEnd || last == llm.EventError {
			t.Fatalf("event %d after the end", ev.Type)
		}
		if ev.Type == llm.EventError && ev.Err == nil {
			t.Fatal("error event without an error")
		}
		last = ev.Type
		for _, e := range encs {
			e.Encode(nil, &ev)
		}
	}
}

// FuzzGeminiStream feeds arbitrary bytes to the Gemini SSE stream decoder and its response decoder.
func FuzzGeminiStream(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "providers", "gemini_stream.sse")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\"}}]},\"finishReason\":\"STOP\"}]}\n\n"))
	f.Add([]byte("data: {\"error\":{\"code\":429,\"message\":\"quota\"}}\n\n"))
	f.Add([]byte("data: {\"candidates\":[]}\n\ndata: [1,2]\n\n"))
	f.Add([]byte("data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		provFuzzStream(t, llm.GeminiAPI{}, data)
		_, _ = llm.GeminiAPI{}.DecodeResponse(data)
		_ = llm.GeminiAPI{}.DecodeError(400, data)
	})
}

// FuzzBedrockStream feeds arbitrary bytes to the Bedrock event-stream decoder and its response
// decoder: bad CRCs, lengths that do not add up or exceed the limit, unknown events.
func FuzzBedrockStream(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "providers", "bedrock_stream.json")); err == nil {
		frames := bedrockStreamFixture(f, b)
		f.Add(frames)
		f.Add(frames[:len(frames)/2])
		bad := bytes.Clone(frames)
		bad[20] ^= 0xff // a header byte: the message CRC fails
		f.Add(bad)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})   // 4 GB message claimed
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0}) // headers longer than the message
	f.Fuzz(func(t *testing.T, data []byte) {
		p := llm.NewBedrockConverse("us-east-1")
		provFuzzStream(t, p, data)
		_, _ = p.DecodeResponse(data)
		_ = p.DecodeError(400, data)
	})
}

// FuzzResponsesRequest feeds arbitrary bodies to the Responses API request decoder: it answers a
// request or an *llm.Error of status 400, never panics.
func FuzzResponsesRequest(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "providers", "client_responses.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"model":"m","input":"hi"}`))
	f.Add([]byte(`{"model":"m","input":[{"type":"function_call","arguments":"{"}]}`))
	f.Add([]byte(`{"model":"m","input":[{"type":"function_call_output","output":[{"type":"input_image"}]}]}`))
	f.Add([]byte(`{"model":"m","input":[],"tool_choice":{"type":"function"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := llm.OpenAIResponses{}.DecodeRequest(data)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("error %v is not a 400 *llm.Error", err)
			}
			return
		}
		// Whatever decoded must encode for every provider without panicking.
		_, _ = llm.GeminiAPI{}.EncodeRequest(r)
		_, _ = llm.NewBedrockConverse("us-east-1").EncodeRequest(r)
	})
}
