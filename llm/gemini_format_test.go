package llm_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgw/agentgateway/llm"
)

func geminiFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "gemini", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGeminiFormatGolden pins the Gemini client format's translations: a Gemini request (system
// instruction, inline image, thought with signature, ID-less function call and its functionResponse,
// OpenAPI-typed and JSON-schema tool declarations, toolConfig, generationConfig with thinking) as
// the OpenAI, Anthropic and Gemini provider bodies; OpenAI and Anthropic answers and streams as
// Gemini answers, in both stream framings (alt=sse and the JSON array), a cut stream included.
func TestGeminiFormatGolden(t *testing.T) {
	g := llm.GeminiNative{Model: "gemini-2.5-pro"}
	for name, p := range map[string]llm.Provider{"openai": oa, "anthropic": an, "gemini": llm.GeminiAPI{}} {
		t.Run("request_to_"+name, func(t *testing.T) {
			req, err := g.DecodeRequest(geminiFixture(t, "client_gemini.json"))
			if err != nil {
				t.Fatal(err)
			}
			req.Model = "upstream"
			out, err := p.EncodeRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "gemini_to_"+name+"_request.json", out)
		})
	}
	for _, c := range []struct {
		in   string
		from llm.Provider
		out  string
	}{
		{"openai_response.json", oa, "openai_to_gemini_response.json"},
		{"anthropic_response.json", an, "anthropic_to_gemini_response.json"},
	} {
		t.Run(c.out, func(t *testing.T) {
			resp, err := c.from.DecodeResponse(input(t, c.in))
			if err != nil {
				t.Fatal(err)
			}
			out, err := g.EncodeResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.out, out)
		})
	}
	req := &llm.Request{Model: "m", Stream: true}
	sse := llm.GeminiNative{Model: "m", Stream: true, SSE: true}
	arr := llm.GeminiNative{Model: "m", Stream: true}
	for _, c := range []struct {
		in   string
		from llm.Provider
		to   llm.GeminiNative
		out  string
	}{
		{"anthropic_stream.txt", an, sse, "anthropic_to_gemini_stream_sse.txt"},
		{"openai_stream.txt", oa, sse, "openai_to_gemini_stream_sse.txt"},
		{"anthropic_stream.txt", an, arr, "anthropic_to_gemini_stream_array.txt"},
		{"openai_stream_cut.txt", oa, arr, "openai_cut_to_gemini_stream_array.txt"},
		{"anthropic_stream_cut.txt", an, sse, "anthropic_cut_to_gemini_stream_sse.txt"},
	} {
		t.Run(c.out, func(t *testing.T) {
			out := translateStream(t, c.from, c.to, req, input(t, c.in))
			if !c.to.SSE {
				// The array form must be one valid JSON array once complete.
				var elems []json.RawMessage
				if err := json.Unmarshal(out, &elems); err != nil {
					t.Fatalf("array stream is not JSON: %v\n%s", err, out)
				}
			}
			golden(t, c.out, out)
		})
	}
}

