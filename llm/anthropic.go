package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// AnthropicVersion is the anthropic-version header sent to Anthropic when the client sent none.
const AnthropicVersion = "2023-06-01"

// DefaultAnthropicMaxTokens is the max_tokens sent to Anthropic (which requires it) when the client
// did not set one.
const DefaultAnthropicMaxTokens = 4096

// AnthropicMessages is the Anthropic Messages wire (POST /v1/messages), both as a client [Format]
// and as a [Provider].
type AnthropicMessages struct{}

var _ Format = AnthropicMessages{}
var _ Provider = AnthropicMessages{}

// Name implements [Format].
func (AnthropicMessages) Name() string { return "anthropic" }

// Wire implements [Provider].
func (AnthropicMessages) Wire() string { return "anthropic" }

// DefaultBase implements [Provider].
func (AnthropicMessages) DefaultBase() string { return "https://api.anthropic.com/v1" }

// Path implements [Provider].
func (AnthropicMessages) Path(op Operation) string {
	switch op {
	case OpChat:
		return "/messages"
	case OpCountTokens:
		return "/messages/count_tokens"
	case OpModels:
		return "/models"
	}
	return ""
}

// SetHeaders implements [Provider]: x-api-key and anthropic-version.
func (AnthropicMessages) SetHeaders(h http.Header, key string) {
	h.Set("Content-Type", "application/json")
	if h.Get("anthropic-version") == "" {
		h.Set("anthropic-version", AnthropicVersion)
	}
	if key != "" {
		h.Set("x-api-key", key)
	}
}

// --- wire types ---

type anRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	System        json.RawMessage `json:"system,omitempty"`
	Messages      []anMessage     `json:"messages"`
	Tools         []anTool        `json:"tools,omitempty"`
	ToolChoice    *anToolChoice   `json:"tool_choice,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Metadata      *struct {
		UserID string `json:"user_id,omitempty"`
	} `json:"metadata,omitempty"`
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens,omitempty"`
	} `json:"thinking,omitempty"`
}

type anMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *anSource       `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	Thinking  string          `json:"thinking,omitempty"`
	Signature string          `json:"signature,omitempty"`
	Data      string          `json:"data,omitempty"`
	Cache     json.RawMessage `json:"cache_control,omitempty"`
}

type anSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type anTool struct {
	Type        string          `json:"type,omitempty"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
	Cache       json.RawMessage `json:"cache_control,omitempty"`
}

type anToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type anUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}

// usage normalises: Anthropic's input_tokens excludes the cached tokens.
func (u *anUsage) usage() Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{
		InputTokens:       u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		OutputTokens:      u.OutputTokens,
		CachedInputTokens: u.CacheReadInputTokens, CacheCreationTokens: u.CacheCreationInputTokens,
	}
}

func toANUsage(u Usage) anUsage {
	in := u.InputTokens - u.CachedInputTokens - u.CacheCreationTokens
	if in < 0 {
		in = 0
	}
	return anUsage{InputTokens: in, OutputTokens: u.OutputTokens, CacheReadInputTokens: u.CachedInputTokens, CacheCreationInputTokens: u.CacheCreationTokens}
}

type anResponse struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Role         string    `json:"role"`
	Model        string    `json:"model"`
	Content      []anBlock `json:"content"`
	StopReason   *string   `json:"stop_reason"`
	StopSequence *string   `json:"stop_sequence"`
	Usage        *anUsage  `json:"usage"`
}

// --- Format ---

// Peek implements [Format].
func (AnthropicMessages) Peek(body []byte) (Peek, error) {
	p, _, err := peekRequest(body, func() *Error {
		return &Error{Status: 400, Kind: ErrInvalidRequest, Message: "model: Field required", Param: "model", Err: ErrMalformedRequest}
	})
	return p, err
}

