package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// PassthroughMode is the schema's LocalLLMPassthrough: how a model's requests are forwarded.
type PassthroughMode string

// Passthrough modes. In both the client must speak the provider's own format: the body goes to
// the provider byte for byte (no model rewrite, no defaults or overrides, no translation) and the
// answer comes back byte for byte, streamed as it arrives.
const (
	// PassthroughDetect still reads the response model and usage (streams included: OpenAI and
	// Anthropic SSE, Gemini alt=sse) into State.LLM.
	PassthroughDetect PassthroughMode = "detect"
	// PassthroughOpaque reads nothing beyond the model the request was routed by.
	PassthroughOpaque PassthroughMode = "opaque"
)

// Passthrough forwards this model's requests unchanged (see [PassthroughMode]; any mode other
// than PassthroughDetect reads nothing, as PassthroughOpaque).
func Passthrough(mode PassthroughMode) ModelOption {
	return func(m *ModelEntry) { m.passthrough = mode }
}

// native reports whether a client format is the provider's own wire (the only traffic passthrough
// may forward), and whether the Gemini answer of a Gemini client is an SSE stream.
func native(p Provider, f Format, model string) bool {
	if p.Wire() != "" && p.Wire() == f.Name() {
		return true
	}
	if f.Name() == "openai-responses" { // OpenAI and Azure serve /responses (stateful features need passthrough)
		_, ok := p.(openAIEmbedPather)
		return ok && p.Wire() == "openai"
	}
	if f.Name() != "gemini" {
		return false
	}
	switch p.(type) {
	case GeminiAPI:
		return true
	case *VertexAI:
		return !isClaude(model)
	}
	return false
}

// sameGemini reports whether a Gemini client's call goes to a Gemini provider as it is: the body
// unchanged (so fields the internal form does not carry, like safetySettings, reach the provider),
// the model in the path replaced, usage still read.
func (c *call) sameGemini(cand candidate) bool {
	_, ok := c.format().(GeminiNative)
	return ok && len(cand.entry.defaults) == 0 && len(cand.entry.overrides) == 0 && native(cand.entry.upstream.provider, c.format(), cand.model)
}

