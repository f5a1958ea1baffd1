package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// GeminiNative is the Google Gemini API as a client [Format]: POST .../models/{model}:generateContent,
// :streamGenerateContent (server-sent events with ?alt=sse, else one JSON array written element by
// element) and :countTokens, so a Gemini client reaches any provider. Unlike the other formats the
// model and the stream flag are in the path, not the body: the router sets the fields from the
// request URL (see classifyGemini).
type GeminiNative struct {
	// Model is the {model} of the path ("models/" prefix removed).
	Model string
	// Stream is true for :streamGenerateContent.
	Stream bool
	// SSE is true when the client asked for server-sent events (alt=sse); a stream without it is a
	// JSON array.
	SSE bool
}

var _ Format = GeminiNative{}

// Name implements [Format].
func (GeminiNative) Name() string { return "gemini" }

// classifyGemini recognises a Gemini method path: .../models/{model}:{method} (also the Vertex
// publishers/google/models/ form). The model may itself hold slashes only when escaped.
func classifyGemini(r *http.Request, p string) (endpoint, bool) {
	i := strings.LastIndex(p, "/models/")
	if i < 0 {
		return endpoint{}, false
	}
	rest := p[i+len("/models/"):]
	j := strings.LastIndexByte(rest, ':')
	if j <= 0 || strings.IndexByte(rest[:j], '/') >= 0 {
		return endpoint{}, false
	}
	model, method := rest[:j], rest[j+1:]
	g := GeminiNative{Model: model}
	switch method {
	case "generateContent":
		return endpoint{OpChat, g}, true
	case "streamGenerateContent":
		g.Stream = true
		g.SSE = r.URL.Query().Get("alt") == "sse"
		return endpoint{OpChat, g}, true
	case "countTokens":
		return endpoint{OpCountTokens, g}, true
	}
	return endpoint{}, false
}

// isGeminiClient tells a Gemini client's GET .../models (v1beta paths, or its key header).
func isGeminiClient(r *http.Request, p string) bool {
	return strings.Contains(p, "/v1beta/") || r.Header.Get("x-goog-api-key") != "" || r.URL.Query().Has("key")
}

// Peek implements [Format]: the body must be a JSON object; model and stream come from the path.
func (g GeminiNative) Peek(body []byte) (Peek, error) {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(body) {
		return Peek{}, &Error{Status: 400, Kind: ErrInvalidRequest, Message: "Invalid JSON payload received: the body must be a JSON object.", Err: ErrMalformedRequest}
	}
	if g.Model == "" {
		return Peek{}, &Error{Status: 400, Kind: ErrInvalidRequest, Message: "the path names no model", Param: "model", Err: ErrMalformedRequest}
	}
	return Peek{Model: g.Model, Stream: g.Stream}, nil
}

// gmInRequest is a client's GenerateContentRequest (and CountTokensRequest, which may wrap one).
type gmInRequest struct {
	Contents          []gmContent   `json:"contents"`
	SystemInstruction *gmContent    `json:"systemInstruction"`
	Tools             []gmInTool    `json:"tools"`
	ToolConfig        *gmToolConfig `json:"toolConfig"`
	GenerationConfig  *struct {
		MaxOutputTokens int      `json:"maxOutputTokens"`
		Temperature     *float64 `json:"temperature"`
		TopP            *float64 `json:"topP"`
		TopK            *float64 `json:"topK"`
		StopSequences   []string `json:"stopSequences"`
		CandidateCount  int      `json:"candidateCount"`
		ThinkingConfig  *struct {
			IncludeThoughts bool   `json:"includeThoughts"`
			ThinkingBudget  *int   `json:"thinkingBudget"`
			ThinkingLevel   string `json:"thinkingLevel"`
		} `json:"thinkingConfig"`
	} `json:"generationConfig"`
	GenerateContentRequest *gmInRequest `json:"generateContentRequest"`
}

type gmInTool struct {
	FunctionDeclarations []struct {
		Name                 string          `json:"name"`
		Description          string          `json:"description"`
		Parameters           json.RawMessage `json:"parameters"`
		ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
	} `json:"functionDeclarations"`
}

