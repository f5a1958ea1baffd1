package llm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/agentgw/agentgateway/llm"
)

var updateProviderGolden = flag.Bool("update-provider-golden", false, "rewrite testdata/providers/golden_*")

// Made-up IDs and clocks vary per run; goldens hold placeholders.
var unstable = regexp.MustCompile(`msg_bdrk_[A-Za-z0-9_-]+|"created(_at)?":\s*\d+`)

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	got = unstable.ReplaceAllFunc(got, func(b []byte) []byte {
		if bytes.HasPrefix(b, []byte("msg_bdrk_")) {
			return []byte("msg_bdrk_ID")
		}
		return bytes.Replace(bytes.TrimRight(b, "0123456789"), []byte(":"), []byte(":0"), 1)
	})
	if json.Valid(got) {
		var buf bytes.Buffer
		_ = json.Indent(&buf, got, "", "  ")
		got = append(buf.Bytes(), '\n')
	}
	path := filepath.Join("testdata", "providers", "golden_"+name)
	if *updateProviderGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-provider-golden)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "providers", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newBedrock() llm.Provider {
	// The provider value of an upstream; only its translation methods are used here.
	return llm.NewBedrockConverse("us-east-1")
}

// bedrockStreamFixture encodes testdata/providers/bedrock_stream.json as AWS event-stream frames.
func bedrockStreamFixture(t testing.TB, raw []byte) []byte {
	var events []struct {
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := eventstream.NewEncoder()
	for _, e := range events {
		var m eventstream.Message
		m.Headers.Set(":event-type", eventstream.StringValue(e.Event))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Payload = e.Payload
		if err := enc.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// drain reads a provider stream and encodes it for a client, as the router does.
func drain(t *testing.T, dec llm.StreamDecoder, enc llm.StreamEncoder) []byte {
	t.Helper()
	var out []byte
	for i := 0; ; i++ {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = enc.Encode(out, &ev)
		if i > 1000 {
			t.Fatal("stream does not end")
		}
	}
}

// TestProviderGolden pins every translation to and from Gemini and Bedrock: an OpenAI and an
// Anthropic client request (system, image, tool definitions and choice, tool call and result,
// thinking with signature, cache markers, sampling) as each provider's request body; each
// provider's complete answer (thinking, text, tool call, usage with cached and reasoning tokens) and
// stream as each client's answer and event stream.
func TestProviderGolden(t *testing.T) {
	providers := map[string]llm.Provider{"gemini": llm.GeminiAPI{}, "bedrock": newBedrock()}
	clients := map[string]llm.Format{"openai": llm.OpenAIChat{}, "anthropic": llm.AnthropicMessages{}, "responses": llm.OpenAIResponses{}}
	for pn, p := range providers {
		for cn, f := range clients {
			t.Run(cn+"_to_"+pn, func(t *testing.T) {
				req, err := f.DecodeRequest(readFixture(t, "client_"+cn+".json"))
				if err != nil {
					t.Fatal(err)
				}
				req.Model = "up-model"
				body, err := p.EncodeRequest(req)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, cn+"_to_"+pn+"_request.json", body)

				resp, err := p.DecodeResponse(readFixture(t, pn+"_response.json"))
				if err != nil {
					t.Fatal(err)
				}
				if resp.Model == "" {
					resp.Model = "up-model"
				}
				out, err := f.EncodeResponse(resp)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, pn+"_to_"+cn+"_response.json", out)

				stream := readFixture(t, pn+"_stream."+map[string]string{"gemini": "sse", "bedrock": "json"}[pn])
				if pn == "bedrock" {
					stream = bedrockStreamFixture(t, stream)
				}
				req.IncludeUsage = true
				got := drain(t, p.NewStreamDecoder(bytes.NewReader(stream)), f.NewStreamEncoder(req))
				checkGolden(t, pn+"_to_"+cn+"_stream.txt", got)
			})
		}
	}
}
