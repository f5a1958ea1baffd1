package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentgw/agentgateway/internal/jsonscan"
)

// OpenAIChat is the OpenAI Chat Completions wire (POST /v1/chat/completions), both as a client
// [Format] and as a [Provider]. As a provider it also speaks to any OpenAI-compatible server (Ollama,
// vLLM, llama.cpp, Groq, Mistral, DeepSeek, OpenRouter, ...) given its base URL.
type OpenAIChat struct {
	// ProviderName is gen_ai.provider.name (default "openai").
	ProviderName string
}

var _ Format = OpenAIChat{}
var _ Provider = OpenAIChat{}

// Name implements [Format].
func (OpenAIChat) Name() string { return "openai" }

// Wire implements [Provider].
func (OpenAIChat) Wire() string { return "openai" }

// DefaultBase implements [Provider].
func (OpenAIChat) DefaultBase() string { return "https://api.openai.com/v1" }

// Path implements [Provider].
func (OpenAIChat) Path(op Operation) string {
	switch op {
	case OpChat:
		return "/chat/completions"
	case OpModels:
		return "/models"
	}
	return ""
}

// SetHeaders implements [Provider]: the key as a bearer token.
func (OpenAIChat) SetHeaders(h http.Header, key string) {
	h.Set("Content-Type", "application/json")
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
}

func (o OpenAIChat) providerName() string {
	if o.ProviderName != "" {
		return o.ProviderName
	}
	return "openai"
}

// --- wire types ---

type oaRequest struct {
	Model               string          `json:"model"`
	Messages            []oaMessage     `json:"messages"`
	Tools               []oaTool        `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	User              string `json:"user,omitempty"`
	ParallelToolCalls *bool  `json:"parallel_tool_calls,omitempty"`
	ReasoningEffort   string `json:"reasoning_effort,omitempty"`
	N                 *int   `json:"n,omitempty"`
}

type oaMessage struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content,omitempty"`
	Name             string          `json:"name,omitempty"`
	ToolCalls        []oaToolCall    `json:"tool_calls,omitempty"`
	ToolCallID       string          `json:"tool_call_id,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Refusal          *string         `json:"refusal,omitempty"`
}

type oaContentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail,omitempty"`
	} `json:"image_url,omitempty"`
}

type oaToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Strict      *bool           `json:"strict,omitempty"`
	} `json:"function"`
}

type oaUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details,omitempty"`
}

func (u *oaUsage) usage() Usage {
	if u == nil {
		return Usage{}
	}
	out := Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if u.PromptTokensDetails != nil {
		out.CachedInputTokens = u.PromptTokensDetails.CachedTokens
	}
	if u.CompletionTokensDetails != nil {
		out.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
	}
	return out
}

func toOAUsage(u Usage) *oaUsage {
	out := &oaUsage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.InputTokens + u.OutputTokens}
	out.PromptTokensDetails = &struct {
		CachedTokens int64 `json:"cached_tokens"`
	}{u.CachedInputTokens}
	out.CompletionTokensDetails = &struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	}{u.ReasoningTokens}
	return out
}

type oaResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int       `json:"index"`
		Message      oaMessage `json:"message"`
		FinishReason *string   `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage,omitempty"`
}

type oaChunk struct {
	ID      string `json:"id"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role             string       `json:"role"`
			Content          *string      `json:"content"`
			ReasoningContent *string      `json:"reasoning_content"`
			Reasoning        *string      `json:"reasoning"` // OpenRouter, vLLM
			ToolCalls        []oaToolCall `json:"tool_calls"`
			Refusal          *string      `json:"refusal"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
	Error *oaError `json:"error"`
}

type oaError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

// --- Format ---

// Peek implements [Format].
func (OpenAIChat) Peek(body []byte) (Peek, error) {
	p, t, err := peekRequest(body, func() *Error {
		return &Error{Status: 400, Kind: ErrInvalidRequest, Message: "you must provide a model parameter", Param: "model", Err: ErrMalformedRequest}
	})
	if err != nil || isNull(body, t.streamOptions) {
		return p, err
	}
	if !jsonscan.IsObject(body, t.streamOptions) {
		return Peek{}, malformed(errors.New("stream_options: want an object"))
	}
	if p.IncludeUsage, err = scanBool(body, jsonscan.Field(body, t.streamOptions, "include_usage"), "stream_options.include_usage"); err != nil {
		return Peek{}, malformed(err)
	}
	return p, nil
}

