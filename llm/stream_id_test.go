package llm_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

// TestOpenAIChunkIDEscaped: a provider's message id is written into every OpenAI chunk as a JSON
// string, whatever bytes it holds (Go quoting wrote \x7f and \xff, which no JSON parser accepts).
func TestOpenAIChunkIDEscaped(t *testing.T) {
	stream := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg\\u007f\\u2028\\ud800\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	dec := llm.AnthropicMessages{}.NewStreamDecoder(strings.NewReader(stream))
	enc := llm.OpenAIChat{}.NewStreamEncoder(&llm.Request{Model: "m", IncludeUsage: true})
	var out []byte
	for {
		ev, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = enc.Encode(out, &ev)
	}
	chunks := 0
	for _, line := range bytes.Split(out, []byte("\n")) {
		d, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok || string(d) == "[DONE]" {
			continue
		}
		var c struct{ ID string }
		if err := json.Unmarshal(d, &c); err != nil {
			t.Fatalf("chunk %s: %v", d, err)
		}
		if want := "msg\x7f\u2028\ufffd"; c.ID != want {
			t.Fatalf("id %q, want %q", c.ID, want)
		}
		chunks++
	}
	if chunks < 3 {
		t.Fatalf("%d chunks:\n%s", chunks, out)
	}
}