// DecodeRequest implements [Format].
func (g GeminiNative) DecodeRequest(body []byte) (*Request, error) {
	var in gmInRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, malformed(err)
	}
	if in.GenerateContentRequest != nil { // countTokens' wrapped form
		if len(in.Contents) > 0 {
			return nil, invalid("set contents or generateContentRequest, not both")
		}
		in = *in.GenerateContentRequest
	}
	req := &Request{Model: g.Model, Stream: g.Stream}
	if s := in.SystemInstruction; s != nil {
		for _, p := range s.Parts {
			if p.Text != "" {
				req.System = append(req.System, Part{Type: PartText, Text: p.Text})
			}
		}
	}
	if gc := in.GenerationConfig; gc != nil {
		if gc.CandidateCount > 1 {
			return nil, invalid("candidateCount > 1 is not supported by the gateway")
		}
		req.MaxTokens, req.Temperature, req.TopP, req.Stop = gc.MaxOutputTokens, gc.Temperature, gc.TopP, gc.StopSequences
		if gc.TopK != nil {
			k := int(*gc.TopK)
			req.TopK = &k
		}
		if tc := gc.ThinkingConfig; tc != nil && (tc.IncludeThoughts || tc.ThinkingLevel != "" || (tc.ThinkingBudget != nil && *tc.ThinkingBudget != 0)) {
			t := &Thinking{Effort: strings.ToLower(tc.ThinkingLevel)}
			if tc.ThinkingBudget != nil && *tc.ThinkingBudget > 0 {
				t.BudgetTokens = *tc.ThinkingBudget
			}
			if t.BudgetTokens == 0 && t.Effort == "" {
				t.Effort = "medium" // -1 (dynamic) or just includeThoughts
			}
			req.Thinking = t
		}
	}
	for _, t := range in.Tools {
		for _, fd := range t.FunctionDeclarations {
			if fd.Name == "" {
				return nil, invalid("a function declaration needs a name")
			}
			params := fd.ParametersJSONSchema
			if len(params) == 0 && len(fd.Parameters) > 0 {
				params = openAPIToJSONSchema(fd.Parameters)
			}
			if len(params) == 0 || string(params) == "null" {
				params = json.RawMessage(`{"type":"object","properties":{}}`)
			}
			req.Tools = append(req.Tools, Tool{Name: fd.Name, Description: fd.Description, Parameters: params})
		}
	}
	if tc := in.ToolConfig; tc != nil {
		fc := tc.FunctionCallingConfig
		switch strings.ToUpper(fc.Mode) {
		case "NONE":
			req.ToolChoice = &ToolChoice{Mode: ToolChoiceNone}
		case "ANY", "VALIDATED":
			if len(fc.AllowedFunctionNames) == 1 {
				req.ToolChoice = &ToolChoice{Mode: ToolChoiceTool, Name: fc.AllowedFunctionNames[0]}
			} else {
				req.ToolChoice = &ToolChoice{Mode: ToolChoiceRequired}
			}
		case "AUTO", "":
			req.ToolChoice = &ToolChoice{Mode: ToolChoiceAuto}
		default:
			return nil, invalid("toolConfig.functionCallingConfig.mode %q is not supported", fc.Mode)
		}
	}
	// Gemini's calls usually carry no ID; results answer by function name. The internal form pairs
	// them by ID, so unnamed calls get one and each result takes the oldest open call of its name.
	open := map[string][]string{}
	calls := 0
	for i, c := range in.Contents {
		var content, results []Part
		for _, p := range c.Parts {
			switch {
			case p.FunctionCall != nil:
				if p.FunctionCall.Name == "" {
					return nil, invalid("contents[%d]: a functionCall needs a name", i)
				}
				calls++
				part := geminiCallPart(p, calls)
				open[part.ToolName] = append(open[part.ToolName], part.ToolCallID)
				content = append(content, part)
			case p.FunctionResponse != nil:
				fr := p.FunctionResponse
				id := fr.ID
				if q := open[fr.Name]; len(q) > 0 {
					if id == "" {
						id = q[0]
					}
					for k, v := range q {
						if v == id {
							open[fr.Name] = append(q[:k:k], q[k+1:]...)
							break
						}
					}
				}
				if id == "" {
					return nil, invalid("contents[%d]: functionResponse %q answers no earlier functionCall", i, fr.Name)
				}
				results = append(results, geminiResultPart(id, fr))
			case p.Thought:
				content = append(content, Part{Type: PartThinking, Text: p.Text, Signature: p.ThoughtSignature})
			case p.InlineData != nil:
				content = append(content, Part{Type: PartImage, MediaType: p.InlineData.MimeType, Data: p.InlineData.Data})
			case p.FileData != nil:
				content = append(content, Part{Type: PartImage, URL: p.FileData.FileURI, MediaType: p.FileData.MimeType})
			case p.Text != "":
				content = append(content, Part{Type: PartText, Text: p.Text})
			}
		}
		if len(results) > 0 {
			req.Messages = append(req.Messages, Message{Role: RoleTool, Parts: results})
		}
		if len(content) == 0 {
			continue
		}
		switch c.Role {
		case "model":
			req.Messages = append(req.Messages, Message{Role: RoleAssistant, Parts: content})
		case "user", "":
			req.Messages = append(req.Messages, Message{Role: RoleUser, Parts: content})
		default:
			return nil, invalid("contents[%d].role %q: want user or model", i, c.Role)
		}
	}
	if len(req.Messages) == 0 {
		return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Message: "* GenerateContentRequest.contents: contents is not specified", Param: "contents", Err: ErrMalformedRequest}
	}
	return req, nil
}