func malformed(err error) *Error {
	return &Error{Status: 400, Kind: ErrInvalidRequest, Message: "malformed JSON body: " + err.Error(), Err: fmt.Errorf("%w: %w", ErrMalformedRequest, err)}
}

func invalid(format string, args ...any) *Error {
	return &Error{Status: 400, Kind: ErrInvalidRequest, Message: fmt.Sprintf(format, args...), Err: ErrMalformedRequest}
}

// DecodeRequest implements [Format].
func (OpenAIChat) DecodeRequest(body []byte) (*Request, error) {
	if req, ok := decodeOARequestFast(body); ok {
		return req, nil
	}
	return decodeOARequestStd(body)
}

// decodeOARequestStd decodes the request with encoding/json: what decodeOARequestFast does not take,
// and the reference it is fuzzed against.
func decodeOARequestStd(body []byte) (*Request, error) {
	var in oaRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, malformed(err)
	}
	if in.Model == "" {
		return nil, invalid("you must provide a model parameter")
	}
	if in.N != nil && *in.N > 1 {
		// Answers carry one choice; more would be silently lost in translation.
		return nil, invalid("n > 1 is not supported by the gateway")
	}
	req := &Request{Model: in.Model, Temperature: in.Temperature, TopP: in.TopP, Stream: in.Stream, User: in.User}
	if in.StreamOptions != nil {
		req.IncludeUsage = in.StreamOptions.IncludeUsage
	}
	if in.MaxCompletionTokens != nil {
		req.MaxTokens = *in.MaxCompletionTokens
	} else if in.MaxTokens != nil {
		req.MaxTokens = *in.MaxTokens
	}
	if in.ReasoningEffort != "" {
		req.Thinking = &Thinking{Effort: in.ReasoningEffort}
	}
	if len(in.Stop) > 0 && string(in.Stop) != "null" {
		var one string
		if json.Unmarshal(in.Stop, &one) == nil {
			req.Stop = []string{one}
		} else if err := json.Unmarshal(in.Stop, &req.Stop); err != nil {
			return nil, invalid("stop: want a string or an array of strings")
		}
	}
	for _, t := range in.Tools {
		if t.Type != "function" {
			return nil, invalid("tools: type %q is not supported", t.Type)
		}
		tool := Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters}
		if t.Function.Strict != nil {
			tool.Strict = *t.Function.Strict
		}
		req.Tools = append(req.Tools, tool)
	}
	if len(in.ToolChoice) > 0 && string(in.ToolChoice) != "null" {
		tc, err := decodeOAToolChoice(in.ToolChoice)
		if err != nil {
			return nil, err
		}
		req.ToolChoice = tc
	}
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
		if req.ToolChoice == nil {
			req.ToolChoice = &ToolChoice{Mode: ToolChoiceAuto}
		}
		req.ToolChoice.DisableParallel = true
	}
	for i, m := range in.Messages {
		parts, err := decodeOAContent(m.Content)
		if err != nil {
			return nil, invalid("messages[%d].content: %v", i, err)
		}
		switch m.Role {
		case "system", "developer":
			req.System = append(req.System, parts...)
		case "user":
			req.Messages = append(req.Messages, Message{Role: RoleUser, Parts: parts, Name: m.Name})
		case "assistant":
			msg := Message{Role: RoleAssistant, Name: m.Name}
			if m.ReasoningContent != "" {
				msg.Parts = append(msg.Parts, Part{Type: PartThinking, Text: m.ReasoningContent})
			}
			msg.Parts = append(msg.Parts, parts...)
			for _, tc := range m.ToolCalls {
				args := json.RawMessage(tc.Function.Arguments)
				if strings.TrimSpace(tc.Function.Arguments) == "" {
					args = json.RawMessage("{}")
				}
				msg.Parts = append(msg.Parts, Part{Type: PartToolCall, ToolCallID: tc.ID, ToolName: tc.Function.Name, Arguments: args})
			}
			req.Messages = append(req.Messages, msg)
		case "tool":
			req.Messages = append(req.Messages, Message{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: m.ToolCallID, Content: parts}}})
		default:
			return nil, invalid("messages[%d].role: %q is not supported", i, m.Role)
		}
	}
	return req, nil
}

