package llm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// OpEmbeddings is an OpenAI-format embeddings call (POST /v1/embeddings).
const OpEmbeddings Operation = "embeddings"

// The embeddings client API is OpenAI's /v1/embeddings. Providers that speak it (OpenAI, any
// OpenAI-compatible server, Azure OpenAI) get the client's body with only the model replaced; Gemini
// (batchEmbedContents), Vertex AI (text-embedding :predict) and Bedrock (Titan and Cohere embedding
// models through InvokeModel) get it translated. Anthropic has no embeddings API.

// embedRequest is the client's request, decoded only when it must be translated.
type embedRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     int             `json:"dimensions"`
	User           string          `json:"user"`
}

// texts is the input as strings; token arrays cannot be translated.
func (r *embedRequest) texts() ([]string, error) {
	var one string
	if err := json.Unmarshal(r.Input, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(r.Input, &many); err == nil && len(many) > 0 {
		return many, nil
	}
	if len(r.Input) == 0 || string(r.Input) == "null" {
		return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Param: "input", Message: "input is required", Err: ErrMalformedRequest}
	}
	return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Param: "input", Message: "input must be a string or a non-empty array of strings for this provider (token arrays are passed only to OpenAI-compatible providers)", Err: ErrUnsupported}
}

// embedding is one vector of a translated answer.
type embedResult struct {
	vectors [][]float64
	tokens  int64 // 0 when the provider does not say
}

// embedder is a provider with a translated embeddings API. The OpenAI wire needs none: its body
// passes unchanged.
type embedder interface {
	// embedCalls returns the requests to send (Bedrock's Titan takes one text per call) as paths
	// after the base and bodies.
	embedCalls(model string, req *embedRequest, texts []string) (paths []string, bodies [][]byte, err error)
	// embedDecode reads the answers of those calls, in order.
	embedDecode(bodies [][]byte) (*embedResult, error)
}

// embedPath is the path of the OpenAI-wire embeddings endpoint.
func (OpenAIChat) embedPath(string) string { return "/embeddings" }

// embedPath implements the Azure deployment path for embeddings.
func (a AzureOpenAIChat) embedPath(model string) string { return a.pathWith("/embeddings", model) }

type openAIEmbedPather interface{ embedPath(model string) string }

// embed serves an embeddings call with one candidate; results as attempt's.
func (c *call) embed(cand candidate, final bool) (*Error, bool) {
	up := cand.entry.upstream
	p := up.provider
	c.st.LLM.Provider = p.Name()
	src := c.in.body
	if len(cand.entry.defaults) > 0 || len(cand.entry.overrides) > 0 {
		var err error
		if src, err = applyFields(src, cand.entry.defaults, cand.entry.overrides); err != nil {
			return asError(err), false
		}
	}
	base := up.scheme + "://" + up.hostport + up.basePath
	if op, ok := p.(openAIEmbedPather); ok && p.Wire() == "openai" {
		body, err := rewriteNative(src, "openai", cand.model, c.in.peek, OpEmbeddings)
		if err != nil {
			return asError(err), false
		}
		raw, e, retry := c.sendRaw(cand, base+op.embedPath(cand.model), body, final)
		if e != nil || raw == nil {
			return e, retry
		}
		var u struct {
			Model string `json:"model"`
			Usage struct {
				PromptTokens int64 `json:"prompt_tokens"`
			} `json:"usage"`
		}
		_ = json.Unmarshal(raw, &u)
		c.account(u.Model, Usage{InputTokens: u.Usage.PromptTokens})
		c.w.Header().Set("Content-Type", "application/json")
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(raw)
		return nil, false
	}
	em, ok := p.(embedder)
	if !ok {
		return &Error{Status: 400, Kind: ErrInvalidRequest, Param: "model", Message: fmt.Sprintf("provider %s has no embeddings API", p.Name()), Err: ErrUnsupported}, false
	}
	var req embedRequest
	if err := json.Unmarshal(src, &req); err != nil {
		return malformed(err), false
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		return &Error{Status: 400, Kind: ErrInvalidRequest, Param: "encoding_format", Message: "encoding_format must be float or base64", Err: ErrMalformedRequest}, false
	}
	texts, err := req.texts()
	if err != nil {
		return asError(err), false
	}
	paths, bodies, err := em.embedCalls(cand.model, &req, texts)
	if err != nil {
		return asError(err), false
	}
	answers := make([][]byte, 0, len(bodies))
	for i := range bodies {
		raw, e, retry := c.sendRaw(cand, base+paths[i], bodies[i], final)
		if e != nil || raw == nil {
			return e, retry && i == 0 // once a part was answered, a retry elsewhere would pay twice
		}
		answers = append(answers, raw)
	}
	res, err := em.embedDecode(answers)
	if err != nil || len(res.vectors) != len(texts) {
		if err == nil {
			err = fmt.Errorf("%d vectors for %d inputs", len(res.vectors), len(texts))
		}
		return &Error{Status: 502, Kind: ErrAPI, Message: "the provider's embeddings could not be read", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}, false
	}
	tokens := res.tokens
	if tokens == 0 { // Gemini does not count embedding tokens: estimate, as for count_tokens
		for _, t := range texts {
			tokens += int64(max(1, (len(t)+3)/4))
		}
	}
	c.account(cand.model, Usage{InputTokens: tokens})
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(encodeEmbeddings(res.vectors, req.EncodingFormat == "base64", req.Model, tokens))
	return nil, false
}