// passthrough forwards one candidate's call unchanged, reading model and usage when detect is set;
// results as attempt's.
func (c *call) passthrough(cand candidate, final, detect bool) (*Error, bool) {
	up := cand.entry.upstream
	p := up.provider
	f := c.format()
	op := c.in.ep.op
	c.st.LLM.Provider = p.Name()
	if !native(p, f, cand.model) {
		return &Error{Status: 400, Kind: ErrInvalidRequest, Param: "model", Err: ErrUnsupported,
			Message: fmt.Sprintf("model %q is passed through to %s unchanged: send it in that provider's format", c.in.peek.Model, p.Name())}, false
	}
	var target string
	switch {
	case op == OpEmbeddings:
		ep, ok := p.(openAIEmbedPather)
		if !ok {
			return &Error{Status: 400, Kind: ErrInvalidRequest, Message: fmt.Sprintf("provider %s has no embeddings API", p.Name()), Err: ErrUnsupported}, false
		}
		target = up.scheme + "://" + up.hostport + up.basePath + ep.embedPath(cand.model)
	case f.Name() == "openai-responses":
		path := "/responses"
		if az, ok := p.(AzureOpenAIChat); ok {
			path = az.pathWith("/responses", cand.model)
		}
		target = up.scheme + "://" + up.hostport + up.basePath + path
	case op == OpCountTokens && f.Name() == "gemini":
		target = up.scheme + "://" + up.hostport + up.basePath + strings.Replace(up.provider.(modelPather).PathFor(OpChat, cand.model, false), ":generateContent", ":countTokens", 1)
	case op == OpCountTokens && p.Path(OpCountTokens) == "":
		return &Error{Status: 404, Kind: ErrNotFound, Message: fmt.Sprintf("provider %s has no token counting API", p.Name()), Err: ErrUnsupported}, false
	default:
		target = up.urlFor(op, cand.model, c.in.peek.Stream)
		if g, ok := f.(GeminiNative); ok && g.Stream && !g.SSE {
			target = strings.TrimSuffix(target, "?alt=sse") // the client wants the JSON array form
		}
	}
	ctx, cancel := context.WithCancel(c.req.Context())
	defer cancel()
	ureq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(c.in.body))
	if err != nil {
		return &Error{Status: 502, Kind: ErrAPI, Message: "bad upstream URL", Err: err}, false
	}
	// The client's own protocol headers go along (API versions, betas); credentials do not unless
	// the upstream passes the client's key.
	for _, h := range []string{"anthropic-version", "anthropic-beta", "OpenAI-Beta", "Accept"} {
		if v := c.req.Header.Values(h); len(v) > 0 {
			ureq.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	key := up.key
	if up.passKey {
		key = clientKey(c.req.Header)
		if key == "" {
			key = c.req.Header.Get("x-goog-api-key")
		}
	}
	p.SetHeaders(ureq.Header, key)
	setProviderHeaders(ureq.Header, up, cand.entry)
	if err := up.sign(ureq, c.in.body); err != nil {
		return &Error{Status: 502, Kind: ErrAPI, Message: "signing the provider request failed", Err: fmt.Errorf("%w: %w", ErrUpstream, err)}, false
	}
	resp, e, retry := c.send(ureq, up, cand, cancel)
	if e != nil {
		return e, retry
	}
	defer resp.Body.Close()
	if retryable(resp.StatusCode) {
		cand.entry.health.fail(retryAfter(resp.Header))
		if !final {
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			e := p.DecodeError(resp.StatusCode, raw)
			e.Err = fmt.Errorf("%w: provider answered %d", ErrUpstream, resp.StatusCode)
			return e, true
		}
	} else if resp.StatusCode < 400 {
		cand.entry.health.ok()
		c.st.LLM.ResponseModel = cand.model
	}
	c.writeHead(resp)
	detect = detect && resp.StatusCode < 400
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") && !strings.HasPrefix(ct, "application/vnd.amazon.eventstream") && !(c.in.peek.Stream && f.Name() == "gemini") {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
		_, _ = c.w.Write(raw)
		if detect {
			switch {
			case op == OpEmbeddings:
				var u struct {
					Model string `json:"model"`
					Usage struct {
						PromptTokens int64 `json:"prompt_tokens"`
					} `json:"usage"`
				}
				_ = json.Unmarshal(raw, &u)
				c.account(u.Model, Usage{InputTokens: u.Usage.PromptTokens})
			case op == OpCountTokens:
				var n struct {
					InputTokens int64 `json:"input_tokens"`
					TotalTokens int64 `json:"totalTokens"`
				}
				_ = json.Unmarshal(raw, &n)
				c.st.LLM.InputTokens = max(n.InputTokens, n.TotalTokens)
			case f.Name() == "openai-responses":
				var r rsUsageBody
				_ = json.Unmarshal(raw, &r)
				c.account(r.Model, r.usage())
			default:
				model, u := p.Usage(raw)
				c.account(model, u)
			}
		}
		return nil, false
	}
	// A stream: bytes go to the client as they arrive; detect reads a copy of them on the way.
	fw := &flushWriter{w: c.w, rc: http.NewResponseController(c.w)}
	if !detect {
		_, _ = io.Copy(fw, resp.Body)
		return nil, false
	}
	c.detectStream(io.TeeReader(resp.Body, fw), f.Name())
	return nil, false
}

// flushWriter writes to the client and flushes at once (the stream's own pacing is kept).
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err == nil {
		_ = f.rc.Flush()
	}
	return n, err
}