func decodeOAToolChoice(raw json.RawMessage) (*ToolChoice, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
			return &ToolChoice{Mode: ToolChoiceAuto}, nil
		case "none":
			return &ToolChoice{Mode: ToolChoiceNone}, nil
		case "required":
			return &ToolChoice{Mode: ToolChoiceRequired}, nil
		}
		return nil, invalid("tool_choice: %q is not supported", s)
	}
	var o struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &o); err != nil || o.Type != "function" || o.Function.Name == "" {
		return nil, invalid("tool_choice: want auto, none, required or {type: function, function: {name}}")
	}
	return &ToolChoice{Mode: ToolChoiceTool, Name: o.Function.Name}, nil
}

// decodeOAContent reads message content: null, a string, or an array of text and image_url parts.
func decodeOAContent(raw json.RawMessage) ([]Part, error) {
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
	var list []oaContentPart
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("want a string or an array of content parts")
	}
	parts := make([]Part, 0, len(list))
	for _, p := range list {
		switch p.Type {
		case "text":
			parts = append(parts, Part{Type: PartText, Text: p.Text})
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, fmt.Errorf("image_url part without a url")
			}
			parts = append(parts, imagePart(p.ImageURL.URL, p.ImageURL.Detail))
		default:
			return nil, fmt.Errorf("content part type %q is not supported", p.Type)
		}
	}
	return parts, nil
}

// imagePart splits a data: URL into media type and base64 data; other URLs stay URLs.
func imagePart(u, detail string) Part {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		if meta, data, ok := strings.Cut(rest, ","); ok {
			if mt, ok := strings.CutSuffix(meta, ";base64"); ok {
				return Part{Type: PartImage, MediaType: mt, Data: data, Detail: detail}
			}
		}
	}
	return Part{Type: PartImage, URL: u, Detail: detail}
}

func (p *Part) imageURL() string {
	if p.URL != "" {
		return p.URL
	}
	return "data:" + p.MediaType + ";base64," + p.Data
}

var oaFinish = map[StopReason]string{
	StopEndTurn: "stop", StopSequence: "stop", StopMaxTokens: "length", StopToolUse: "tool_calls",
	StopContentFilter: "content_filter", StopPause: "stop",
}

func finishReason(r StopReason) string {
	if s, ok := oaFinish[r]; ok {
		return s
	}
	return "stop"
}

func stopFromFinish(s string) StopReason {
	switch s {
	case "length":
		return StopMaxTokens
	case "tool_calls", "function_call":
		return StopToolUse
	case "content_filter":
		return StopContentFilter
	}
	return StopEndTurn
}

// EncodeResponse implements [Format].
func (OpenAIChat) EncodeResponse(resp *Response) ([]byte, error) {
	n := 320 + len(resp.ID) + len(resp.Model) + partsSize(resp.Parts)
	return appendOAResponse(make([]byte, 0, n+n/16), resp, created(resp.Created)), nil
}

func created(t int64) int64 {
	if t != 0 {
		return t
	}
	return time.Now().Unix()
}

// ErrorBody implements [Format]: {"error": {"message", "type", "param", "code"}}.
func (OpenAIChat) ErrorBody(e *Error) []byte {
	b, _ := json.Marshal(map[string]any{"error": oaErrorObject(e)})
	return b
}

func oaErrorObject(e *Error) map[string]any {
	typ := "invalid_request_error"
	switch e.Kind {
	case ErrAuthentication:
		typ = "authentication_error"
	case ErrPermission:
		typ = "permission_error"
	case ErrNotFound:
		typ = "not_found_error"
	case ErrRateLimit:
		typ = "rate_limit_error"
	case ErrAPI, ErrOverloaded, ErrTimeout:
		typ = "server_error"
	}
	var param, code any
	if e.Param != "" {
		param = e.Param
	}
	switch {
	case e.Code != "":
		code = e.Code
	case e.Kind == ErrNotFound:
		code = "model_not_found"
	case e.Kind == ErrRateLimit:
		code = "rate_limit_exceeded"
	}
	return map[string]any{"message": e.Message, "type": typ, "param": param, "code": code}
}

// NewStreamEncoder implements [Format].
func (OpenAIChat) NewStreamEncoder(req *Request) StreamEncoder {
	return &oaStreamEncoder{includeUsage: req.IncludeUsage, model: req.Model, toolIndex: map[int]int{}}
}

