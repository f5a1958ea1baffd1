package llm

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// OpenAIResponses is the OpenAI Responses API (POST /v1/responses) as a client [Format], streaming
// and not. It is stateless: previous_response_id and stored conversations are refused (the whole
// conversation must come as input items); text, images, function tools, function calls and their
// outputs, and reasoning summaries translate to every provider.
type OpenAIResponses struct{}

var _ Format = OpenAIResponses{}

// Name implements [Format]. No provider takes Responses bodies unchanged: requests always translate.
func (OpenAIResponses) Name() string { return "openai-responses" }

type rsRequest struct {
	Model              string          `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       string          `json:"instructions"`
	Tools              []rsTool        `json:"tools"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	MaxOutputTokens    int             `json:"max_output_tokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"top_p"`
	Stream             bool            `json:"stream"`
	ParallelToolCalls  *bool           `json:"parallel_tool_calls"`
	User               string          `json:"user"`
	PreviousResponseID string          `json:"previous_response_id"`
	Reasoning          *struct {
		Effort string `json:"effort"`
	} `json:"reasoning"`
}

type rsTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

type rsItem struct {
	Type             string          `json:"type"`
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	CallID           string          `json:"call_id"`
	Name             string          `json:"name"`
	Arguments        string          `json:"arguments"`
	Output           json.RawMessage `json:"output"`
	EncryptedContent string          `json:"encrypted_content"`
	Summary          []struct {
		Text string `json:"text"`
	} `json:"summary"`
}

type rsContent struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL string `json:"image_url"`
	Detail   string `json:"detail"`
}

// Peek implements [Format].
func (OpenAIResponses) Peek(body []byte) (Peek, error) {
	p, _, err := peekRequest(body, func() *Error {
		return &Error{Status: 400, Kind: ErrInvalidRequest, Message: "Missing required parameter: 'model'.", Param: "model", Err: ErrMalformedRequest}
	})
	p.IncludeUsage = err == nil
	return p, err
}

// DecodeRequest implements [Format].
func (OpenAIResponses) DecodeRequest(body []byte) (*Request, error) {
	var in rsRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, malformed(err)
	}
	if in.PreviousResponseID != "" {
		return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Param: "previous_response_id", Err: ErrUnsupported,
			Message: "previous_response_id is not supported by this gateway: send the whole conversation as input"}
	}
	req := &Request{Model: in.Model, MaxTokens: in.MaxOutputTokens, Temperature: in.Temperature, TopP: in.TopP, Stream: in.Stream,
		User: in.User, IncludeUsage: true}
	if in.Instructions != "" {
		req.System = append(req.System, Part{Type: PartText, Text: in.Instructions})
	}
	if in.Reasoning != nil && in.Reasoning.Effort != "" && in.Reasoning.Effort != "none" {
		req.Thinking = &Thinking{Effort: in.Reasoning.Effort}
	}
	for _, t := range in.Tools {
		if t.Type != "function" {
			return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Param: "tools", Err: ErrUnsupported,
				Message: fmt.Sprintf("tool type %q is not supported by this gateway (only function tools)", t.Type)}
		}
		req.Tools = append(req.Tools, Tool{Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict != nil && *t.Strict})
	}
	if len(in.ToolChoice) > 0 && string(in.ToolChoice) != "null" {
		var s string
		if json.Unmarshal(in.ToolChoice, &s) == nil {
			switch s {
			case "auto", "none", "required":
				req.ToolChoice = &ToolChoice{Mode: ToolChoiceMode(s)}
			default:
				return nil, invalid("tool_choice: unknown value %q", s)
			}
		} else {
			var o struct{ Type, Name string }
			if err := json.Unmarshal(in.ToolChoice, &o); err != nil || o.Type != "function" || o.Name == "" {
				return nil, invalid("tool_choice: want auto, none, required or {\"type\":\"function\",\"name\":...}")
			}
			req.ToolChoice = &ToolChoice{Mode: ToolChoiceTool, Name: o.Name}
		}
		if in.ParallelToolCalls != nil && !*in.ParallelToolCalls {
			req.ToolChoice.DisableParallel = true
		}
	}
	if len(in.Input) == 0 || string(in.Input) == "null" {
		return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Param: "input", Message: "Missing required parameter: 'input'.", Err: ErrMalformedRequest}
	}
	var text string
	if json.Unmarshal(in.Input, &text) == nil {
		req.Messages = []Message{{Role: RoleUser, Parts: []Part{{Type: PartText, Text: text}}}}
		return req, nil
	}
	var items []rsItem
	if err := json.Unmarshal(in.Input, &items); err != nil {
		return nil, invalid("input: want a string or an array of items: %v", err)
	}
	add := func(role Role, p Part) {
		if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == role && role != RoleUser {
			req.Messages[n-1].Parts = append(req.Messages[n-1].Parts, p)
			return
		}
		req.Messages = append(req.Messages, Message{Role: role, Parts: []Part{p}})
	}
	for i, it := range items {
		switch it.Type {
		case "", "message":
			parts, err := rsContentParts(it.Content)
			if err != nil {
				return nil, invalid("input[%d].content: %v", i, err)
			}
			switch it.Role {
			case "system", "developer":
				req.System = append(req.System, parts...)
			case "user":
				req.Messages = append(req.Messages, Message{Role: RoleUser, Parts: parts})
			case "assistant":
				for _, p := range parts {
					add(RoleAssistant, p)
				}
			default:
				return nil, invalid("input[%d].role: unknown role %q", i, it.Role)
			}
		case "function_call":
			args := json.RawMessage(it.Arguments)
			if strings.TrimSpace(it.Arguments) == "" {
				args = json.RawMessage("{}")
			} else if !json.Valid(args) {
				return nil, invalid("input[%d].arguments: not JSON", i)
			}
			add(RoleAssistant, Part{Type: PartToolCall, ToolCallID: it.CallID, ToolName: it.Name, Arguments: args})
		case "function_call_output":
			var out string
			if json.Unmarshal(it.Output, &out) != nil {
				parts, err := rsContentParts(it.Output)
				if err != nil {
					return nil, invalid("input[%d].output: %v", i, err)
				}
				add(RoleTool, Part{Type: PartToolResult, ToolCallID: it.CallID, Content: parts})
				continue
			}
			add(RoleTool, Part{Type: PartToolResult, ToolCallID: it.CallID, Content: []Part{{Type: PartText, Text: out}}})
		case "reasoning":
			var sb strings.Builder
			for _, s := range it.Summary {
				sb.WriteString(s.Text)
			}
			if it.EncryptedContent != "" {
				add(RoleAssistant, Part{Type: PartRedactedThinking, Data: it.EncryptedContent})
			} else if sb.Len() > 0 {
				add(RoleAssistant, Part{Type: PartThinking, Text: sb.String()})
			}
		default:
			return nil, &Error{Status: 400, Kind: ErrInvalidRequest, Param: fmt.Sprintf("input[%d].type", i), Err: ErrUnsupported,
				Message: fmt.Sprintf("input item type %q is not supported by this gateway", it.Type)}
		}
	}
	return req, nil
}

