package llm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// VertexAnthropicVersion is the anthropic_version Vertex AI requires in Claude request bodies.
const VertexAnthropicVersion = "vertex-2023-10-16"

// VertexAI is Google Vertex AI as a [Provider]: Gemini models through publishers/google
// (:generateContent, :streamGenerateContent?alt=sse, the Gemini body) and Claude models through
// publishers/anthropic (:rawPredict, :streamRawPredict, the Anthropic Messages body without "model"
// and with anthropic_version). A model is Claude when its name starts with "claude". Requests carry
// a Google OAuth2 access token from the application default credentials (or a configured key, sent
// as the bearer token).
type VertexAI struct {
	ProjectID string
	// Region is a location ("us-central1"), "global" (the default), or the multi-regions "us"/"eu".
	Region string

	mu     sync.Mutex
	tokens oauth2.TokenSource
}

var _ Provider = (*VertexAI)(nil)

// Vertex is Google Vertex AI for projectID in region (see [VertexAI]). Without [APIKey], each request
// gets an access token from Google's application default credentials (GOOGLE_APPLICATION_CREDENTIALS,
// gcloud's credentials, or the metadata server), fetched at the first call and refreshed as needed.
func Vertex(projectID, region string, opts ...UpstreamOption) *Upstream {
	if region == "" {
		region = "global"
	}
	u := newUpstream(&VertexAI{ProjectID: projectID, Region: region}, "gcp.vertex_ai", "", opts)
	if projectID == "" {
		u.errs = append(u.errs, fmt.Errorf("vertex: projectId is required"))
	}
	return u
}

// GoogleTokenSource authenticates a Vertex upstream with ts instead of the default credentials.
func GoogleTokenSource(ts oauth2.TokenSource) UpstreamOption {
	return func(u *Upstream) {
		if v, ok := u.provider.(*VertexAI); ok {
			v.tokens = oauth2.ReuseTokenSource(nil, ts)
		} else {
			u.errs = append(u.errs, fmt.Errorf("a Google token source given to a %s provider", u.provider.Name()))
		}
	}
}

// Name implements [Provider].
func (*VertexAI) Name() string { return "gcp.vertex_ai" }

// Wire implements [Provider]: none.
func (*VertexAI) Wire() string { return "" }

// DefaultBase implements [Provider]: the regional host and the project's location path.
func (v *VertexAI) DefaultBase() string {
	host := v.Region + "-aiplatform.googleapis.com"
	switch v.Region {
	case "global":
		host = "aiplatform.googleapis.com"
	case "us", "eu":
		host = "aiplatform." + v.Region + ".rep.googleapis.com"
	}
	return "https://" + host + "/v1/projects/" + url.PathEscape(v.ProjectID) + "/locations/" + url.PathEscape(v.Region)
}

// Path implements [Provider]; the real path names the model (PathFor).
func (*VertexAI) Path(op Operation) string {
	if op == OpChat {
		return "/publishers"
	}
	return ""
}

func isClaude(model string) bool { return strings.HasPrefix(model, "claude") }

// PathFor is publishers/{google|anthropic}/models/{model}:{method}.
func (*VertexAI) PathFor(op Operation, model string, stream bool) string {
	if isClaude(model) {
		if stream {
			return "/publishers/anthropic/models/" + url.PathEscape(model) + ":streamRawPredict"
		}
		return "/publishers/anthropic/models/" + url.PathEscape(model) + ":rawPredict"
	}
	return geminiModelPath("/publishers/google/models/", model, stream)
}

// SetHeaders implements [Provider]: a configured key is sent as the bearer token.
func (*VertexAI) SetHeaders(h http.Header, key string) {
	h.Set("Content-Type", "application/json")
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
}

// SignRequest adds an access token from the Google credentials unless a key was configured.
func (v *VertexAI) SignRequest(req *http.Request, _ []byte) error {
	if req.Header.Get("Authorization") != "" {
		return nil
	}
	v.mu.Lock()
	if v.tokens == nil {
		ts, err := google.DefaultTokenSource(req.Context(), "https://www.googleapis.com/auth/cloud-platform")
		if err != nil {
			v.mu.Unlock()
			return fmt.Errorf("vertex: Google default credentials: %w", err)
		}
		v.tokens = ts
	}
	ts := v.tokens
	v.mu.Unlock()
	tok, err := ts.Token()
	if err != nil {
		return fmt.Errorf("vertex: access token: %w", err)
	}
	tok.SetAuthHeader(req)
	return nil
}

// EncodeRequest implements [Provider]: the Gemini body, or for Claude the Anthropic one.
func (*VertexAI) EncodeRequest(req *Request) ([]byte, error) {
	if !isClaude(req.Model) {
		return GeminiAPI{}.EncodeRequest(req)
	}
	b, err := AnthropicMessages{}.EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "model")
	m["anthropic_version"] = json.RawMessage(`"` + VertexAnthropicVersion + `"`)
	return json.Marshal(m)
}

// isAnthropicBody tells a Claude answer ({"type":"message"...}) from a Gemini one.
func isAnthropicBody(body []byte) bool {
	var probe struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &probe)
	return probe.Type == "message" || probe.Type == "error"
}

// DecodeResponse implements [Provider].
func (*VertexAI) DecodeResponse(body []byte) (*Response, error) {
	if isAnthropicBody(body) {
		return AnthropicMessages{}.DecodeResponse(body)
	}
	return GeminiAPI{}.DecodeResponse(body)
}

// Usage implements [Provider].
func (*VertexAI) Usage(body []byte) (string, Usage) {
	if isAnthropicBody(body) {
		return AnthropicMessages{}.Usage(body)
	}
	return GeminiAPI{}.Usage(body)
}

// DecodeError implements [Provider]: Google's error object, or Anthropic's from a Claude model.
func (*VertexAI) DecodeError(status int, body []byte) *Error {
	if isAnthropicBody(body) {
		return AnthropicMessages{}.DecodeError(status, body)
	}
	return decodeGoogleError(status, body)
}

// NewStreamDecoder implements [Provider]: a Claude stream names its events ("event:
// message_start"), a Gemini stream does not; the first line tells which.
func (*VertexAI) NewStreamDecoder(r io.Reader) StreamDecoder {
	br := bufio.NewReaderSize(r, 16<<10)
	for {
		b, err := br.Peek(br.Buffered() + 1)
		// Skip to the first non-blank byte without consuming it.
		t := bytes.TrimLeft(b, "\r\n ")
		if len(t) >= 6 || err != nil || len(b) >= 4096 {
			if bytes.HasPrefix(t, []byte("event:")) {
				return AnthropicMessages{}.NewStreamDecoder(br)
			}
			return GeminiAPI{}.NewStreamDecoder(br)
		}
	}
}