type oaStreamEncoder struct {
	includeUsage bool
	id, model    string
	created      int64
	started      bool
	toolIndex    map[int]int // content block index -> tool_calls index
	finish       string
	usage        Usage
	done         bool
}

// chunk appends one chat.completion.chunk with the given choice delta (raw JSON) and finish reason.
func (e *oaStreamEncoder) chunk(dst []byte, delta string, finish string) []byte {
	return e.chunkClose(append(e.chunkOpen(dst), delta...), finish)
}

// chunkOpen appends a chunk up to its delta object, which the caller appends in place (a streamed
// token costs no allocation); chunkClose ends it.
func (e *oaStreamEncoder) chunkOpen(dst []byte) []byte {
	dst = append(dst, `data: {"id":`...)
	dst = appendJSONString(dst, e.id)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = strconv.AppendInt(dst, e.created, 10)
	dst = append(dst, `,"model":`...)
	dst = appendJSONString(dst, e.model)
	return append(dst, `,"choices":[{"index":0,"delta":`...)
}

func (e *oaStreamEncoder) chunkClose(dst []byte, finish string) []byte {
	dst = append(dst, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, finish)
	}
	return append(dst, "}]}\n\n"...)
}

func (e *oaStreamEncoder) start(dst []byte) []byte {
	if e.started {
		return dst
	}
	e.started = true
	if e.id == "" {
		e.id = "chatcmpl-gw"
	}
	if e.created == 0 {
		e.created = time.Now().Unix()
	}
	return e.chunk(dst, `{"role":"assistant","content":""}`, "")
}

// Encode implements [StreamEncoder].
func (e *oaStreamEncoder) Encode(dst []byte, ev *Event) []byte {
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
		if ev.PartType == PartToolCall {
			ti := len(e.toolIndex)
			e.toolIndex[ev.Index] = ti
			d := make([]byte, 0, 96+len(ev.ToolName))
			d = append(d, `{"tool_calls":[{"index":`...)
			d = strconv.AppendInt(d, int64(ti), 10)
			d = append(d, `,"id":`...)
			d = appendJSONString(d, ev.ToolCallID)
			d = append(d, `,"type":"function","function":{"name":`...)
			d = appendJSONString(d, ev.ToolName)
			d = append(d, `,"arguments":""}}]}`...)
			return e.chunk(dst, string(d), "")
		}
		return dst
	case EventDelta:
		dst = e.start(dst)
		switch {
		case ev.Arguments != "":
			dst = append(e.chunkOpen(dst), `{"tool_calls":[{"index":`...)
			dst = strconv.AppendInt(dst, int64(e.toolIndex[ev.Index]), 10)
			dst = append(dst, `,"function":{"arguments":`...)
			dst = appendJSONString(dst, ev.Arguments)
			return e.chunkClose(append(dst, `}}]}`...), "")
		case ev.Text != "" && ev.PartType == PartThinking:
			dst = appendJSONString(append(e.chunkOpen(dst), `{"reasoning_content":`...), ev.Text)
			return e.chunkClose(append(dst, '}'), "")
		case ev.Text != "":
			dst = appendJSONString(append(e.chunkOpen(dst), `{"content":`...), ev.Text)
			return e.chunkClose(append(dst, '}'), "")
		}
		return dst
	case EventFinish:
		e.finish = finishReason(ev.StopReason)
		return dst
	case EventUsage:
		e.usage.merge(ev.Usage)
		return dst
	case EventError:
		e.done = true
		b, _ := json.Marshal(map[string]any{"error": oaErrorObject(ev.Err)})
		return appendSSE(dst, "", b)
	case EventEnd:
		e.done = true
		dst = e.start(dst)
		if e.finish == "" {
			e.finish = "stop"
		}
		dst = e.chunk(dst, "{}", e.finish)
		if e.includeUsage {
			u, _ := json.Marshal(toOAUsage(e.usage))
			dst = append(dst, `data: {"id":`...)
			dst = appendJSONString(dst, e.id)
			dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
			dst = strconv.AppendInt(dst, e.created, 10)
			dst = append(dst, `,"model":`...)
			dst = appendJSONString(dst, e.model)
			dst = append(dst, `,"choices":[],"usage":`...)
			dst = append(dst, u...)
			dst = append(dst, "}\n\n"...)
		}
		return append(dst, "data: [DONE]\n\n"...)
	}
	return dst
}