// geminiCall posts a Gemini request to the gateway.
func geminiCall(t *testing.T, url, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-goog-api-key", "client-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

type gmAnswer struct {
	Candidates []struct {
		Content struct {
			Role  string `json:"role"`
			Parts []struct {
				Text         string `json:"text"`
				Thought      bool   `json:"thought"`
				FunctionCall *struct {
					ID   string          `json:"id"`
					Name string          `json:"name"`
					Args json.RawMessage `json:"args"`
				} `json:"functionCall"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount     int64 `json:"promptTokenCount"`
		CandidatesTokenCount int64 `json:"candidatesTokenCount"`
		TotalTokenCount      int64 `json:"totalTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
	Error        *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

const gmToolsReq = `{"contents":[{"role":"user","parts":[{"text":"Weather in Paris?"}]}],
 "tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}},"required":["city"]}}]}]}`

// TestGeminiClientToolRoundTrip: a Gemini client (generateContent) reaches an OpenAI and an
// Anthropic provider: the model's function call comes back as a Gemini functionCall, the client's
// functionResponse (answering by name, without an ID) reaches the provider as the tool result of
// that call, and usage lands in the State.
func TestGeminiClientToolRoundTrip(t *testing.T) {
	for _, wire := range []string{"openai", "anthropic"} {
		t.Run(wire, func(t *testing.T) {
			s := newStub(t, wire)
			up := llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))
			if wire == "anthropic" {
				up = llm.Anthropic(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))
			}
			r, err := llm.New(llm.Model("gemini-2.5-flash", up, llm.As("upstream-model")))
			if err != nil {
				t.Fatal(err)
			}
			url, state := gateway(t, r)
			resp, body := geminiCall(t, url, "/v1beta/models/gemini-2.5-flash:generateContent", gmToolsReq)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var a gmAnswer
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatal(err)
			}
			var call *struct {
				ID   string          `json:"id"`
				Name string          `json:"name"`
				Args json.RawMessage `json:"args"`
			}
			for _, p := range a.Candidates[0].Content.Parts {
				if p.FunctionCall != nil {
					call = p.FunctionCall
				}
			}
			if call == nil || call.Name != "get_weather" || string(call.Args) != `{"city":"Paris"}` || a.Candidates[0].Content.Role != "model" {
				t.Fatalf("no function call in %s", body)
			}
			if a.UsageMetadata == nil || a.UsageMetadata.PromptTokenCount == 0 || a.UsageMetadata.TotalTokenCount == 0 {
				t.Errorf("no usage: %s", body)
			}
			if got := s.last()["model"]; got != "upstream-model" {
				t.Errorf("provider got model %v", got)
			}
			st := state()
			if st.LLM.RequestModel != "gemini-2.5-flash" || st.LLM.InputTokens == 0 || st.LLM.Operation != "chat" {
				t.Errorf("state: %+v", st.LLM)
			}
			// Second turn: the result by function name only.
			second := `{"contents":[{"role":"user","parts":[{"text":"Weather in Paris?"}]},
			 {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},
			 {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"18C"}}}]}],
			 "tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}}}}]}]}`
			resp, body = geminiCall(t, url, "/v1beta/models/gemini-2.5-flash:generateContent", second)
			if resp.StatusCode != 200 || !strings.Contains(string(body), "Weather: 18C") {
				t.Fatalf("second turn: %d %s", resp.StatusCode, body)
			}
			if a.Candidates[0].FinishReason != "STOP" {
				t.Errorf("finishReason %q", a.Candidates[0].FinishReason)
			}
		})
	}
}

// TestGeminiClientStreams: :streamGenerateContent with alt=sse is server-sent events of Gemini
// chunks, without it one JSON array; both carry the whole text, the finish reason and usage.
func TestGeminiClientStreams(t *testing.T) {
	for _, wire := range []string{"openai", "anthropic"} {
		for _, alt := range []bool{true, false} {
			name := wire + "/array"
			if alt {
				name = wire + "/sse"
			}
			t.Run(name, func(t *testing.T) {
				s := newStub(t, wire)
				up := llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))
				if wire == "anthropic" {
					up = llm.Anthropic(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))
				}
				r, err := llm.New(llm.Model("gemini-*", up))
				if err != nil {
					t.Fatal(err)
				}
				url, state := gateway(t, r)
				path := "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
				if alt {
					path += "?alt=sse"
				}
				resp, body := geminiCall(t, url, path, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				var chunks []gmAnswer
				if alt {
					if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
						t.Errorf("Content-Type %q", ct)
					}
					sc := bufio.NewScanner(bytes.NewReader(body))
					for sc.Scan() {
						if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
							var c gmAnswer
							if err := json.Unmarshal([]byte(d), &c); err != nil {
								t.Fatalf("chunk %q: %v", d, err)
							}
							chunks = append(chunks, c)
						}
					}
				} else {
					if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Errorf("Content-Type %q", ct)
					}
					if err := json.Unmarshal(body, &chunks); err != nil {
						t.Fatalf("not a JSON array: %v\n%s", err, body)
					}
				}
				var text strings.Builder
				for _, c := range chunks {
					for _, cand := range c.Candidates {
						for _, p := range cand.Content.Parts {
							text.WriteString(p.Text)
						}
					}
				}
				if text.String() != "Hello from "+wire {
					t.Errorf("text %q from %s", text.String(), body)
				}
				last := chunks[len(chunks)-1]
				if last.Candidates[0].FinishReason != "STOP" || last.UsageMetadata == nil || last.UsageMetadata.TotalTokenCount == 0 {
					t.Errorf("last chunk lacks finishReason or usage: %s", body)
				}
				if st := state(); !st.LLM.Streaming || st.LLM.OutputTokens == 0 || st.LLM.FirstToken == 0 {
					t.Errorf("state: %+v", st.LLM)
				}
			})
		}
	}
}

