package llm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// GeminiAPI is the Google Gemini API (generativelanguage.googleapis.com, v1beta) as a [Provider]:
// models/{model}:generateContent, and :streamGenerateContent?alt=sse for streams. It has no
// same-wire client format, so requests are always translated.
type GeminiAPI struct {
	// ProviderName overrides gen_ai.provider.name (default "gcp.gemini").
	ProviderName string
}

var _ Provider = GeminiAPI{}

// Gemini is the Google Gemini API at https://generativelanguage.googleapis.com/v1beta. Its key comes
// from [APIKey], else the environment variable GEMINI_API_KEY, and is sent as x-goog-api-key.
func Gemini(opts ...UpstreamOption) *Upstream {
	return newUpstream(GeminiAPI{}, "gcp.gemini", "GEMINI_API_KEY", opts)
}

// Name implements [Provider].
func (g GeminiAPI) Name() string {
	if g.ProviderName != "" {
		return g.ProviderName
	}
	return "gcp.gemini"
}

// Wire implements [Provider]: none (no client format forwards Gemini bytes unchanged).
func (GeminiAPI) Wire() string { return "" }

// DefaultBase implements [Provider].
func (GeminiAPI) DefaultBase() string { return "https://generativelanguage.googleapis.com/v1beta" }

// Path implements [Provider]; the real path names the model (PathFor).
func (GeminiAPI) Path(op Operation) string {
	if op == OpChat {
		return "/models"
	}
	return ""
}

// PathFor is the path of op for model: models/{model}:generateContent or, streamed,
// :streamGenerateContent?alt=sse (server-sent events rather than a JSON array).
func (GeminiAPI) PathFor(op Operation, model string, stream bool) string {
	return geminiModelPath("/models/", model, stream)
}

func geminiModelPath(prefix, model string, stream bool) string {
	model = strings.TrimPrefix(model, "models/")
	if stream {
		return prefix + url.PathEscape(model) + ":streamGenerateContent?alt=sse"
	}
	return prefix + url.PathEscape(model) + ":generateContent"
}

// SetHeaders implements [Provider]: the key as x-goog-api-key.
func (GeminiAPI) SetHeaders(h http.Header, key string) {
	h.Set("Content-Type", "application/json")
	if key != "" {
		h.Set("x-goog-api-key", key)
	}
}

// --- wire types ---

type gmRequest struct {
	Contents          []gmContent   `json:"contents"`
	SystemInstruction *gmContent    `json:"systemInstruction,omitempty"`
	Tools             []gmTool      `json:"tools,omitempty"`
	ToolConfig        *gmToolConfig `json:"toolConfig,omitempty"`
	GenerationConfig  *gmGenConfig  `json:"generationConfig,omitempty"`
}

type gmContent struct {
	Role  string   `json:"role,omitempty"`
	Parts []gmPart `json:"parts"`
}

type gmPart struct {
	Text             string          `json:"text,omitempty"`
	Thought          bool            `json:"thought,omitempty"`
	ThoughtSignature string          `json:"thoughtSignature,omitempty"`
	InlineData       *gmBlob         `json:"inlineData,omitempty"`
	FileData         *gmFile         `json:"fileData,omitempty"`
	FunctionCall     *gmFuncCall     `json:"functionCall,omitempty"`
	FunctionResponse *gmFuncResponse `json:"functionResponse,omitempty"`
}

type gmBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gmFile struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type gmFuncCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type gmFuncResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type gmTool struct {
	FunctionDeclarations []gmFuncDecl `json:"functionDeclarations,omitempty"`
}

type gmFuncDecl struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type gmToolConfig struct {
	FunctionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	} `json:"functionCallingConfig"`
}

type gmGenConfig struct {
	MaxOutputTokens int               `json:"maxOutputTokens,omitempty"`
	Temperature     *float64          `json:"temperature,omitempty"`
	TopP            *float64          `json:"topP,omitempty"`
	TopK            *int              `json:"topK,omitempty"`
	StopSequences   []string          `json:"stopSequences,omitempty"`
	ThinkingConfig  *gmThinkingConfig `json:"thinkingConfig,omitempty"`
}