// detectStream reads a forwarded stream for the model, usage and first token. wire is the client's
// (and provider's) format.
func (c *call) detectStream(r io.Reader, wire string) {
	var u Usage
	model := ""
	if wire == "gemini" && !c.format().(GeminiNative).SSE {
		// Gemini's JSON array: the last usageMetadata is the whole answer's.
		raw, _ := io.ReadAll(io.LimitReader(r, maxResponseBody))
		var chunks []gmResponse
		if json.Unmarshal(raw, &chunks) == nil {
			for _, ch := range chunks {
				if ch.ModelVersion != "" {
					model = ch.ModelVersion
				}
				if ch.UsageMetadata != nil {
					u = ch.UsageMetadata.usage()
				}
			}
		}
		c.firstToken()
		_, _ = io.Copy(io.Discard, r)
		c.account(model, u)
		return
	}
	sse := newSSEReader(r, false)
	for {
		name, data, err := sse.Next()
		if err != nil {
			break
		}
		switch wire {
		case "openai":
			if bytes.Contains(data, []byte(`"usage":{`)) {
				var ch oaChunk
				if json.Unmarshal(data, &ch) == nil && ch.Usage != nil {
					u.merge(ch.Usage.usage())
				}
			}
			if model == "" && bytes.HasPrefix(data, []byte("{")) {
				var ch struct {
					Model string `json:"model"`
				}
				_ = json.Unmarshal(data, &ch)
				model = ch.Model
			}
			if bytes.Contains(data, []byte(`"content":"`)) || bytes.Contains(data, []byte(`"arguments":"`)) {
				c.firstToken()
			}
		case "anthropic":
			switch string(name) {
			case "message_start", "message_delta":
				var ev struct {
					Message *struct {
						Model string   `json:"model"`
						Usage *anUsage `json:"usage"`
					} `json:"message"`
					Usage *anUsage `json:"usage"`
				}
				if json.Unmarshal(data, &ev) == nil {
					if ev.Message != nil {
						model = ev.Message.Model
						u.merge(ev.Message.Usage.usage())
					}
					u.merge(ev.Usage.usage())
				}
			case "content_block_delta":
				c.firstToken()
			}
		case "openai-responses":
			switch string(name) {
			case "response.output_text.delta", "response.function_call_arguments.delta":
				c.firstToken()
			case "response.completed", "response.incomplete", "response.failed":
				var ev struct {
					Response rsUsageBody `json:"response"`
				}
				if json.Unmarshal(data, &ev) == nil {
					model = ev.Response.Model
					u = ev.Response.usage()
				}
			}
		case "gemini":
			var ch gmResponse
			if json.Unmarshal(data, &ch) == nil {
				if ch.ModelVersion != "" {
					model = ch.ModelVersion
				}
				if ch.UsageMetadata != nil {
					u = ch.UsageMetadata.usage()
				}
				if len(ch.Candidates) > 0 {
					c.firstToken()
				}
			}
		}
	}
	_, _ = io.Copy(io.Discard, r) // the rest still reaches the client through the tee
	c.account(model, u)
}

// rsUsageBody is the model and usage of a Responses API answer.
type rsUsageBody struct {
	Model string `json:"model"`
	Usage *struct {
		InputTokens        int64 `json:"input_tokens"`
		OutputTokens       int64 `json:"output_tokens"`
		InputTokensDetails struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"input_tokens_details"`
		OutputTokensDetails struct {
			ReasoningTokens int64 `json:"reasoning_tokens"`
		} `json:"output_tokens_details"`
	} `json:"usage"`
}

// usage normalises: the Responses API counts as Usage does (cached within input, reasoning within
// output).
func (b rsUsageBody) usage() Usage {
	u := b.Usage
	if u == nil {
		return Usage{}
	}
	return Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CachedInputTokens: u.InputTokensDetails.CachedTokens, ReasoningTokens: u.OutputTokensDetails.ReasoningTokens}
}

// writeHead answers the client with the provider's status and headers, without the framing and
// hop-by-hop ones (the caller writes the body).
func (c *call) writeHead(resp *http.Response) {
	c.st.Status = resp.StatusCode
	h := c.w.Header()
	for k, v := range resp.Header {
		switch k {
		case "Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive":
			continue
		}
		h[k] = v
	}
	c.w.WriteHeader(resp.StatusCode)
}
