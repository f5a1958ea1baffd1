package llm_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentgw/agentgateway/llm"
)

// embedStub answers each provider's embeddings API with vectors whose first value is the input's
// length (so the test can tell which vector belongs to which input).
func embedStub(t *testing.T) (*recorder, string) {
	return newRecorder(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/embeddings"): // OpenAI
			var in []string
			switch v := body["input"].(type) {
			case string:
				in = []string{v}
			case []any:
				for _, s := range v {
					in = append(in, fmt.Sprint(s))
				}
			}
			var data []string
			for i, s := range in {
				data = append(data, fmt.Sprintf(`{"object":"embedding","index":%d,"embedding":[%d,0.5]}`, i, len(s)))
			}
			fmt.Fprintf(w, `{"object":"list","data":[%s],"model":%q,"usage":{"prompt_tokens":11,"total_tokens":11}}`, strings.Join(data, ","), body["model"])
		case strings.HasSuffix(r.URL.Path, ":batchEmbedContents"): // Gemini
			var out []string
			for _, q := range body["requests"].([]any) {
				text := q.(map[string]any)["content"].(map[string]any)["parts"].([]any)[0].(map[string]any)["text"].(string)
				out = append(out, fmt.Sprintf(`{"values":[%d,0.25]}`, len(text)))
			}
			fmt.Fprintf(w, `{"embeddings":[%s]}`, strings.Join(out, ","))
		case strings.HasSuffix(r.URL.Path, ":predict"): // Vertex
			var out []string
			for _, q := range body["instances"].([]any) {
				text := q.(map[string]any)["content"].(string)
				out = append(out, fmt.Sprintf(`{"embeddings":{"values":[%d,0.25],"statistics":{"truncated":false,"token_count":3}}}`, len(text)))
			}
			fmt.Fprintf(w, `{"predictions":[%s],"metadata":{"billableCharacterCount":10}}`, strings.Join(out, ","))
		case strings.HasSuffix(r.URL.Path, "/invoke"): // Bedrock Titan, signed
			if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+testAccessKey+"/") {
				w.WriteHeader(403)
				io.WriteString(w, `{"message":"missing signature"}`)
				return
			}
			text, _ := body["inputText"].(string)
			fmt.Fprintf(w, `{"embedding":[%d,0.125],"inputTextTokenCount":4}`, len(text))
		default:
			w.WriteHeader(404)
		}
	})
}

// TestEmbeddingsOpenAISDK: openai-go's Embeddings client reaches an OpenAI-compatible provider
// (body forwarded with the model replaced, usage read into the State), Gemini (batchEmbedContents),
// Vertex AI (:predict) and Bedrock Titan (InvokeModel, SigV4-signed, one call per input), in float
// and base64 encodings; Anthropic answers a clear 400.
func TestEmbeddingsOpenAISDK(t *testing.T) {
	rec, base := embedStub(t)
	r, err := llm.New(
		llm.Model("text-embedding-3-small", llm.OpenAI(llm.BaseURL(base+"/v1"), llm.APIKey("k")), llm.As("upstream-embed")),
		llm.Model("gemini-embedding-001", llm.Gemini(llm.BaseURL(base+"/v1beta"), llm.APIKey("g"))),
		llm.Model("text-embedding-005", llm.Vertex("proj", "us-central1", llm.BaseURL(base+"/v1/projects/proj/locations/us-central1"), llm.APIKey("tok"))),
		llm.Model("amazon.titan-embed-text-v2:0", llm.Bedrock(testRegion, llm.BaseURL(base), staticCreds(testSecretKey))),
		llm.Model("claude", llm.Anthropic(llm.BaseURL(base+"/v1"), llm.APIKey("k"))),
	)
	if err != nil {
		t.Fatal(err)
	}
	url, state := serveLLM(t, r)
	client := openai.NewClient(option.WithBaseURL(url+"/v1"), option.WithAPIKey("client"), option.WithMaxRetries(0))
	ctx := context.Background()
	for _, tc := range []struct {
		model, path string
		tokens      int64
	}{
		{"text-embedding-3-small", "/v1/embeddings", 11},
		{"gemini-embedding-001", "/v1beta/models/gemini-embedding-001:batchEmbedContents", 4}, // estimated: 2+1 ≈ "hello"(2) "hi there"(2)
		{"text-embedding-005", "/v1/projects/proj/locations/us-central1/publishers/google/models/text-embedding-005:predict", 6},
		{"amazon.titan-embed-text-v2:0", "/model/amazon.titan-embed-text-v2%3A0/invoke", 8},
	} {
		for _, format := range []openai.EmbeddingNewParamsEncodingFormat{"", openai.EmbeddingNewParamsEncodingFormatBase64} {
			t.Run(tc.model+"/"+string(format), func(t *testing.T) {
				params := openai.EmbeddingNewParams{
					Model: openai.EmbeddingModel(tc.model),
					Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello", "hi there"}},
				}
				if format != "" {
					params.EncodingFormat = format
				}
				resp, err := client.Embeddings.New(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.Data) != 2 {
					t.Fatalf("%d vectors", len(resp.Data))
				}
				first := func(i int) float64 {
					if format == "" || tc.model == "text-embedding-3-small" {
						return resp.Data[i].Embedding[0]
					}
					// A base64 answer of the gateway: decode what the raw JSON carried.
					var raw struct {
						Data []struct {
							Embedding string `json:"embedding"`
						} `json:"data"`
					}
					if err := json.Unmarshal([]byte(resp.RawJSON()), &raw); err != nil {
						t.Fatal(err)
					}
					b, err := base64.StdEncoding.DecodeString(raw.Data[i].Embedding)
					if err != nil || len(b) != 8 {
						t.Fatalf("base64 vector %q: %v", raw.Data[i].Embedding, err)
					}
					return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
				}
				if first(0) != 5 || first(1) != 8 {
					t.Errorf("vectors out of order: %v %v", first(0), first(1))
				}
				uri, _, _ := rec.get()
				if uri != tc.path {
					t.Errorf("provider path %s, want %s", uri, tc.path)
				}
				if resp.Usage.PromptTokens != tc.tokens {
					t.Errorf("usage %d, want %d", resp.Usage.PromptTokens, tc.tokens)
				}
				st := state()
				if st.Operation != "embeddings" || st.InputTokens != tc.tokens || st.RequestModel != tc.model {
					t.Errorf("state %+v", st)
				}
			})
		}
	}
	if _, _, body := rec.get(); body == nil {
		t.Fatal("no request recorded")
	}
	_, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "claude", Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, "no embeddings API") {
		t.Errorf("anthropic embeddings: %v", err)
	}
	_, err = client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "gemini-embedding-001", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2}}})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Errorf("token input to gemini: %v", err)
	}
}

// TestEmbeddingsForwardUnchanged: an OpenAI-wire provider gets the client's body with only the
// model replaced (dimensions, user and token inputs pass through).
func TestEmbeddingsForwardUnchanged(t *testing.T) {
	rec, base := embedStub(t)
	r, err := llm.New(llm.Model("e", llm.OpenAI(llm.BaseURL(base+"/v1"), llm.APIKey("k")), llm.As("up")))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveLLM(t, r)
	resp, err := http.Post(url+"/v1/embeddings", "application/json", strings.NewReader(`{"model":"e","input":[[1,2,3]],"dimensions":64,"user":"u1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, _, body := rec.get()
	if resp.StatusCode != 200 || body["model"] != "up" || body["dimensions"] != float64(64) || body["user"] != "u1" {
		t.Errorf("%d %v", resp.StatusCode, body)
	}
}