func rsContentParts(raw json.RawMessage) ([]Part, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []Part{{Type: PartText, Text: s}}, nil
	}
	var list []rsContent
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	parts := make([]Part, 0, len(list))
	for _, c := range list {
		switch c.Type {
		case "input_text", "output_text", "text", "refusal":
			parts = append(parts, Part{Type: PartText, Text: c.Text})
		case "input_image":
			if c.ImageURL == "" {
				return nil, fmt.Errorf("input_image without image_url (file IDs are not supported)")
			}
			parts = append(parts, imagePart(c.ImageURL, c.Detail))
		default:
			return nil, fmt.Errorf("content type %q is not supported", c.Type)
		}
	}
	return parts, nil
}

// --- responses ---

func rsUsage(u Usage) map[string]any {
	return map[string]any{
		"input_tokens": u.InputTokens, "input_tokens_details": map[string]any{"cached_tokens": u.CachedInputTokens},
		"output_tokens": u.OutputTokens, "output_tokens_details": map[string]any{"reasoning_tokens": u.ReasoningTokens},
		"total_tokens": u.InputTokens + u.OutputTokens,
	}
}

func rsID(prefix, base string, i int) string {
	if base == "" {
		base = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return prefix + base + "_" + strconv.Itoa(i)
}

// rsItemOf is the output item of a part (nil for parts the Responses API does not show).
func rsItemOf(p Part, id string) map[string]any {
	switch p.Type {
	case PartText:
		return map[string]any{"type": "message", "id": id, "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": p.Text, "annotations": []any{}}}}
	case PartToolCall:
		return map[string]any{"type": "function_call", "id": id, "call_id": p.ToolCallID, "name": p.ToolName, "arguments": string(p.Arguments), "status": "completed"}
	case PartThinking:
		return map[string]any{"type": "reasoning", "id": id, "summary": []any{map[string]any{"type": "summary_text", "text": p.Text}}}
	case PartRedactedThinking:
		return map[string]any{"type": "reasoning", "id": id, "summary": []any{}, "encrypted_content": p.Data}
	}
	return nil
}