// geminiResultPart turns a functionResponse into a tool result: {"result": text} and {"output":
// text} unwrap to the text, {"error": ...} marks a failure, any other object is passed as JSON.
func geminiResultPart(id string, fr *gmFuncResponse) Part {
	p := Part{Type: PartToolResult, ToolCallID: id, ToolName: fr.Name}
	text := string(fr.Response)
	var m map[string]json.RawMessage
	if json.Unmarshal(fr.Response, &m) == nil && len(m) == 1 {
		for k, v := range m {
			var s string
			if k == "result" || k == "output" || k == "error" {
				if json.Unmarshal(v, &s) == nil {
					text = s
				}
				p.IsError = k == "error"
			}
		}
	}
	if text == "" || text == "null" {
		text = "{}"
	}
	p.Content = []Part{{Type: PartText, Text: text}}
	return p
}

// openAPIToJSONSchema converts Gemini's OpenAPI-style Schema ("type":"OBJECT", "nullable") into
// JSON Schema, which the other providers take: type names lower-cased, nullable folded into type.
func openAPIToJSONSchema(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case map[string]any:
			for k, v := range t {
				switch k {
				case "type":
					if s, ok := v.(string); ok {
						t[k] = strings.ToLower(s)
					}
				case "properties", "$defs", "definitions":
					if m, ok := v.(map[string]any); ok {
						for pk, pv := range m {
							m[pk] = walk(pv)
						}
					}
				case "items", "anyOf", "oneOf", "allOf", "additionalProperties", "not":
					t[k] = walk(v)
				}
			}
			if n, ok := t["nullable"].(bool); ok {
				delete(t, "nullable")
				if s, ok := t["type"].(string); ok && n {
					t["type"] = []any{s, "null"}
				}
			}
			return t
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		}
		return x
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		return raw
	}
	return b
}

// --- responses ---

type gmOutUsage struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	TotalTokenCount         int64 `json:"totalTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount,omitempty"`
}

func geminiUsageOut(u Usage) *gmOutUsage {
	return &gmOutUsage{PromptTokenCount: u.InputTokens, CandidatesTokenCount: max(u.OutputTokens-u.ReasoningTokens, 0),
		TotalTokenCount: u.InputTokens + u.OutputTokens, CachedContentTokenCount: u.CachedInputTokens, ThoughtsTokenCount: u.ReasoningTokens}
}

type gmOutCandidate struct {
	Content      gmContent `json:"content"`
	FinishReason string    `json:"finishReason,omitempty"`
	Index        int       `json:"index"`
}

type gmOutResponse struct {
	Candidates    []gmOutCandidate `json:"candidates"`
	UsageMetadata *gmOutUsage      `json:"usageMetadata,omitempty"`
	ModelVersion  string           `json:"modelVersion,omitempty"`
	ResponseID    string           `json:"responseId,omitempty"`
}

// geminiFinish is the finishReason of a stop reason.
func geminiFinish(r StopReason) string {
	switch r {
	case StopMaxTokens:
		return "MAX_TOKENS"
	case StopContentFilter:
		return "SAFETY"
	}
	return "STOP"
}

func geminiOutPart(p Part) (gmPart, bool) {
	switch p.Type {
	case PartText:
		return gmPart{Text: p.Text}, true
	case PartThinking:
		return gmPart{Text: p.Text, Thought: true, ThoughtSignature: p.Signature}, true
	case PartToolCall:
		args := p.Arguments
		if len(args) == 0 || !json.Valid(args) {
			args = json.RawMessage("{}")
		}
		return gmPart{FunctionCall: &gmFuncCall{ID: geminiCallID(p.ToolCallID), Name: p.ToolName, Args: args}, ThoughtSignature: p.Signature}, true
	}
	return gmPart{}, false
}