// DecodeRequest implements [Format].
func (AnthropicMessages) DecodeRequest(body []byte) (*Request, error) {
	var in anRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, malformed(err)
	}
	if in.Model == "" {
		return nil, invalid("model: Field required")
	}
	req := &Request{Model: in.Model, MaxTokens: in.MaxTokens, Temperature: in.Temperature, TopP: in.TopP, TopK: in.TopK,
		Stop: in.StopSequences, Stream: in.Stream}
	if in.Metadata != nil {
		req.User = in.Metadata.UserID
	}
	if in.Thinking != nil && in.Thinking.Type == "enabled" {
		req.Thinking = &Thinking{BudgetTokens: in.Thinking.BudgetTokens}
	}
	if len(in.System) > 0 && string(in.System) != "null" {
		parts, err := decodeANContent(in.System)
		if err != nil {
			return nil, invalid("system: %v", err)
		}
		req.System = parts
	}
	for _, t := range in.Tools {
		if t.Type != "" && t.Type != "custom" {
			return nil, invalid("tools: server tool %q is not supported by the gateway", t.Type)
		}
		req.Tools = append(req.Tools, Tool{Name: t.Name, Description: t.Description, Parameters: t.InputSchema, CacheControl: t.Cache})
	}
	if tc := in.ToolChoice; tc != nil {
		c := &ToolChoice{Name: tc.Name, DisableParallel: tc.DisableParallelToolUse}
		switch tc.Type {
		case "auto":
			c.Mode = ToolChoiceAuto
		case "any":
			c.Mode = ToolChoiceRequired
		case "tool":
			c.Mode = ToolChoiceTool
		case "none":
			c.Mode = ToolChoiceNone
		default:
			return nil, invalid("tool_choice.type: %q is not supported", tc.Type)
		}
		req.ToolChoice = c
	}
	for i, m := range in.Messages {
		parts, err := decodeANContent(m.Content)
		if err != nil {
			return nil, invalid("messages[%d].content: %v", i, err)
		}
		switch m.Role {
		case "user":
			req.Messages = append(req.Messages, Message{Role: RoleUser, Parts: parts})
		case "assistant":
			req.Messages = append(req.Messages, Message{Role: RoleAssistant, Parts: parts})
		default:
			return nil, invalid("messages[%d].role: %q is not supported", i, m.Role)
		}
	}
	return req, nil
}

