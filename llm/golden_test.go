package llm_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

var update = flag.Bool("update", false, "rewrite the golden files of the translation tests")

var createdRe = regexp.MustCompile(`"created":\d+`)

// golden compares got with testdata/golden/name (JSON is compared indented; "created" times are
// normalised).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = createdRe.ReplaceAll(got, []byte(`"created":0`))
	if json.Valid(got) {
		var buf bytes.Buffer
		if err := json.Indent(&buf, got, "", "  "); err == nil {
			got = append(buf.Bytes(), '\n')
		}
	}
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func input(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "input", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	oa = llm.OpenAIChat{}
	an = llm.AnthropicMessages{}
)

// TestGoldenRequests: a client request of each format encoded for the other provider (system
// prompts, multi-part and image content, tools, tool calls and results, tool choice, thinking).
func TestGoldenRequests(t *testing.T) {
	for _, c := range []struct {
		in   string
		from llm.Format
		to   llm.Provider
		out  string
	}{
		{"openai_request.json", oa, an, "openai_to_anthropic_request.json"},
		{"anthropic_request.json", an, oa, "anthropic_to_openai_request.json"},
		{"openai_request.json", oa, oa, "openai_to_openai_request.json"},
		{"anthropic_request.json", an, an, "anthropic_to_anthropic_request.json"},
	} {
		t.Run(c.out, func(t *testing.T) {
			req, err := c.from.DecodeRequest(input(t, c.in))
			if err != nil {
				t.Fatal(err)
			}
			req.Model = "upstream"
			out, err := c.to.EncodeRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.out, out)
		})
	}
}

// TestGoldenResponses: a provider's complete answer (text, thinking, tool calls, usage) in the other
// client format.
func TestGoldenResponses(t *testing.T) {
	for _, c := range []struct {
		in   string
		from llm.Provider
		to   llm.Format
		out  string
	}{
		{"anthropic_response.json", an, oa, "anthropic_to_openai_response.json"},
		{"openai_response.json", oa, an, "openai_to_anthropic_response.json"},
	} {
		t.Run(c.out, func(t *testing.T) {
			resp, err := c.from.DecodeResponse(input(t, c.in))
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.to.EncodeResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.out, out)
		})
	}
}

// translateStream runs a provider stream through the decoder of from and the encoder of to.
func translateStream(t testing.TB, from llm.Provider, to llm.Format, req *llm.Request, stream []byte) []byte {
	dec := from.NewStreamDecoder(bytes.NewReader(stream))
	enc := to.NewStreamEncoder(req)
	var out []byte
	for {
		ev, err := dec.Next()
		if err != nil {
			break
		}
		out = enc.Encode(out, &ev)
	}
	return out
}

// TestGoldenStreams: whole streaming event sequences (text, thinking, streamed tool-call arguments,
// finish, usage) translated both ways, and a stream cut short ending in the client's error event.
func TestGoldenStreams(t *testing.T) {
	req := &llm.Request{Model: "m", Stream: true, IncludeUsage: true}
	for _, c := range []struct {
		in   string
		from llm.Provider
		to   llm.Format
		out  string
	}{
		{"anthropic_stream.txt", an, oa, "anthropic_to_openai_stream.txt"},
		{"openai_stream.txt", oa, an, "openai_to_anthropic_stream.txt"},
		{"anthropic_stream_cut.txt", an, oa, "anthropic_cut_to_openai_stream.txt"},
		{"openai_stream_cut.txt", oa, an, "openai_cut_to_anthropic_stream.txt"},
	} {
		t.Run(c.out, func(t *testing.T) {
			golden(t, c.out, translateStream(t, c.from, c.to, req, input(t, c.in)))
		})
	}
}

// TestStreamIncludeUsage: an OpenAI client that did not ask for usage gets no usage chunk.
func TestStreamIncludeUsage(t *testing.T) {
	out := translateStream(t, an, oa, &llm.Request{Model: "m", Stream: true}, input(t, "anthropic_stream.txt"))
	if bytes.Contains(out, []byte(`"usage"`)) {
		t.Errorf("usage chunk sent unasked:\n%s", out)
	}
	if !strings.HasSuffix(string(out), "data: [DONE]\n\n") {
		t.Errorf("stream does not end with [DONE]:\n%s", out)
	}
}