// encodeEmbeddings writes OpenAI's embeddings answer; base64 is little-endian float32, as OpenAI's.
func encodeEmbeddings(vectors [][]float64, b64 bool, model string, tokens int64) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"object":"list","data":[`)
	for i, v := range vectors {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"object":"embedding","index":%d,"embedding":`, i)
		if b64 {
			raw := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(float32(f)))
			}
			buf.WriteByte('"')
			buf.WriteString(base64.StdEncoding.EncodeToString(raw))
			buf.WriteByte('"')
		} else {
			b, _ := json.Marshal(v)
			buf.Write(b)
		}
		buf.WriteByte('}')
	}
	m, _ := json.Marshal(model)
	fmt.Fprintf(&buf, `],"model":%s,"usage":{"prompt_tokens":%d,"total_tokens":%d}}`, m, tokens, tokens)
	return buf.Bytes()
}

// sendRaw posts body to the provider with the upstream's credentials and headers and returns the
// answer's body. On an error answer it returns the error and whether to try the next candidate,
// as attempt does (a retryable status on the final candidate is answered).
func (c *call) sendRaw(cand candidate, target string, body []byte, final bool) ([]byte, *Error, bool) {
	up := cand.entry.upstream
	p := up.provider
	ctx, cancel := context.WithCancel(c.req.Context())
	defer cancel()
	ureq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Status: 502, Kind: ErrAPI, Message: "bad upstream URL", Err: err}, false
	}
	key := up.key
	if up.passKey {
		key = clientKey(c.req.Header)
	}
	p.SetHeaders(ureq.Header, key)
	setProviderHeaders(ureq.Header, up, cand.entry)
	if err := up.sign(ureq, body); err != nil {
		return nil, &Error{Status: 502, Kind: ErrAPI, Message: "signing the provider request failed", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}, false
	}
	timeout := c.r.timeout
	if timeout == 0 {
		timeout = c.st.BackendTimeout
	}
	var timedOut atomic.Bool
	if timeout > 0 {
		t := time.AfterFunc(timeout, func() { timedOut.Store(true); cancel() })
		defer t.Stop()
	}
	resp, err := c.r.transport(up).RoundTrip(ureq)
	if err != nil {
		if c.req.Context().Err() != nil {
			return nil, &Error{Status: 499, Kind: ErrAPI, Message: "client went away", Err: err}, false
		}
		e := &Error{Status: 502, Kind: ErrAPI, Message: "the provider could not be reached", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}
		if timedOut.Load() || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			e = &Error{Status: 504, Kind: ErrTimeout, Message: "the provider did not answer in time", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}
		}
		cand.entry.health.fail(0)
		return nil, e, true
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		e := p.DecodeError(resp.StatusCode, raw)
		e.RetryAfter = retryAfter(resp.Header)
		e.Err = fmt.Errorf("%w: provider answered %d", ErrUpstream, resp.StatusCode)
		c.st.Status = resp.StatusCode
		if retryable(resp.StatusCode) {
			cand.entry.health.fail(e.RetryAfter)
			return nil, e, !final
		}
		return nil, e, false
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, &Error{Status: 502, Kind: ErrAPI, Message: "reading the provider's answer failed", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}, false
	}
	cand.entry.health.ok()
	c.st.LLM.ResponseModel = cand.model
	return raw, nil, false
}

// --- Gemini: models/{model}:batchEmbedContents ---