// decodeANContent reads content: a string or an array of blocks.
func decodeANContent(raw json.RawMessage) ([]Part, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []Part{{Type: PartText, Text: s}}, nil
	}
	var blocks []anBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, fmt.Errorf("want a string or an array of content blocks")
	}
	parts := make([]Part, 0, len(blocks))
	for _, b := range blocks {
		p, err := b.part()
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func (b *anBlock) part() (Part, error) {
	switch b.Type {
	case "text":
		return Part{Type: PartText, Text: b.Text, CacheControl: b.Cache}, nil
	case "image":
		if b.Source == nil {
			return Part{}, fmt.Errorf("image block without a source")
		}
		switch b.Source.Type {
		case "base64":
			return Part{Type: PartImage, MediaType: b.Source.MediaType, Data: b.Source.Data, CacheControl: b.Cache}, nil
		case "url":
			return Part{Type: PartImage, URL: b.Source.URL, CacheControl: b.Cache}, nil
		}
		return Part{}, fmt.Errorf("image source type %q is not supported", b.Source.Type)
	case "tool_use":
		args := bytes.TrimSpace(b.Input)
		if len(args) == 0 || string(args) == "null" {
			args = json.RawMessage("{}")
		}
		if args[0] != '{' {
			return Part{}, fmt.Errorf("tool_use input must be an object")
		}
		return Part{Type: PartToolCall, ToolCallID: b.ID, ToolName: b.Name, Arguments: args, CacheControl: b.Cache}, nil
	case "tool_result":
		content, err := decodeANContent(b.Content)
		if err != nil {
			return Part{}, fmt.Errorf("tool_result content: %w", err)
		}
		return Part{Type: PartToolResult, ToolCallID: b.ToolUseID, Content: content, IsError: b.IsError, CacheControl: b.Cache}, nil
	case "thinking":
		return Part{Type: PartThinking, Text: b.Thinking, Signature: b.Signature}, nil
	case "redacted_thinking":
		return Part{Type: PartRedactedThinking, Data: b.Data}, nil
	}
	return Part{}, fmt.Errorf("content block type %q is not supported", b.Type)
}

var anStop = map[StopReason]bool{StopEndTurn: true, StopMaxTokens: true, StopToolUse: true, StopSequence: true, StopContentFilter: true, StopPause: true}

func anStopReason(r StopReason) string {
	if anStop[r] {
		return string(r)
	}
	return string(StopEndTurn)
}

// EncodeResponse implements [Format].
func (AnthropicMessages) EncodeResponse(resp *Response) ([]byte, error) {
	content := make([]anBlock, 0, len(resp.Parts))
	for _, p := range resp.Parts {
		b, err := anBlockOf(p)
		if err != nil {
			return nil, err
		}
		content = append(content, b)
	}
	stop := anStopReason(resp.StopReason)
	var seq *string
	if resp.StopSequence != "" {
		seq = &resp.StopSequence
	}
	u := toANUsage(resp.Usage)
	return json.Marshal(anResponse{ID: resp.ID, Type: "message", Role: "assistant", Model: resp.Model, Content: content,
		StopReason: &stop, StopSequence: seq, Usage: &u})
}

func anBlockOf(p Part) (anBlock, error) {
	switch p.Type {
	case PartText:
		return anBlock{Type: "text", Text: p.Text, Cache: p.CacheControl}, nil
	case PartImage:
		if p.URL != "" && !strings.HasPrefix(p.URL, "data:") {
			return anBlock{Type: "image", Source: &anSource{Type: "url", URL: p.URL}, Cache: p.CacheControl}, nil
		}
		return anBlock{Type: "image", Source: &anSource{Type: "base64", MediaType: p.MediaType, Data: p.Data}, Cache: p.CacheControl}, nil
	case PartToolCall:
		args := p.Arguments
		if !json.Valid(args) || len(bytes.TrimSpace(args)) == 0 || bytes.TrimSpace(args)[0] != '{' {
			return anBlock{}, invalid("tool call %q: arguments are not a JSON object", p.ToolName)
		}
		return anBlock{Type: "tool_use", ID: p.ToolCallID, Name: p.ToolName, Input: args, Cache: p.CacheControl}, nil
	case PartToolResult:
		var content json.RawMessage
		if len(p.Content) == 1 && p.Content[0].Type == PartText {
			content, _ = json.Marshal(p.Content[0].Text)
		} else {
			blocks := make([]anBlock, 0, len(p.Content))
			for _, c := range p.Content {
				b, err := anBlockOf(c)
				if err != nil {
					return anBlock{}, err
				}
				blocks = append(blocks, b)
			}
			content, _ = json.Marshal(blocks)
		}
		return anBlock{Type: "tool_result", ToolUseID: p.ToolCallID, Content: content, IsError: p.IsError, Cache: p.CacheControl}, nil
	case PartThinking:
		return anBlock{Type: "thinking", Thinking: p.Text, Signature: p.Signature}, nil
	case PartRedactedThinking:
		return anBlock{Type: "redacted_thinking", Data: p.Data}, nil
	}
	return anBlock{}, invalid("content part %q cannot be sent to Anthropic", p.Type)
}

// ErrorBody implements [Format]: {"type": "error", "error": {"type", "message"}}.
func (AnthropicMessages) ErrorBody(e *Error) []byte {
	b, _ := json.Marshal(anErrorObject(e))
	return b
}

func anErrorObject(e *Error) map[string]any {
	typ := "api_error"
	switch e.Kind {
	case ErrInvalidRequest:
		typ = "invalid_request_error"
	case ErrAuthentication:
		typ = "authentication_error"
	case ErrPermission:
		typ = "permission_error"
	case ErrNotFound:
		typ = "not_found_error"
	case ErrRequestTooLarge:
		typ = "request_too_large"
	case ErrRateLimit:
		typ = "rate_limit_error"
	case ErrOverloaded:
		typ = "overloaded_error"
	case ErrTimeout:
		typ = "timeout_error"
	}
	return map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": e.Message}}
}

// NewStreamEncoder implements [Format].
func (AnthropicMessages) NewStreamEncoder(req *Request) StreamEncoder {
	return &anStreamEncoder{model: req.Model}
}

type anStreamEncoder struct {
	id, model string
	started   bool
	usage     Usage
	stop      StopReason
	stopSeq   string
	open      map[int]bool
	done      bool
}

func (e *anStreamEncoder) start(dst []byte) []byte {
	if e.started {
		return dst
	}
	e.started = true
	if e.id == "" {
		e.id = "msg_gw"
	}
	u := toANUsage(e.usage)
	b, _ := json.Marshal(map[string]any{"type": "message_start", "message": map[string]any{
		"id": e.id, "type": "message", "role": "assistant", "model": e.model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": u}})
	return appendSSE(dst, "message_start", b)
}

// Encode implements [StreamEncoder].
func (e *anStreamEncoder) Encode(dst []byte, ev *Event) []byte {
	if e.done {
		return dst
	}
	switch ev.Type {
	case EventStart:
		if ev.ID != "" {
			e.id = ev.ID
		}
		if ev.Model != "" {
			e.model = ev.Model
		}
		e.usage.merge(ev.Usage)
		return e.start(dst)
	case EventBlockStart:
		dst = e.start(dst)
		if e.open == nil {
			e.open = map[int]bool{}
		}
		e.open[ev.Index] = true
		var block string
		switch ev.PartType {
		case PartToolCall:
			block = `{"type":"tool_use","id":` + string(appendJSONString(nil, ev.ToolCallID)) + `,"name":` + string(appendJSONString(nil, ev.ToolName)) + `,"input":{}}`
		case PartThinking:
			block = `{"type":"thinking","thinking":"","signature":""}`
		case PartRedactedThinking:
			block = `{"type":"redacted_thinking","data":` + string(appendJSONString(nil, ev.Data)) + `}`
		default:
			block = `{"type":"text","text":""}`
		}
		return e.frame(dst, "content_block_start", ev.Index, "content_block", block)
	case EventDelta:
		dst = e.start(dst)
		var delta []byte
		switch {
		case ev.Arguments != "":
			delta = appendJSONString([]byte(`{"type":"input_json_delta","partial_json":`), ev.Arguments)
		case ev.Signature != "":
			delta = appendJSONString([]byte(`{"type":"signature_delta","signature":`), ev.Signature)
		case ev.PartType == PartThinking:
			delta = appendJSONString([]byte(`{"type":"thinking_delta","thinking":`), ev.Text)
		case ev.Text != "":
			delta = appendJSONString([]byte(`{"type":"text_delta","text":`), ev.Text)
		default:
			return dst
		}
		delta = append(delta, '}')
		return e.frame(dst, "content_block_delta", ev.Index, "delta", string(delta))
	case EventBlockStop:
		if !e.open[ev.Index] {
			return dst
		}
		delete(e.open, ev.Index)
		return e.frame(dst, "content_block_stop", ev.Index, "", "")
	case EventFinish:
		e.stop, e.stopSeq = ev.StopReason, ev.StopSequence
		return dst
	case EventUsage:
		e.usage.merge(ev.Usage)
		return dst
	case EventError:
		e.done = true
		b, _ := json.Marshal(anErrorObject(ev.Err))
		return appendSSE(dst, "error", b)
	case EventEnd:
		e.done = true
		dst = e.start(dst)
		open := make([]int, 0, len(e.open))
		for i := range e.open {
			open = append(open, i)
		}
		sort.Ints(open)
		for _, i := range open {
			dst = e.frame(dst, "content_block_stop", i, "", "")
		}
		stop := anStopReason(e.stop)
		var seq any
		if e.stopSeq != "" {
			seq = e.stopSeq
		}
		b, _ := json.Marshal(map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": seq}, "usage": toANUsage(e.usage)})
		dst = appendSSE(dst, "message_delta", b)
		return appendSSE(dst, "message_stop", []byte(`{"type":"message_stop"}`))
	}
	return dst
}

// frame appends {"type":name,"index":i[,key:raw]}.
func (e *anStreamEncoder) frame(dst []byte, name string, index int, key, raw string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, name...)
	dst = append(dst, `","index":`...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	if key != "" {
		dst = append(dst, `,"`...)
		dst = append(dst, key...)
		dst = append(dst, `":`...)
		dst = append(dst, raw...)
	}
	return append(dst, "}\n\n"...)
}

// --- Provider ---

// EncodeRequest implements [Provider].
func (AnthropicMessages) EncodeRequest(req *Request) ([]byte, error) {
	if b, ok := appendANRequest(make([]byte, 0, anRequestSize(req)), req); ok {
		return b, nil
	}
	return encodeANRequestStd(req)
}

// encodeANRequestStd is the encoding/json encoder of the request, for what appendANRequest does
// not take (and the reference it is fuzzed against).
func encodeANRequestStd(req *Request) ([]byte, error) {
	out := anRequest{Model: req.Model, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP, TopK: req.TopK,
		StopSequences: req.Stop, Stream: req.Stream}
	if out.MaxTokens <= 0 {
		out.MaxTokens = DefaultAnthropicMaxTokens
	}
	if req.User != "" {
		out.Metadata = &struct {
			UserID string `json:"user_id,omitempty"`
		}{req.User}
	}
	if t := req.Thinking; t != nil {
		budget := t.BudgetTokens
		if budget == 0 {
			budget = budgetForEffort(t.Effort)
		}
		if budget > 0 {
			out.Thinking = &struct {
				Type         string `json:"type"`
				BudgetTokens int    `json:"budget_tokens,omitempty"`
			}{"enabled", budget}
			if out.MaxTokens <= budget {
				out.MaxTokens = budget + DefaultAnthropicMaxTokens
			}
		}
	}
	if len(req.System) > 0 {
		if len(req.System) == 1 && req.System[0].CacheControl == nil {
			out.System, _ = json.Marshal(req.System[0].Text)
		} else {
			blocks := make([]anBlock, 0, len(req.System))
			for _, p := range req.System {
				blocks = append(blocks, anBlock{Type: "text", Text: p.Text, Cache: p.CacheControl})
			}
			out.System, _ = json.Marshal(blocks)
		}
	}
	for _, t := range req.Tools {
		schema := t.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, anTool{Name: t.Name, Description: t.Description, InputSchema: schema, Cache: t.CacheControl})
	}
	if tc := req.ToolChoice; tc != nil && (len(req.Tools) > 0 || tc.Mode == ToolChoiceNone) {
		c := &anToolChoice{DisableParallelToolUse: tc.DisableParallel}
		switch tc.Mode {
		case ToolChoiceAuto:
			c.Type = "auto"
		case ToolChoiceNone:
			c.Type, c.DisableParallelToolUse = "none", false
		case ToolChoiceRequired:
			c.Type = "any"
		case ToolChoiceTool:
			c.Type, c.Name = "tool", tc.Name
		}
		out.ToolChoice = c
	}
	// Anthropic wants user and assistant turns; tool results travel in user turns. Consecutive turns
	// of one role are merged so that an OpenAI history (assistant, tool, tool, user) stays valid.
	for _, m := range req.Messages {
		role := "user"
		if m.Role == RoleAssistant {
			role = "assistant"
		}
		blocks := make([]anBlock, 0, len(m.Parts))
		for _, p := range m.Parts {
			if p.Type == PartThinking && p.Signature == "" {
				continue // reasoning from another provider cannot be verified by Anthropic
			}
			if p.Type == PartText && p.Text == "" {
				continue // Anthropic rejects empty text blocks
			}
			b, err := anBlockOf(p)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		}
		if len(blocks) == 0 {
			continue
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			var prev []anBlock
			_ = json.Unmarshal(out.Messages[n-1].Content, &prev)
			if role == "user" {
				// tool_result blocks must come first in a user turn
				blocks = append(prev, blocks...)
				sortToolResultsFirst(blocks)
			} else {
				blocks = append(prev, blocks...)
			}
			out.Messages[n-1].Content, _ = json.Marshal(blocks)
			continue
		}
		c, _ := json.Marshal(blocks)
		out.Messages = append(out.Messages, anMessage{Role: role, Content: c})
	}
	return json.Marshal(out)
}

func sortToolResultsFirst(blocks []anBlock) {
	results := make([]anBlock, 0, len(blocks))
	rest := make([]anBlock, 0, len(blocks))
	for _, b := range blocks {
		if b.Type == "tool_result" {
			results = append(results, b)
		} else {
			rest = append(rest, b)
		}
	}
	copy(blocks, append(results, rest...))
}

func budgetForEffort(effort string) int {
	switch effort {
	case "minimal", "low":
		return 1024
	case "medium":
		return 4096
	case "high":
		return 16384
	}
	return 0
}

// DecodeResponse implements [Provider].
func (AnthropicMessages) DecodeResponse(body []byte) (*Response, error) {
	if resp, ok := decodeANResponseFast(body); ok {
		return resp, nil
	}
	return decodeANResponseStd(body)
}

// decodeANResponseStd decodes the answer with encoding/json: what decodeANResponseFast does not
// take, and the reference it is fuzzed against.
func decodeANResponseStd(body []byte) (*Response, error) {
	var in anResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("llm: anthropic response: %w", err)
	}
	resp := &Response{ID: in.ID, Model: in.Model, Usage: in.Usage.usage(), StopReason: StopEndTurn}
	if in.StopReason != nil {
		resp.StopReason = StopReason(*in.StopReason)
	}
	if in.StopSequence != nil {
		resp.StopSequence = *in.StopSequence
	}
	for _, b := range in.Content {
		p, err := b.part()
		if err != nil {
			continue // server tool blocks and future kinds: nothing a client of another format can use
		}
		resp.Parts = append(resp.Parts, p)
	}
	return resp, nil
}

// Usage implements [Provider].
func (AnthropicMessages) Usage(body []byte) (string, Usage) {
	return usageOf(body, (*anUsage).usage)
}

// DecodeError implements [Provider].
func (AnthropicMessages) DecodeError(status int, body []byte) *Error {
	e := &Error{Status: status, Kind: statusKind(status)}
	var in struct {
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &in) == nil && in.Error != nil {
		e.Message = in.Error.Message
		if k, ok := anKinds[in.Error.Type]; ok {
			e.Kind = k
		}
	}
	if e.Message == "" {
		e.Message = upstreamText(status, body)
	}
	return e
}

var anKinds = map[string]ErrorKind{
	"invalid_request_error": ErrInvalidRequest, "authentication_error": ErrAuthentication, "permission_error": ErrPermission,
	"not_found_error": ErrNotFound, "request_too_large": ErrRequestTooLarge, "rate_limit_error": ErrRateLimit,
	"api_error": ErrAPI, "overloaded_error": ErrOverloaded, "timeout_error": ErrTimeout,
}

// NewStreamDecoder implements [Provider].
func (AnthropicMessages) NewStreamDecoder(r io.Reader) StreamDecoder {
	return &anStreamDecoder{sse: newSSEReader(r, false)}
}

type anStreamDecoder struct {
	sse   *sseReader
	ended bool
	kinds map[int]PartType
	ev    struct {
		Type    string `json:"type"`
		Index   int    `json:"index"`
		Message *struct {
			ID    string   `json:"id"`
			Model string   `json:"model"`
			Usage *anUsage `json:"usage"`
		} `json:"message"`
		ContentBlock *anBlock `json:"content_block"`
		Delta        *struct {
			Type         string  `json:"type"`
			Text         string  `json:"text"`
			PartialJSON  string  `json:"partial_json"`
			Thinking     string  `json:"thinking"`
			Signature    string  `json:"signature"`
			StopReason   *string `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage *anUsage `json:"usage"`
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	pending []Event
}

// Next implements [StreamDecoder].
func (d *anStreamDecoder) Next() (Event, error) {
	for {
		if len(d.pending) > 0 {
			ev := d.pending[0]
			d.pending = d.pending[1:]
			return ev, nil
		}
		if d.ended {
			return Event{}, io.EOF
		}
		_, data, err := d.sse.Next()
		if err == io.EOF {
			d.ended = true
			return Event{Type: EventError, Err: &Error{Status: 502, Kind: ErrAPI, Message: "the provider's stream ended early", Err: io.ErrUnexpectedEOF}}, nil
		}
		if err != nil {
			return Event{}, err
		}
		if len(data) == 0 {
			continue
		}
		if i, s, args, ok := anDelta(data); ok {
			if s == "" {
				continue // as convert: an empty delta says nothing
			}
			ev := Event{Type: EventDelta, Index: i, PartType: d.kinds[i]}
			if args {
				ev.Arguments = s
			} else {
				ev.Text = s
			}
			return ev, nil
		}
		d.ev.Message, d.ev.ContentBlock, d.ev.Delta, d.ev.Usage, d.ev.Error = nil, nil, nil, nil, nil
		d.ev.Type, d.ev.Index = "", 0
		if err := json.Unmarshal(data, &d.ev); err != nil {
			d.ended = true
			return Event{Type: EventError, Err: &Error{Status: 502, Kind: ErrAPI, Message: "malformed stream event from the provider", Err: err}}, nil
		}
		if ev, ok := d.convert(); ok {
			return ev, nil
		}
	}
}

func (d *anStreamDecoder) convert() (Event, bool) {
	v := &d.ev
	switch v.Type {
	case "message_start":
		if v.Message == nil {
			return Event{}, false
		}
		return Event{Type: EventStart, ID: v.Message.ID, Model: v.Message.Model, Usage: v.Message.Usage.usage()}, true
	case "content_block_start":
		if v.ContentBlock == nil {
			return Event{}, false
		}
		b := v.ContentBlock
		ev := Event{Type: EventBlockStart, Index: v.Index}
		switch b.Type {
		case "text":
			ev.PartType = PartText
			if b.Text != "" {
				d.pending = append(d.pending, Event{Type: EventDelta, Index: v.Index, PartType: PartText, Text: b.Text})
			}
		case "tool_use":
			ev.PartType, ev.ToolCallID, ev.ToolName = PartToolCall, b.ID, b.Name
		case "thinking":
			ev.PartType = PartThinking
		case "redacted_thinking":
			ev.PartType, ev.Data = PartRedactedThinking, b.Data
		default:
			return Event{}, false // server tool blocks: nothing to translate
		}
		if d.kinds == nil {
			d.kinds = map[int]PartType{}
		}
		d.kinds[v.Index] = ev.PartType
		return ev, true
	case "content_block_delta":
		if v.Delta == nil {
			return Event{}, false
		}
		ev := Event{Type: EventDelta, Index: v.Index, PartType: d.kinds[v.Index]}
		switch v.Delta.Type {
		case "text_delta":
			ev.Text = v.Delta.Text
		case "input_json_delta":
			ev.Arguments = v.Delta.PartialJSON
		case "thinking_delta":
			ev.Text, ev.PartType = v.Delta.Thinking, PartThinking
		case "signature_delta":
			ev.Signature = v.Delta.Signature
		default:
			return Event{}, false
		}
		if ev.Text == "" && ev.Arguments == "" && ev.Signature == "" {
			return Event{}, false
		}
		return ev, true
	case "content_block_stop":
		if _, ok := d.kinds[v.Index]; !ok {
			return Event{}, false
		}
		return Event{Type: EventBlockStop, Index: v.Index}, true
	case "message_delta":
		if v.Usage != nil {
			d.pending = append(d.pending, Event{Type: EventUsage, Usage: v.Usage.usage()})
		}
		if v.Delta != nil && v.Delta.StopReason != nil {
			ev := Event{Type: EventFinish, StopReason: StopReason(*v.Delta.StopReason)}
			if v.Delta.StopSequence != nil {
				ev.StopSequence = *v.Delta.StopSequence
			}
			return ev, true
		}
		return Event{}, false
	case "message_stop":
		d.ended = true
		d.pending = append(d.pending, Event{Type: EventEnd})
		return Event{}, false
	case "error":
		d.ended = true
		e := &Error{Status: 502, Kind: ErrAPI, Message: "provider error"}
		if v.Error != nil {
			e.Message = v.Error.Message
			if k, ok := anKinds[v.Error.Type]; ok {
				e.Kind = k
				e.Status = kindStatus(k)
			}
		}
		return Event{Type: EventError, Err: e}, true
	}
	return Event{}, false // ping and unknown events
}