type gmThinkingConfig struct {
	IncludeThoughts bool `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int `json:"thinkingBudget,omitempty"`
}

type gmUsage struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount"`
	TotalTokenCount         int64 `json:"totalTokenCount"`
}

// usage normalises: promptTokenCount already includes the cached tokens; candidatesTokenCount
// excludes the thoughts, which OutputTokens includes.
func (u *gmUsage) usage() Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{
		InputTokens:       u.PromptTokenCount + u.ToolUsePromptTokenCount,
		OutputTokens:      u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedInputTokens: u.CachedContentTokenCount,
		ReasoningTokens:   u.ThoughtsTokenCount,
	}
}

type gmResponse struct {
	Candidates []struct {
		Content      *gmContent `json:"content"`
		FinishReason string     `json:"finishReason"`
		Index        int        `json:"index"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata *gmUsage `json:"usageMetadata"`
	ModelVersion  string   `json:"modelVersion"`
	ResponseID    string   `json:"responseId"`
}

// --- Provider ---

// EncodeRequest implements [Provider]. The model is not in the body: it is in the path.
func (GeminiAPI) EncodeRequest(req *Request) ([]byte, error) {
	out, err := geminiRequest(req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func geminiRequest(req *Request) (*gmRequest, error) {
	out := &gmRequest{Contents: []gmContent{}}
	if len(req.System) > 0 {
		sys := &gmContent{}
		for _, p := range req.System {
			sys.Parts = append(sys.Parts, gmPart{Text: p.Text})
		}
		out.SystemInstruction = sys
	}
	gc := &gmGenConfig{MaxOutputTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP, TopK: req.TopK, StopSequences: req.Stop}
	if t := req.Thinking; t != nil {
		budget := t.BudgetTokens
		if budget == 0 {
			budget = budgetForEffort(t.Effort)
		}
		gc.ThinkingConfig = &gmThinkingConfig{IncludeThoughts: true}
		if budget > 0 {
			gc.ThinkingConfig.ThinkingBudget = &budget
		}
	}
	if gc.MaxOutputTokens != 0 || gc.Temperature != nil || gc.TopP != nil || gc.TopK != nil || len(gc.StopSequences) > 0 || gc.ThinkingConfig != nil {
		out.GenerationConfig = gc
	}
	if len(req.Tools) > 0 {
		var t gmTool
		for _, tool := range req.Tools {
			t.FunctionDeclarations = append(t.FunctionDeclarations, gmFuncDecl{Name: tool.Name, Description: tool.Description, Parameters: tool.Parameters})
		}
		out.Tools = []gmTool{t}
	}
	if tc := req.ToolChoice; tc != nil {
		c := &gmToolConfig{}
		switch tc.Mode {
		case ToolChoiceNone:
			c.FunctionCallingConfig.Mode = "NONE"
		case ToolChoiceRequired:
			c.FunctionCallingConfig.Mode = "ANY"
		case ToolChoiceTool:
			c.FunctionCallingConfig.Mode = "ANY"
			c.FunctionCallingConfig.AllowedFunctionNames = []string{tc.Name}
		default:
			c.FunctionCallingConfig.Mode = "AUTO"
		}
		out.ToolConfig = c
	}
	// Gemini answers a call by the function's name; results name only the call's ID.
	names := map[string]string{}
	for _, m := range req.Messages {
		for _, p := range m.Parts {
			if p.Type == PartToolCall {
				names[p.ToolCallID] = p.ToolName
			}
		}
	}
	for _, m := range req.Messages {
		role := "user"
		if m.Role == RoleAssistant {
			role = "model"
		}
		c := gmContent{Role: role}
		for _, p := range m.Parts {
			gp, ok, err := geminiPart(p, names)
			if err != nil {
				return nil, err
			}
			if ok {
				c.Parts = append(c.Parts, gp)
			}
		}
		if len(c.Parts) == 0 {
			continue
		}
		// Consecutive turns of one role (a tool message then a user message) merge: Gemini wants
		// them alternating.
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, c.Parts...)
			continue
		}
		out.Contents = append(out.Contents, c)
	}
	return out, nil
}

func geminiPart(p Part, names map[string]string) (gmPart, bool, error) {
	switch p.Type {
	case PartText:
		return gmPart{Text: p.Text}, p.Text != "", nil
	case PartThinking:
		// A thought goes back only with its signature (Gemini validates it); bare text is dropped.
		if p.Signature == "" {
			return gmPart{}, false, nil
		}
		return gmPart{Text: p.Text, Thought: true, ThoughtSignature: p.Signature}, true, nil
	case PartRedactedThinking:
		return gmPart{}, false, nil
	case PartImage:
		if p.Data != "" {
			return gmPart{InlineData: &gmBlob{MimeType: p.MediaType, Data: p.Data}}, true, nil
		}
		return gmPart{FileData: &gmFile{MimeType: mimeFromURL(p.URL), FileURI: p.URL}}, true, nil
	case PartToolCall:
		args := p.Arguments
		if len(args) == 0 {
			args = json.RawMessage("{}")
		}
		return gmPart{FunctionCall: &gmFuncCall{ID: geminiCallID(p.ToolCallID), Name: p.ToolName, Args: args}, ThoughtSignature: p.Signature}, true, nil
	case PartToolResult:
		name := names[p.ToolCallID]
		if name == "" {
			name = p.ToolName
		}
		if name == "" {
			return gmPart{}, false, invalid("tool result %q answers no earlier tool call (Gemini needs the function name)", p.ToolCallID)
		}
		return gmPart{FunctionResponse: &gmFuncResponse{ID: geminiCallID(p.ToolCallID), Name: name, Response: geminiToolResponse(p)}}, true, nil
	}
	return gmPart{}, false, &Error{Status: 400, Kind: ErrInvalidRequest, Message: fmt.Sprintf("content of type %s cannot be sent to Gemini", p.Type), Err: ErrUnsupported}
}

// geminiCallID drops the IDs the gateway made up for Gemini's ID-less calls.
func geminiCallID(id string) string {
	if strings.HasPrefix(id, "gmcall_") {
		return ""
	}
	return id
}

// geminiToolResponse is a tool result as Gemini's response object: a JSON object result as it is,
// anything else under "result" (or "error" for a failure).
func geminiToolResponse(p Part) json.RawMessage {
	var text strings.Builder
	for _, c := range p.Content {
		if c.Type == PartText {
			text.WriteString(c.Text)
		}
	}
	s := strings.TrimSpace(text.String())
	if !p.IsError && strings.HasPrefix(s, "{") && json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	key := "result"
	if p.IsError {
		key = "error"
	}
	b, _ := json.Marshal(map[string]string{key: text.String()})
	return b
}

func mimeFromURL(u string) string {
	switch {
	case strings.HasSuffix(u, ".png"):
		return "image/png"
	case strings.HasSuffix(u, ".gif"):
		return "image/gif"
	case strings.HasSuffix(u, ".webp"):
		return "image/webp"
	}
	return "image/jpeg"
}

func geminiStop(reason string, toolCall bool) StopReason {
	switch reason {
	case "MAX_TOKENS":
		return StopMaxTokens
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return StopContentFilter
	}
	if toolCall {
		return StopToolUse
	}
	return StopEndTurn
}

// DecodeResponse implements [Provider].
func (GeminiAPI) DecodeResponse(body []byte) (*Response, error) {
	var in gmResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("llm: gemini response: %w", err)
	}
	resp := &Response{ID: in.ResponseID, Model: in.ModelVersion, Usage: in.UsageMetadata.usage(), StopReason: StopEndTurn}
	if len(in.Candidates) == 0 {
		if in.PromptFeedback != nil && in.PromptFeedback.BlockReason != "" {
			resp.StopReason = StopContentFilter
		}
		return resp, nil
	}
	c := in.Candidates[0]
	calls := 0
	if c.Content != nil {
		for _, p := range c.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				calls++
				resp.Parts = append(resp.Parts, geminiCallPart(p, calls))
			case p.Thought:
				resp.Parts = append(resp.Parts, Part{Type: PartThinking, Text: p.Text, Signature: p.ThoughtSignature})
			case p.Text != "":
				resp.Parts = append(resp.Parts, Part{Type: PartText, Text: p.Text})
			}
		}
	}
	resp.StopReason = geminiStop(c.FinishReason, calls > 0)
	return resp, nil
}

func geminiCallPart(p gmPart, n int) Part {
	id := p.FunctionCall.ID
	if id == "" {
		id = "gmcall_" + strconv.Itoa(n) + "_" + p.FunctionCall.Name
	}
	args := p.FunctionCall.Args
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	return Part{Type: PartToolCall, ToolCallID: id, ToolName: p.FunctionCall.Name, Arguments: args, Signature: p.ThoughtSignature}
}

// Usage implements [Provider].
func (GeminiAPI) Usage(body []byte) (string, Usage) {
	var in struct {
		ModelVersion  string   `json:"modelVersion"`
		UsageMetadata *gmUsage `json:"usageMetadata"`
	}
	_ = json.Unmarshal(body, &in)
	return in.ModelVersion, in.UsageMetadata.usage()
}

// DecodeError implements [Provider]: {"error":{"code","message","status"}}.
func (GeminiAPI) DecodeError(status int, body []byte) *Error {
	return decodeGoogleError(status, body)
}

func decodeGoogleError(status int, body []byte) *Error {
	e := &Error{Status: status, Kind: statusKind(status)}
	var in struct {
		Error *struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	// Vertex sometimes wraps the error in a one-element array.
	b := body
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "[") {
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) == nil && len(arr) > 0 {
			b = arr[0]
		}
	}
	if json.Unmarshal(b, &in) == nil && in.Error != nil {
		e.Message, e.Code = in.Error.Message, in.Error.Status
	}
	if e.Message == "" {
		e.Message = upstreamText(status, body)
	}
	return e
}

// NewStreamDecoder implements [Provider]: server-sent events whose data are whole
// GenerateContentResponse objects, each adding text or complete function calls.
func (GeminiAPI) NewStreamDecoder(r io.Reader) StreamDecoder {
	return &gmStreamDecoder{sse: newSSEReader(r, false), text: -1, think: -1}
}

type gmStreamDecoder struct {
	sse      *sseReader
	queue    []Event
	head     int // next event of queue to return
	started  bool
	ended    bool
	next     int
	text     int // open text block, -1 none
	think    int // open thinking block, -1 none
	calls    int
	finish   string
	finished bool
	scratch  gmScratch
}

func (d *gmStreamDecoder) buffered() int { return d.sse.r.Buffered() + len(d.queue) - d.head }

// Next implements [StreamDecoder].
func (d *gmStreamDecoder) Next() (Event, error) {
	for d.head == len(d.queue) {
		if d.ended {
			return Event{}, io.EOF
		}
		if err := d.read(); err != nil {
			return Event{}, err
		}
	}
	ev := d.queue[d.head]
	if d.head++; d.head == len(d.queue) {
		d.queue, d.head = d.queue[:0], 0 // drained: the next chunk's events reuse the array
	}
	return ev, nil
}

func (d *gmStreamDecoder) push(ev Event) { d.queue = append(d.queue, ev) }

func (d *gmStreamDecoder) fail(msg string, err error) {
	d.push(Event{Type: EventError, Err: &Error{Status: 502, Kind: ErrAPI, Message: msg, Err: err}})
	d.ended = true
}

func (d *gmStreamDecoder) closeOpen() {
	if d.text >= 0 {
		d.push(Event{Type: EventBlockStop, Index: d.text})
		d.text = -1
	}
	if d.think >= 0 {
		d.push(Event{Type: EventBlockStop, Index: d.think})
		d.think = -1
	}
}

func (d *gmStreamDecoder) read() error {
	_, data, err := d.sse.Next()
	if err == io.EOF {
		// Gemini has no end marker: the stream is complete when a finishReason came.
		if !d.finished {
			d.fail("the provider's stream ended early", io.ErrUnexpectedEOF)
			return nil
		}
		d.closeOpen()
		d.push(Event{Type: EventFinish, StopReason: geminiStop(d.finish, d.calls > 0)})
		d.push(Event{Type: EventEnd})
		d.ended = true
		return nil
	}
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	c, ok := scanGeminiChunk(data, &d.scratch)
	if !ok {
		if c = d.decodeChunk(data); c == nil {
			return nil
		}
	}
	if !d.started {
		d.started = true
		d.push(Event{Type: EventStart, ID: c.ResponseID, Model: c.ModelVersion})
	}
	if len(c.Candidates) > 0 {
		cand := c.Candidates[0]
		if cand.Content != nil {
			for _, p := range cand.Content.Parts {
				d.part(p)
			}
		}
		if cand.FinishReason != "" {
			d.finished, d.finish = true, cand.FinishReason
		}
	} else if c.PromptFeedback != nil && c.PromptFeedback.BlockReason != "" {
		d.finished, d.finish = true, "PROHIBITED_CONTENT"
	}
	if c.UsageMetadata != nil {
		d.push(Event{Type: EventUsage, Usage: c.UsageMetadata.usage()})
	}
	return nil
}

// decodeChunk decodes a chunk scanGeminiChunk did not take with encoding/json: one decode reads a
// chunk or an error object (an error can arrive mid-stream). It returns nil when the stream failed.
func (d *gmStreamDecoder) decodeChunk(data []byte) *gmResponse {
	var ce struct {
		gmResponse
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &ce); err != nil {
		d.fail("malformed stream event from the provider", err)
		return nil
	}
	if ce.Error != nil {
		status := ce.Error.Code
		if status < 400 || status > 599 {
			status = 502
		}
		d.push(Event{Type: EventError, Err: &Error{Status: status, Kind: statusKind(status), Message: ce.Error.Message}})
		d.ended = true
		return nil
	}
	return &ce.gmResponse
}

func (d *gmStreamDecoder) part(p gmPart) {
	switch {
	case p.FunctionCall != nil:
		d.closeOpen()
		d.calls++
		call := geminiCallPart(p, d.calls)
		i := d.next
		d.next++
		d.push(Event{Type: EventBlockStart, Index: i, PartType: PartToolCall, ToolCallID: call.ToolCallID, ToolName: call.ToolName})
		d.push(Event{Type: EventDelta, Index: i, PartType: PartToolCall, Arguments: string(call.Arguments)})
		d.push(Event{Type: EventBlockStop, Index: i})
	case p.Thought:
		if d.text >= 0 {
			d.closeOpen()
		}
		if d.think < 0 {
			d.think = d.next
			d.next++
			d.push(Event{Type: EventBlockStart, Index: d.think, PartType: PartThinking})
		}
		if p.Text != "" {
			d.push(Event{Type: EventDelta, Index: d.think, PartType: PartThinking, Text: p.Text})
		}
		if p.ThoughtSignature != "" {
			d.push(Event{Type: EventDelta, Index: d.think, PartType: PartThinking, Signature: p.ThoughtSignature})
		}
	case p.Text != "":
		if d.think >= 0 {
			d.closeOpen()
		}
		if d.text < 0 {
			d.text = d.next
			d.next++
			d.push(Event{Type: EventBlockStart, Index: d.text, PartType: PartText})
		}
		d.push(Event{Type: EventDelta, Index: d.text, PartType: PartText, Text: p.Text})
	}
}