// EncodeResponse implements [Format].
func (GeminiNative) EncodeResponse(resp *Response) ([]byte, error) {
	c := gmOutCandidate{Content: gmContent{Role: "model", Parts: []gmPart{}}, FinishReason: geminiFinish(resp.StopReason)}
	for _, p := range resp.Parts {
		if gp, ok := geminiOutPart(p); ok {
			c.Content.Parts = append(c.Content.Parts, gp)
		}
	}
	return json.Marshal(gmOutResponse{Candidates: []gmOutCandidate{c}, UsageMetadata: geminiUsageOut(resp.Usage), ModelVersion: resp.Model, ResponseID: resp.ID})
}

// googleStatus is the google.rpc status name of an HTTP status.
func googleStatus(status int) string {
	switch status {
	case 400, 413:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 405:
		return "UNIMPLEMENTED"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 503, 529:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 400 && status < 500 {
		return "FAILED_PRECONDITION"
	}
	return "INTERNAL"
}

// ErrorBody implements [Format]: {"error":{"code","message","status"}}.
func (GeminiNative) ErrorBody(e *Error) []byte {
	status := e.Status
	if status < 400 || status > 599 {
		status = kindStatus(e.Kind)
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": status, "message": e.Message, "status": googleStatus(status)}})
	return b
}

// streamError implements the router's streamErrorer.
func (g GeminiNative) streamError(e *Error) []byte {
	if g.SSE {
		return appendSSE(nil, "", g.ErrorBody(e))
	}
	return append(g.ErrorBody(e), ']')
}

// streamContentType is the Content-Type of this client's stream (see streamHeaders).
func (g GeminiNative) streamContentType() string {
	if g.SSE {
		return "text/event-stream"
	}
	return "application/json"
}

// countBody is the answer of :countTokens.
func (GeminiNative) countBody(n int64) []byte {
	return []byte(`{"totalTokens":` + strconv.FormatInt(n, 10) + `}`)
}

// NewStreamEncoder implements [Format]. Gemini sends every chunk as a whole GenerateContentResponse
// holding the new parts; function calls come whole, so their argument deltas are gathered until
// the call's block ends.
func (g GeminiNative) NewStreamEncoder(*Request) StreamEncoder {
	return &gmStreamEncoder{sse: g.SSE, calls: map[int]*gmPendingCall{}}
}

type gmPendingCall struct {
	id, name, sig string
	args          []byte
}

type gmStreamEncoder struct {
	sse        bool
	n          int // elements written (array form)
	model, id  string
	tail       []byte // the end of a text chunk: modelVersion and responseId, encoded once
	calls      map[int]*gmPendingCall
	finish     StopReason
	usage      Usage
	done       bool
	scratchOut gmOutResponse
}

func (s *gmStreamEncoder) frame(dst []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b = GeminiNative{}.ErrorBody(&Error{Status: 500, Kind: ErrAPI, Message: "encoding a stream chunk failed"})
	}
	if s.sse {
		return appendSSE(dst, "", b)
	}
	if s.n == 0 {
		dst = append(dst, '[')
	} else {
		dst = append(dst, ",\r\n"...)
	}
	s.n++
	return append(dst, b...)
}

func (s *gmStreamEncoder) chunk(dst []byte, parts []gmPart, finish string, usage *gmOutUsage) []byte {
	out := &s.scratchOut
	*out = gmOutResponse{Candidates: []gmOutCandidate{{Content: gmContent{Role: "model", Parts: parts}, FinishReason: finish}},
		UsageMetadata: usage, ModelVersion: s.model, ResponseID: s.id}
	return s.frame(dst, out)
}

// textChunk is chunk for one text part, written without reflection: text deltas are most of a
// stream.
func (s *gmStreamEncoder) textChunk(dst []byte, text string) []byte {
	if s.tail == nil {
		s.tail = append(s.tail, `]},"index":0}]`...)
		if s.model != "" {
			s.tail = append(s.tail, `,"modelVersion":`...)
			s.tail = appendJSONString(s.tail, s.model)
		}
		if s.id != "" {
			s.tail = append(s.tail, `,"responseId":`...)
			s.tail = appendJSONString(s.tail, s.id)
		}
		s.tail = append(s.tail, '}')
	}
	switch {
	case s.sse:
		dst = append(dst, "data: "...)
	case s.n == 0:
		dst = append(dst, '[')
	default:
		dst = append(dst, ",\r\n"...)
	}
	s.n++
	dst = append(dst, `{"candidates":[{"content":{"role":"model","parts":[{"text":`...)
	dst = appendJSONString(dst, text)
	dst = append(dst, '}')
	dst = append(dst, s.tail...)
	if s.sse {
		dst = append(dst, '\n', '\n')
	}
	return dst
}

// Encode implements [StreamEncoder].
func (s *gmStreamEncoder) Encode(dst []byte, ev *Event) []byte {
	if s.done {
		return dst
	}
	switch ev.Type {
	case EventStart:
		s.model, s.id = ev.Model, ev.ID
		s.usage.merge(ev.Usage)
		s.tail = nil
	case EventBlockStart:
		if ev.PartType == PartToolCall {
			s.calls[ev.Index] = &gmPendingCall{id: ev.ToolCallID, name: ev.ToolName}
		}
	case EventDelta:
		switch {
		case ev.PartType == PartToolCall || s.calls[ev.Index] != nil:
			if c := s.calls[ev.Index]; c != nil {
				c.args = append(c.args, ev.Arguments...)
				if ev.Signature != "" {
					c.sig = ev.Signature
				}
			}
		case ev.PartType == PartThinking:
			if ev.Text != "" || ev.Signature != "" {
				dst = s.chunk(dst, []gmPart{{Text: ev.Text, Thought: true, ThoughtSignature: ev.Signature}}, "", nil)
			}
		case ev.Text != "":
			dst = s.textChunk(dst, ev.Text)
		}
	case EventBlockStop:
		if c := s.calls[ev.Index]; c != nil {
			delete(s.calls, ev.Index)
			p, _ := geminiOutPart(Part{Type: PartToolCall, ToolCallID: c.id, ToolName: c.name, Arguments: c.args, Signature: c.sig})
			dst = s.chunk(dst, []gmPart{p}, "", nil)
		}
	case EventFinish:
		s.finish = ev.StopReason
	case EventUsage:
		s.usage.merge(ev.Usage)
	case EventEnd:
		s.done = true
		dst = s.chunk(dst, []gmPart{}, geminiFinish(s.finish), geminiUsageOut(s.usage))
		if !s.sse {
			dst = append(dst, ']')
		}
	case EventError:
		s.done = true
		e := ev.Err
		if e == nil {
			e = &Error{Status: 502, Kind: ErrAPI, Message: "the provider's stream failed"}
		}
		if s.sse {
			return appendSSE(dst, "", GeminiNative{}.ErrorBody(e))
		}
		if s.n == 0 {
			dst = append(dst, '[')
		} else {
			dst = append(dst, ",\r\n"...)
		}
		dst = append(dst, GeminiNative{}.ErrorBody(e)...)
		dst = append(dst, ']')
	}
	return dst
}

// --- router hooks (see router.go) ---

// streamContentTyped is a Format whose streams are not plain server-sent events (Gemini's JSON
// array form).
type streamContentTyped interface{ streamContentType() string }

// streamHeaders starts a streamed answer to the client in its format's framing.
func streamHeaders(w http.ResponseWriter, f Format) {
	if s, ok := f.(streamContentTyped); ok && s.streamContentType() != "text/event-stream" {
		h := w.Header()
		h.Set("Content-Type", s.streamContentType())
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		return
	}
	sseHeaders(w)
}

// countAnswerer is a Format whose count-tokens answer is not Anthropic's {"input_tokens": n}.
type countAnswerer interface{ countBody(n int64) []byte }

// writeCount answers a count-tokens request with n in the client's format.
func writeCount(w http.ResponseWriter, f Format, n int64) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if ca, ok := f.(countAnswerer); ok {
		_, _ = w.Write(ca.countBody(n))
		return
	}
	fmt.Fprintf(w, `{"input_tokens":%d}`, n)
}

// countTokensBody trims a translated Messages body to what Anthropic's count_tokens accepts (it
// rejects max_tokens, stream and the sampling fields).
func countTokensBody(body []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	for k := range m {
		switch k {
		case "model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers":
		default:
			delete(m, k)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return b
}

// answerCount reads a provider's count-tokens answer ({"input_tokens": n}) and answers it in the
// client's format.
func (c *call) answerCount(resp *http.Response, raw []byte) {
	var in struct {
		InputTokens int64 `json:"input_tokens"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		writeError(c.w, c.format(), &Error{Status: 502, Kind: ErrAPI, Message: "the provider's token count could not be read", Err: fmt.Errorf("%w: %w", ErrUpstream, err)})
		return
	}
	c.st.LLM.InputTokens = in.InputTokens
	writeCount(c.w, c.format(), in.InputTokens)
	_ = resp
}

// geminiModelList is GET v1beta/models in Gemini's form.
func geminiModelList(ids []string) []byte {
	models := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		models = append(models, map[string]any{"name": "models/" + id, "baseModelId": id, "displayName": id,
			"supportedGenerationMethods": []string{"generateContent", "countTokens"}})
	}
	b, _ := json.Marshal(map[string]any{"models": models})
	return b
}