// TestGeminiClientCountTokens: :countTokens answers {"totalTokens": n}: the Anthropic provider's
// count (the translated body trimmed to what count_tokens accepts), or an estimate for OpenAI.
func TestGeminiClientCountTokens(t *testing.T) {
	an := newStub(t, "anthropic")
	oaS := newStub(t, "openai")
	r, err := llm.New(llm.Model("claude", llm.Anthropic(llm.BaseURL(an.srv.URL+"/v1"), llm.APIKey("k"))),
		llm.Model("gpt", llm.OpenAI(llm.BaseURL(oaS.srv.URL+"/v1"), llm.APIKey("k"))))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := gateway(t, r)
	resp, body := geminiCall(t, url, "/v1beta/models/claude:countTokens", `{"contents":[{"parts":[{"text":"hello there"}]}]}`)
	if resp.StatusCode != 200 || string(body) != `{"totalTokens":42}` {
		t.Fatalf("claude: %d %s", resp.StatusCode, body)
	}
	for _, k := range []string{"max_tokens", "stream"} {
		if _, ok := an.last()[k]; ok {
			t.Errorf("count_tokens body carries %s: %v", k, an.last())
		}
	}
	resp, body = geminiCall(t, url, "/v1beta/models/gpt:countTokens", `{"generateContentRequest":{"model":"models/gpt","contents":[{"parts":[{"text":"hello there"}]}]}}`)
	var c struct {
		TotalTokens int `json:"totalTokens"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &c) != nil || c.TotalTokens == 0 {
		t.Fatalf("gpt: %d %s", resp.StatusCode, body)
	}
	if oaS.count() != 0 {
		t.Error("the estimate reached the provider")
	}
}

// TestGeminiClientErrors: errors reach a Gemini client as Gemini error objects with the right
// HTTP status and google.rpc status: unknown model, malformed JSON, an empty request, a provider's
// 429 (with Retry-After), and a provider stream cut short (the error as the last SSE event).
func TestGeminiClientErrors(t *testing.T) {
	s := newStub(t, "openai")
	r, err := llm.New(llm.Model("gpt", llm.OpenAI(llm.BaseURL(s.srv.URL+"/v1"), llm.APIKey("k"))))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := gateway(t, r)
	check := func(name string, resp *http.Response, body []byte, status int, rpc string) {
		t.Helper()
		var a gmAnswer
		if err := json.Unmarshal(body, &a); err != nil || a.Error == nil {
			t.Fatalf("%s: not a Gemini error: %s", name, body)
		}
		if resp.StatusCode != status || a.Error.Code != status || a.Error.Status != rpc || a.Error.Message == "" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	resp, body := geminiCall(t, url, "/v1beta/models/nope:generateContent", `{"contents":[{"parts":[{"text":"x"}]}]}`)
	check("unknown model", resp, body, 404, "NOT_FOUND")
	resp, body = geminiCall(t, url, "/v1beta/models/gpt:generateContent", `{"contents":[`)
	check("malformed", resp, body, 400, "INVALID_ARGUMENT")
	resp, body = geminiCall(t, url, "/v1beta/models/gpt:generateContent", `{"contents":[]}`)
	check("empty", resp, body, 400, "INVALID_ARGUMENT")
	s.fail.Store(1)
	resp, body = geminiCall(t, url, "/v1beta/models/gpt:generateContent", `{"contents":[{"parts":[{"text":"x"}]}]}`)
	check("429", resp, body, 429, "RESOURCE_EXHAUSTED")
	if resp.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	s.cut.Store(true)
	resp, body = geminiCall(t, url, "/v1beta/models/gpt:streamGenerateContent?alt=sse", `{"contents":[{"parts":[{"text":"x"}]}]}`)
	frames := strings.Split(strings.TrimSpace(string(body)), "\n\n")
	lastFrame := strings.TrimPrefix(frames[len(frames)-1], "data: ")
	var a gmAnswer
	if resp.StatusCode != 200 || json.Unmarshal([]byte(lastFrame), &a) != nil || a.Error == nil || a.Error.Code != 502 {
		t.Errorf("cut stream: %d %s", resp.StatusCode, body)
	}
}

// TestGeminiClientModels: a Gemini client's GET v1beta/models lists the models in Gemini's form.
func TestGeminiClientModels(t *testing.T) {
	r, err := llm.New(llm.Model("gpt", llm.OpenAI(llm.APIKey("k"))))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := gateway(t, r)
	resp, err := http.Get(url + "/v1beta/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Models) != 1 || out.Models[0].Name != "models/gpt" {
		t.Fatalf("%v %+v", err, out)
	}
}

// TestGeminiDecodeErrors: requests a Gemini client may send wrongly are 400s naming the problem,
// matchable as ErrMalformedRequest.
func TestGeminiDecodeErrors(t *testing.T) {
	g := llm.GeminiNative{Model: "m"}
	for name, body := range map[string]string{
		"orphan result": `{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`,
		"bad role":      `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`,
		"candidates":    `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"candidateCount":2}}`,
		"unnamed call":  `{"contents":[{"role":"model","parts":[{"functionCall":{"args":{}}}]}]}`,
		"bad mode":      `{"contents":[{"parts":[{"text":"x"}]}],"toolConfig":{"functionCallingConfig":{"mode":"MAYBE"}}}`,
	} {
		_, err := g.DecodeRequest([]byte(body))
		var e *llm.Error
		if !errors.As(err, &e) || e.Status != 400 || !errors.Is(err, llm.ErrMalformedRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := g.Peek([]byte(`[1]`)); err == nil {
		t.Error("an array body passed Peek")
	}
}