func rsResponse(id, model string, created int64, status string, stop StopReason, output []any, u *Usage) map[string]any {
	if id == "" {
		id = "resp_gw"
	}
	r := map[string]any{"id": id, "object": "response", "created_at": created, "status": status, "model": model,
		"output": output, "error": nil, "incomplete_details": nil, "parallel_tool_calls": true, "tool_choice": "auto", "tools": []any{}}
	if status == "completed" && stop == StopMaxTokens {
		r["status"], r["incomplete_details"] = "incomplete", map[string]any{"reason": "max_output_tokens"}
	}
	if status == "completed" && stop == StopContentFilter {
		r["status"], r["incomplete_details"] = "incomplete", map[string]any{"reason": "content_filter"}
	}
	if u != nil {
		r["usage"] = rsUsage(*u)
	} else {
		r["usage"] = nil
	}
	return r
}

// EncodeResponse implements [Format].
func (OpenAIResponses) EncodeResponse(resp *Response) ([]byte, error) {
	output := []any{}
	for i, p := range resp.Parts {
		if it := rsItemOf(p, rsID(map[PartType]string{PartToolCall: "fc_", PartText: "msg_", PartThinking: "rs_", PartRedactedThinking: "rs_"}[p.Type], resp.ID, i)); it != nil {
			output = append(output, it)
		}
	}
	u := resp.Usage
	return json.Marshal(rsResponse(resp.ID, resp.Model, created(resp.Created), "completed", resp.StopReason, output, &u))
}

// ErrorBody implements [Format]: OpenAI's error object.
func (OpenAIResponses) ErrorBody(e *Error) []byte { return OpenAIChat{}.ErrorBody(e) }

func (OpenAIResponses) streamError(e *Error) []byte {
	o := oaErrorObject(e)
	b, _ := json.Marshal(map[string]any{"type": "error", "code": o["code"], "message": o["message"], "param": o["param"], "sequence_number": 0})
	return appendSSE(nil, "error", b)
}

// NewStreamEncoder implements [Format]: the Responses event sequence (response.created,
// response.in_progress, per item output_item.added, content_part.added / text deltas /
// function_call_arguments deltas / reasoning_summary_text deltas, their .done events,
// output_item.done, then response.completed with the whole response and usage).
func (OpenAIResponses) NewStreamEncoder(req *Request) StreamEncoder {
	return &rsStreamEncoder{model: req.Model, items: map[int]*rsOpenItem{}}
}

type rsOpenItem struct {
	out   int // output_index
	id    string
	typ   PartType
	text  strings.Builder
	call  Part
	sig   string
	data  string
	added bool
}

type rsStreamEncoder struct {
	id, model string
	created   int64
	seq       int
	started   bool
	done      bool
	items     map[int]*rsOpenItem
	output    []any
	next      int
	usage     Usage
	stop      StopReason
}

func (e *rsStreamEncoder) event(dst []byte, typ string, fields map[string]any) []byte {
	fields["type"] = typ
	fields["sequence_number"] = e.seq
	e.seq++
	b, _ := json.Marshal(fields)
	return appendSSE(dst, typ, b)
}