func (GeminiAPI) embedCalls(model string, req *embedRequest, texts []string) ([]string, [][]byte, error) {
	type content struct {
		Parts []gmPart `json:"parts"`
	}
	type one struct {
		Model                string  `json:"model"`
		Content              content `json:"content"`
		OutputDimensionality int     `json:"outputDimensionality,omitempty"`
	}
	model = strings.TrimPrefix(model, "models/")
	reqs := make([]one, len(texts))
	for i, t := range texts {
		reqs[i] = one{Model: "models/" + model, Content: content{Parts: []gmPart{{Text: t}}}, OutputDimensionality: req.Dimensions}
	}
	b, err := json.Marshal(map[string]any{"requests": reqs})
	return []string{"/models/" + url.PathEscape(model) + ":batchEmbedContents"}, [][]byte{b}, err
}

func (GeminiAPI) embedDecode(bodies [][]byte) (*embedResult, error) {
	var in struct {
		Embeddings []struct {
			Values []float64 `json:"values"`
		} `json:"embeddings"`
	}
	if err := json.Unmarshal(bodies[0], &in); err != nil {
		return nil, err
	}
	res := &embedResult{}
	for _, e := range in.Embeddings {
		res.vectors = append(res.vectors, e.Values)
	}
	return res, nil
}

// --- Vertex AI: publishers/google/models/{model}:predict ---

func (*VertexAI) embedCalls(model string, req *embedRequest, texts []string) ([]string, [][]byte, error) {
	inst := make([]map[string]string, len(texts))
	for i, t := range texts {
		inst[i] = map[string]string{"content": t}
	}
	body := map[string]any{"instances": inst}
	if req.Dimensions > 0 {
		body["parameters"] = map[string]int{"outputDimensionality": req.Dimensions}
	}
	b, err := json.Marshal(body)
	return []string{"/publishers/google/models/" + url.PathEscape(model) + ":predict"}, [][]byte{b}, err
}

func (*VertexAI) embedDecode(bodies [][]byte) (*embedResult, error) {
	var in struct {
		Predictions []struct {
			Embeddings struct {
				Values     []float64 `json:"values"`
				Statistics struct {
					TokenCount float64 `json:"token_count"`
				} `json:"statistics"`
			} `json:"embeddings"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(bodies[0], &in); err != nil {
		return nil, err
	}
	res := &embedResult{}
	for _, p := range in.Predictions {
		res.vectors = append(res.vectors, p.Embeddings.Values)
		res.tokens += int64(p.Embeddings.Statistics.TokenCount)
	}
	return res, nil
}

// --- Bedrock: InvokeModel with Titan (one text a call) or Cohere (a batch) embedding models ---

func bedrockInvokePath(model string) string {
	return "/model/" + strings.ReplaceAll(url.PathEscape(model), ":", "%3A") + "/invoke"
}

func isCohere(model string) bool { return strings.Contains(model, "cohere.") }

func (*BedrockConverse) embedCalls(model string, req *embedRequest, texts []string) ([]string, [][]byte, error) {
	path := bedrockInvokePath(model)
	if isCohere(model) {
		b, err := json.Marshal(map[string]any{"texts": texts, "input_type": "search_document", "embedding_types": []string{"float"}})
		return []string{path}, [][]byte{b}, err
	}
	if !strings.Contains(model, "titan-embed") {
		return nil, nil, &Error{Status: 400, Kind: ErrInvalidRequest, Param: "model", Message: fmt.Sprintf("Bedrock model %q: embeddings are supported for Titan and Cohere embedding models", model), Err: ErrUnsupported}
	}
	var paths []string
	var bodies [][]byte
	for _, t := range texts {
		body := map[string]any{"inputText": t}
		if req.Dimensions > 0 {
			body["dimensions"] = req.Dimensions
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		paths, bodies = append(paths, path), append(bodies, b)
	}
	return paths, bodies, nil
}

func (*BedrockConverse) embedDecode(bodies [][]byte) (*embedResult, error) {
	res := &embedResult{}
	for _, b := range bodies {
		var in struct {
			Embedding           []float64       `json:"embedding"`
			InputTextTokenCount int64           `json:"inputTextTokenCount"`
			Embeddings          json.RawMessage `json:"embeddings"`
		}
		if err := json.Unmarshal(b, &in); err != nil {
			return nil, err
		}
		if in.Embedding != nil {
			res.vectors = append(res.vectors, in.Embedding)
			res.tokens += in.InputTextTokenCount
			continue
		}
		// Cohere: "embeddings" is [[...]] (embeddings_floats) or {"float": [[...]]} (by type).
		var floats [][]float64
		if err := json.Unmarshal(in.Embeddings, &floats); err != nil {
			var byType struct {
				Float [][]float64 `json:"float"`
			}
			if err := json.Unmarshal(in.Embeddings, &byType); err != nil {
				return nil, err
			}
			floats = byType.Float
		}
		res.vectors = append(res.vectors, floats...)
	}
	return res, nil
}
