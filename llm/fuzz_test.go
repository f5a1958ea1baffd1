package llm_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

func seedInputs(f *testing.F, names ...string) {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", "input", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzRequest: any body either fails to decode with a 400 *llm.Error or decodes into a request that
// every provider encodes (or refuses with an *llm.Error) into valid JSON; nothing panics.
func fuzzRequest(f *testing.F, from llm.Format, seeds ...string) {
	seedInputs(f, seeds...)
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,"}}]}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"x","name":"n","input":[1]}]}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"x","function":{"name":"n","arguments":"[1]"}}]}]}`))
	f.Add([]byte(`{"model":"m","messages":null,"tools":[{"type":"function","function":{"name":"t","parameters":null}}],"tool_choice":"required"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := from.DecodeRequest(body)
		if err != nil {
			var e *llm.Error
			if !asErr(err, &e) || e.Status != 400 {
				t.Fatalf("decode error %v is not a 400 *llm.Error", err)
			}
			return
		}
		if _, err := from.Peek(body); err != nil {
			t.Fatalf("decoded but Peek failed: %v", err)
		}
		for _, p := range []llm.Provider{llm.OpenAIChat{}, llm.AnthropicMessages{}} {
			out, err := p.EncodeRequest(req)
			if err != nil {
				var e *llm.Error
				if !asErr(err, &e) {
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

func FuzzOpenAIRequest(f *testing.F) { fuzzRequest(f, llm.OpenAIChat{}, "openai_request.json") }
func FuzzAnthropicRequest(f *testing.F) {
	fuzzRequest(f, llm.AnthropicMessages{}, "anthropic_request.json")
}

// fuzzResponse: any provider answer decodes or fails cleanly, and encodes as valid JSON in both
// client formats.
func fuzzResponse(f *testing.F, from llm.Provider, seeds ...string) {
	seedInputs(f, seeds...)
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := from.DecodeResponse(body)
		if err != nil {
			return
		}
		for _, to := range []llm.Format{llm.OpenAIChat{}, llm.AnthropicMessages{}} {
			out, err := to.EncodeResponse(resp)
			if err == nil && !json.Valid(out) {
				t.Fatalf("%s: invalid JSON %s", to.Name(), out)
			}
		}
	})
}

func FuzzOpenAIResponse(f *testing.F) { fuzzResponse(f, llm.OpenAIChat{}, "openai_response.json") }
func FuzzAnthropicResponse(f *testing.F) {
	fuzzResponse(f, llm.AnthropicMessages{}, "anthropic_response.json")
}

// fuzzStream: any byte stream from a provider ends (EOF) within a bounded number of events, and the
// client-format output is well-formed SSE whose data lines are JSON (or [DONE]).
func fuzzStream(f *testing.F, from llm.Provider, seeds ...string) {
	seedInputs(f, seeds...)
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":7,\"function\":{\"arguments\":\"x\"}}]}}]}\n\n"))
	f.Add([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":-1,\"delta\":{\"type\":\"text_delta\",\"text\":\"\\u0000\"}}\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		for _, to := range []llm.Format{llm.OpenAIChat{}, llm.AnthropicMessages{}} {
			dec := from.NewStreamDecoder(bytes.NewReader(stream))
			enc := to.NewStreamEncoder(&llm.Request{Model: "m", Stream: true, IncludeUsage: true})
			var out []byte
			for i := 0; ; i++ {
				if i > 10*len(stream)+100 {
					t.Fatal("decoder does not end")
				}
				ev, err := dec.Next()
				if err != nil {
					break
				}
				out = enc.Encode(out, &ev)
			}
			for _, line := range bytes.Split(out, []byte("\n")) {
				if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok && string(d) != "[DONE]" && !json.Valid(d) {
					t.Fatalf("%s: invalid data line %q", to.Name(), d)
				}
			}
		}
	})
}

func FuzzOpenAIStream(f *testing.F) {
	fuzzStream(f, llm.OpenAIChat{}, "openai_stream.txt", "openai_stream_cut.txt")
}
func FuzzAnthropicStream(f *testing.F) {
	fuzzStream(f, llm.AnthropicMessages{}, "anthropic_stream.txt", "anthropic_stream_cut.txt")
}