func (e *rsStreamEncoder) start(dst []byte) []byte {
	if e.started {
		return dst
	}
	e.started = true
	if e.id == "" {
		e.id = "resp_gw" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	e.created = time.Now().Unix()
	r := rsResponse(e.id, e.model, e.created, "in_progress", "", []any{}, nil)
	dst = e.event(dst, "response.created", map[string]any{"response": r})
	return e.event(dst, "response.in_progress", map[string]any{"response": r})
}

// Encode implements [StreamEncoder].
func (e *rsStreamEncoder) Encode(dst []byte, ev *Event) []byte {
	if e.done {
		return dst
	}
	switch ev.Type {
	case EventStart:
		if ev.ID != "" && !e.started {
			e.id = "resp_" + strings.TrimPrefix(ev.ID, "resp_")
		}
		if ev.Model != "" {
			e.model = ev.Model
		}
		e.usage.merge(ev.Usage)
		return e.start(dst)
	case EventBlockStart:
		dst = e.start(dst)
		it := &rsOpenItem{out: e.next, typ: ev.PartType}
		e.next++
		e.items[ev.Index] = it
		switch ev.PartType {
		case PartText:
			it.id = rsID("msg_", e.id, it.out)
			dst = e.event(dst, "response.output_item.added", map[string]any{"output_index": it.out,
				"item": map[string]any{"type": "message", "id": it.id, "status": "in_progress", "role": "assistant", "content": []any{}}})
			dst = e.event(dst, "response.content_part.added", map[string]any{"item_id": it.id, "output_index": it.out, "content_index": 0,
				"part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}}})
		case PartToolCall:
			it.id = rsID("fc_", e.id, it.out)
			it.call = Part{Type: PartToolCall, ToolCallID: ev.ToolCallID, ToolName: ev.ToolName}
			dst = e.event(dst, "response.output_item.added", map[string]any{"output_index": it.out,
				"item": map[string]any{"type": "function_call", "id": it.id, "call_id": ev.ToolCallID, "name": ev.ToolName, "arguments": "", "status": "in_progress"}})
		case PartThinking, PartRedactedThinking:
			it.id = rsID("rs_", e.id, it.out)
			it.data = ev.Data
			dst = e.event(dst, "response.output_item.added", map[string]any{"output_index": it.out,
				"item": map[string]any{"type": "reasoning", "id": it.id, "summary": []any{}}})
		}
		return dst
	case EventDelta:
		it := e.items[ev.Index]
		if it == nil {
			return dst
		}
		switch it.typ {
		case PartText:
			if ev.Text == "" {
				return dst
			}
			it.text.WriteString(ev.Text)
			return e.event(dst, "response.output_text.delta", map[string]any{"item_id": it.id, "output_index": it.out, "content_index": 0, "delta": ev.Text})
		case PartToolCall:
			if ev.Arguments == "" {
				return dst
			}
			it.text.WriteString(ev.Arguments)
			return e.event(dst, "response.function_call_arguments.delta", map[string]any{"item_id": it.id, "output_index": it.out, "delta": ev.Arguments})
		case PartThinking:
			if ev.Signature != "" {
				it.sig = ev.Signature
			}
			if ev.Text == "" {
				return dst
			}
			if !it.added {
				it.added = true
				dst = e.event(dst, "response.reasoning_summary_part.added", map[string]any{"item_id": it.id, "output_index": it.out, "summary_index": 0,
					"part": map[string]any{"type": "summary_text", "text": ""}})
			}
			it.text.WriteString(ev.Text)
			return e.event(dst, "response.reasoning_summary_text.delta", map[string]any{"item_id": it.id, "output_index": it.out, "summary_index": 0, "delta": ev.Text})
		}
		return dst
	case EventBlockStop:
		it := e.items[ev.Index]
		if it == nil {
			return dst
		}
		delete(e.items, ev.Index)
		var item map[string]any
		switch it.typ {
		case PartText:
			txt := it.text.String()
			dst = e.event(dst, "response.output_text.done", map[string]any{"item_id": it.id, "output_index": it.out, "content_index": 0, "text": txt})
			part := map[string]any{"type": "output_text", "text": txt, "annotations": []any{}}
			dst = e.event(dst, "response.content_part.done", map[string]any{"item_id": it.id, "output_index": it.out, "content_index": 0, "part": part})
			item = rsItemOf(Part{Type: PartText, Text: txt}, it.id)
		case PartToolCall:
			args := it.text.String()
			if args == "" {
				args = "{}"
			}
			dst = e.event(dst, "response.function_call_arguments.done", map[string]any{"item_id": it.id, "output_index": it.out, "arguments": args})
			it.call.Arguments = json.RawMessage(args)
			item = rsItemOf(it.call, it.id)
		case PartThinking:
			if it.added {
				dst = e.event(dst, "response.reasoning_summary_text.done", map[string]any{"item_id": it.id, "output_index": it.out, "summary_index": 0, "text": it.text.String()})
				dst = e.event(dst, "response.reasoning_summary_part.done", map[string]any{"item_id": it.id, "output_index": it.out, "summary_index": 0,
					"part": map[string]any{"type": "summary_text", "text": it.text.String()}})
			}
			item = rsItemOf(Part{Type: PartThinking, Text: it.text.String()}, it.id)
		case PartRedactedThinking:
			item = rsItemOf(Part{Type: PartRedactedThinking, Data: it.data}, it.id)
		default:
			return dst
		}
		e.output = append(e.output, item)
		return e.event(dst, "response.output_item.done", map[string]any{"output_index": it.out, "item": item})
	case EventFinish:
		e.stop = ev.StopReason
	case EventUsage:
		e.usage.merge(ev.Usage)
	case EventError:
		dst = e.start(dst)
		e.done = true
		o := oaErrorObject(ev.Err)
		return e.event(dst, "error", map[string]any{"code": o["code"], "message": o["message"], "param": o["param"]})
	case EventEnd:
		dst = e.start(dst)
		e.done = true
		out := e.output
		if out == nil {
			out = []any{}
		}
		u := e.usage
		r := rsResponse(e.id, e.model, e.created, "completed", e.stop, out, &u)
		typ := "response.completed"
		if r["status"] == "incomplete" {
			typ = "response.incomplete"
		}
		return e.event(dst, typ, map[string]any{"response": r})
	}
	return dst
}