// appendJSONString appends s as a JSON string (encoding/json's escaping, without HTML escaping).
func appendJSONString(dst []byte, s string) []byte { return appendJSONStr(dst, s, false) }

// --- Provider ---

// EncodeRequest implements [Provider].
func (OpenAIChat) EncodeRequest(req *Request) ([]byte, error) {
	out := oaRequest{Model: req.Model, Temperature: req.Temperature, TopP: req.TopP, Stream: req.Stream, User: req.User}
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		out.MaxCompletionTokens = &n
	}
	if req.Stream {
		// Always ask for usage: the gateway accounts every call (the client sees it only if it asked).
		out.StreamOptions = &struct {
			IncludeUsage bool `json:"include_usage"`
		}{true}
	}
	if len(req.Stop) > 0 {
		out.Stop, _ = json.Marshal(req.Stop)
	}
	if req.Thinking != nil {
		out.ReasoningEffort = req.Thinking.Effort
		if out.ReasoningEffort == "" {
			out.ReasoningEffort = effortForBudget(req.Thinking.BudgetTokens)
		}
	}
	for _, t := range req.Tools {
		var ot oaTool
		ot.Type = "function"
		ot.Function.Name, ot.Function.Description, ot.Function.Parameters = t.Name, t.Description, t.Parameters
		if t.Strict {
			ot.Function.Strict = &t.Strict
		}
		out.Tools = append(out.Tools, ot)
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Mode {
		case ToolChoiceAuto:
			out.ToolChoice = json.RawMessage(`"auto"`)
		case ToolChoiceNone:
			out.ToolChoice = json.RawMessage(`"none"`)
		case ToolChoiceRequired:
			out.ToolChoice = json.RawMessage(`"required"`)
		case ToolChoiceTool:
			out.ToolChoice, _ = json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
		}
		if tc.DisableParallel && len(req.Tools) > 0 {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	if len(req.System) > 0 {
		out.Messages = append(out.Messages, oaMessage{Role: "system", Content: oaTextContent(req.System)})
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleUser:
			var results []Part
			var rest []Part
			for _, p := range m.Parts {
				if p.Type == PartToolResult {
					results = append(results, p)
				} else {
					rest = append(rest, p)
				}
			}
			for _, r := range results {
				out.Messages = append(out.Messages, oaToolMessage(r))
			}
			if len(rest) > 0 || len(results) == 0 {
				c, err := oaContent(rest)
				if err != nil {
					return nil, err
				}
				out.Messages = append(out.Messages, oaMessage{Role: "user", Content: c, Name: m.Name})
			}
		case RoleTool:
			for _, r := range m.Parts {
				if r.Type == PartToolResult {
					out.Messages = append(out.Messages, oaToolMessage(r))
				}
			}
		case RoleAssistant:
			msg := oaMessage{Role: "assistant", Name: m.Name}
			var text strings.Builder
			for _, p := range m.Parts {
				switch p.Type {
				case PartText:
					text.WriteString(p.Text)
				case PartToolCall:
					tc := oaToolCall{ID: p.ToolCallID, Type: "function"}
					tc.Function.Name, tc.Function.Arguments = p.ToolName, string(p.Arguments)
					msg.ToolCalls = append(msg.ToolCalls, tc)
				}
				// Thinking is not sent back to OpenAI: it has no field for it.
			}
			if text.Len() > 0 || len(msg.ToolCalls) == 0 {
				msg.Content, _ = json.Marshal(text.String())
			}
			out.Messages = append(out.Messages, msg)
		}
	}
	return json.Marshal(out)
}

func effortForBudget(n int) string {
	switch {
	case n <= 0:
		return ""
	case n < 4096:
		return "low"
	case n < 16384:
		return "medium"
	}
	return "high"
}

func oaToolMessage(r Part) oaMessage {
	var text strings.Builder
	for _, c := range r.Content {
		if c.Type == PartText {
			text.WriteString(c.Text)
		}
	}
	s := text.String()
	if r.IsError && s == "" {
		s = "error"
	}
	c, _ := json.Marshal(s)
	return oaMessage{Role: "tool", ToolCallID: r.ToolCallID, Content: c}
}

func oaTextContent(parts []Part) json.RawMessage {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(p.Text)
	}
	c, _ := json.Marshal(b.String())
	return c
}

// oaContent encodes user content: a plain string when it is one text part, else an array of parts.
func oaContent(parts []Part) (json.RawMessage, error) {
	if len(parts) == 1 && parts[0].Type == PartText {
		return json.Marshal(parts[0].Text)
	}
	list := make([]map[string]any, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case PartText:
			list = append(list, map[string]any{"type": "text", "text": p.Text})
		case PartImage:
			img := map[string]any{"url": p.imageURL()}
			if p.Detail != "" {
				img["detail"] = p.Detail
			}
			list = append(list, map[string]any{"type": "image_url", "image_url": img})
		default:
			return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Message: fmt.Sprintf("content of type %s cannot be sent to an OpenAI provider", p.Type), Err: ErrUnsupported}
		}
	}
	return json.Marshal(list)
}

// DecodeResponse implements [Provider].
func (OpenAIChat) DecodeResponse(body []byte) (*Response, error) {
	var in oaResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("llm: openai response: %w", err)
	}
	resp := &Response{ID: in.ID, Model: in.Model, Created: in.Created, Usage: in.Usage.usage(), StopReason: StopEndTurn}
	if len(in.Choices) == 0 {
		return resp, nil
	}
	c := in.Choices[0]
	if c.FinishReason != nil {
		resp.StopReason = stopFromFinish(*c.FinishReason)
	}
	if c.Message.ReasoningContent != "" {
		resp.Parts = append(resp.Parts, Part{Type: PartThinking, Text: c.Message.ReasoningContent})
	}
	parts, err := decodeOAContent(c.Message.Content)
	if err != nil {
		return nil, fmt.Errorf("llm: openai response content: %w", err)
	}
	resp.Parts = append(resp.Parts, parts...)
	if c.Message.Refusal != nil && *c.Message.Refusal != "" {
		resp.Parts = append(resp.Parts, Part{Type: PartText, Text: *c.Message.Refusal})
		resp.StopReason = StopContentFilter
	}
	for _, tc := range c.Message.ToolCalls {
		args := json.RawMessage(tc.Function.Arguments)
		if strings.TrimSpace(tc.Function.Arguments) == "" {
			args = json.RawMessage("{}")
		}
		resp.Parts = append(resp.Parts, Part{Type: PartToolCall, ToolCallID: tc.ID, ToolName: tc.Function.Name, Arguments: args})
	}
	return resp, nil
}

// Usage implements [Provider].
func (OpenAIChat) Usage(body []byte) (string, Usage) {
	return usageOf(body, (*oaUsage).usage)
}

// DecodeError implements [Provider].
func (OpenAIChat) DecodeError(status int, body []byte) *Error {
	e := &Error{Status: status, Kind: statusKind(status)}
	var in struct {
		Error *oaError `json:"error"`
	}
	if json.Unmarshal(body, &in) == nil && in.Error != nil {
		e.Message = in.Error.Message
		var code string
		if json.Unmarshal(in.Error.Code, &code) == nil {
			e.Code = code
		}
		var param string
		if json.Unmarshal(in.Error.Param, &param) == nil {
			e.Param = param
		}
	}
	if e.Message == "" {
		e.Message = upstreamText(status, body)
	}
	return e
}

// upstreamText is a short message for an error body that is not the provider's error object.
func upstreamText(status int, body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200]
	}
	if s == "" {
		return fmt.Sprintf("provider answered %d %s", status, http.StatusText(status))
	}
	return fmt.Sprintf("provider answered %d: %s", status, s)
}

// NewStreamDecoder implements [Provider].
func (OpenAIChat) NewStreamDecoder(r io.Reader) StreamDecoder {
	return &oaStreamDecoder{sse: newSSEReader(r, false), tools: map[int]int{}}
}

type oaStreamDecoder struct {
	sse       *sseReader
	queue     []Event
	started   bool
	ended     bool
	next      int         // next content block index
	textBlock int         // open text block index, -1 none
	thinkOpen int         // open thinking block index, -1 none
	tools     map[int]int // tool_calls index -> block index
	openTools []int
	finished  bool
	stop      StopReason
}

// Next implements [StreamDecoder].
func (d *oaStreamDecoder) Next() (Event, error) {
	for len(d.queue) == 0 {
		if d.ended {
			return Event{}, io.EOF
		}
		if err := d.read(); err != nil {
			return Event{}, err
		}
	}
	ev := d.queue[0]
	d.queue = d.queue[1:]
	return ev, nil
}

func (d *oaStreamDecoder) push(ev Event) { d.queue = append(d.queue, ev) }

func (d *oaStreamDecoder) closeText() {
	if d.started && d.textBlock >= 0 {
		d.push(Event{Type: EventBlockStop, Index: d.textBlock})
		d.textBlock = -1
	}
	if d.started && d.thinkOpen >= 0 {
		d.push(Event{Type: EventBlockStop, Index: d.thinkOpen})
		d.thinkOpen = -1
	}
}

func (d *oaStreamDecoder) end() {
	d.closeText()
	for _, b := range d.openTools {
		d.push(Event{Type: EventBlockStop, Index: b})
	}
	d.openTools = nil
	if d.finished {
		d.push(Event{Type: EventFinish, StopReason: d.stop})
	}
	d.push(Event{Type: EventEnd})
	d.ended = true
}

func (d *oaStreamDecoder) read() error {
	_, data, err := d.sse.Next()
	if err == io.EOF {
		if !d.finished {
			d.push(Event{Type: EventError, Err: &Error{Status: 502, Kind: ErrAPI, Message: "the provider's stream ended early", Err: io.ErrUnexpectedEOF}})
			d.ended = true
			return nil
		}
		d.end()
		return nil
	}
	if err != nil {
		return err
	}
	if string(data) == "[DONE]" {
		d.end()
		return nil
	}
	if len(data) == 0 {
		return nil
	}
	var c oaChunk
	if err := json.Unmarshal(data, &c); err != nil {
		d.push(Event{Type: EventError, Err: &Error{Status: 502, Kind: ErrAPI, Message: "malformed stream event from the provider", Err: err}})
		d.ended = true
		return nil
	}
	if c.Error != nil {
		e := &Error{Status: 502, Kind: ErrAPI, Message: c.Error.Message}
		if c.Error.Type != "" && strings.Contains(c.Error.Type, "rate") {
			e.Kind, e.Status = ErrRateLimit, 429
		}
		d.push(Event{Type: EventError, Err: e})
		d.ended = true
		return nil
	}
	if !d.started {
		d.started = true
		d.textBlock, d.thinkOpen = -1, -1
		d.push(Event{Type: EventStart, ID: c.ID, Model: c.Model})
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue
		}
		dl := &ch.Delta
		reasoning := dl.ReasoningContent
		if reasoning == nil {
			reasoning = dl.Reasoning
		}
		if reasoning != nil && *reasoning != "" {
			if d.thinkOpen < 0 {
				d.thinkOpen = d.next
				d.next++
				d.push(Event{Type: EventBlockStart, Index: d.thinkOpen, PartType: PartThinking})
			}
			d.push(Event{Type: EventDelta, Index: d.thinkOpen, PartType: PartThinking, Text: *reasoning})
		}
		text := dl.Content
		if text == nil || *text == "" {
			text = dl.Refusal
		}
		if text != nil && *text != "" {
			if d.thinkOpen >= 0 {
				d.push(Event{Type: EventBlockStop, Index: d.thinkOpen})
				d.thinkOpen = -1
			}
			if d.textBlock < 0 {
				d.textBlock = d.next
				d.next++
				d.push(Event{Type: EventBlockStart, Index: d.textBlock, PartType: PartText})
			}
			d.push(Event{Type: EventDelta, Index: d.textBlock, PartType: PartText, Text: *text})
		}
		for _, tc := range dl.ToolCalls {
			ti := 0
			if tc.Index != nil {
				ti = *tc.Index
			}
			b, ok := d.tools[ti]
			if !ok {
				d.closeText()
				// OpenAI streams tool calls one after the other: a new one ends the previous.
				for _, ob := range d.openTools {
					d.push(Event{Type: EventBlockStop, Index: ob})
				}
				d.openTools = d.openTools[:0]
				b = d.next
				d.next++
				d.tools[ti] = b
				d.openTools = append(d.openTools, b)
				d.push(Event{Type: EventBlockStart, Index: b, PartType: PartToolCall, ToolCallID: tc.ID, ToolName: tc.Function.Name})
			}
			if tc.Function.Arguments != "" {
				d.push(Event{Type: EventDelta, Index: b, PartType: PartToolCall, Arguments: tc.Function.Arguments})
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			d.finished = true
			d.stop = stopFromFinish(*ch.FinishReason)
		}
	}
	if c.Usage != nil {
		d.push(Event{Type: EventUsage, Usage: c.Usage.usage()})
	}
	return nil
}
