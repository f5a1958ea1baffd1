package llm

import (
	"encoding/json"
	"strings"

	"github.com/agentgw/agentgateway/internal/jsonscan"
)

// decodeOARequestFast decodes an OpenAI chat request with the JSON scanner into what
// decodeOARequestStd (encoding/json) makes of it. ok is false for anything it does not take as an
// ordinary, valid request (a type error, an unsupported role or part, a duplicate key, n > 1...):
// decodeOARequestStd then decodes the body and reports the error. FuzzOARequestDecoder checks the
// two agree.
func decodeOARequestFast(body []byte) (*Request, bool) {
	top, err := jsonscan.Scan(body, nil)
	if err != nil || !jsonscan.IsObject(body, top) {
		return nil, false
	}
	d := &scanDec{b: body}
	req := &Request{}
	var messages, tools, toolChoice, stop jsonscan.Span
	var maxTokens, maxCompletion int
	var hasMax, hasMaxCompletion bool
	var parallel, parallelSet bool
	var effort string
	for k, v := range jsonscan.Members(body, top) {
		switch {
		case k.Matches("model"):
			req.Model = d.str(v)
		case k.Matches("messages"):
			messages = v
		case k.Matches("tools"):
			tools = v
		case k.Matches("tool_choice"):
			toolChoice = v
		case k.Matches("max_tokens"):
			maxTokens, hasMax = d.integer(v)
		case k.Matches("max_completion_tokens"):
			maxCompletion, hasMaxCompletion = d.integer(v)
		case k.Matches("temperature"):
			req.Temperature = d.float(v)
		case k.Matches("top_p"):
			req.TopP = d.float(v)
		case k.Matches("stop"):
			stop = v
		case k.Matches("stream"):
			if s, set := d.boolean(v); set {
				req.Stream = s
			}
		case k.Matches("stream_options"):
			if d.object(v) {
				for k, v := range jsonscan.Members(body, v) {
					if k.Matches("include_usage") {
						if u, set := d.boolean(v); set {
							req.IncludeUsage = u
						}
					}
				}
			}
		case k.Matches("user"):
			req.User = d.str(v)
		case k.Matches("parallel_tool_calls"):
			parallel, parallelSet = d.boolean(v)
		case k.Matches("reasoning_effort"):
			effort = d.str(v)
		case k.Matches("n"):
			if n, set := d.integer(v); set && n > 1 {
				return nil, false
			}
		}
		if d.bad {
			return nil, false
		}
	}
	if req.Model == "" {
		return nil, false
	}
	if hasMaxCompletion {
		req.MaxTokens = maxCompletion
	} else if hasMax {
		req.MaxTokens = maxTokens
	}
	if effort != "" {
		req.Thinking = &Thinking{Effort: effort}
	}
	if stop.Found() && !d.null(stop) {
		if jsonscan.IsString(body, stop) {
			req.Stop = []string{d.str(stop)}
		} else {
			list := make([]string, 0, d.count(stop))
			if _, ok := d.array(stop, func(_ int, e jsonscan.Span) { list = append(list, d.str(e)) }); !ok {
				return nil, false
			}
			req.Stop = list
		}
	}
	if n := d.count(tools); n > 0 {
		req.Tools = make([]Tool, 0, n)
	}
	d.array(tools, func(_ int, e jsonscan.Span) {
		if !d.object(e) {
			d.bad = true
			return
		}
		var t Tool
		typ := ""
		for k, v := range jsonscan.Members(body, e) {
			switch {
			case k.Matches("type"):
				typ = d.enum(v, "function")
			case k.Matches("function"):
				if !d.object(v) {
					continue
				}
				for k, v := range jsonscan.Members(body, v) {
					switch {
					case k.Matches("name"):
						t.Name = d.str(v)
					case k.Matches("description"):
						t.Description = d.str(v)
					case k.Matches("parameters"):
						t.Parameters = d.raw(v)
					case k.Matches("strict"):
						if s, set := d.boolean(v); set {
							t.Strict = s
						}
					}
				}
			}
		}
		if typ != "function" {
			d.bad = true
		}
		req.Tools = append(req.Tools, t)
	})
	if d.bad {
		return nil, false
	}
	if toolChoice.Found() && !d.null(toolChoice) {
		tc, ok := d.oaToolChoice(toolChoice)
		if !ok {
			return nil, false
		}
		req.ToolChoice = tc
	}
	if parallelSet && !parallel {
		if req.ToolChoice == nil {
			req.ToolChoice = &ToolChoice{Mode: ToolChoiceAuto}
		}
		req.ToolChoice.DisableParallel = true
	}
	if !d.oaMessages(req, messages) {
		return nil, false
	}
	return req, true
}

func (d *scanDec) oaToolChoice(v jsonscan.Span) (*ToolChoice, bool) {
	if jsonscan.IsString(d.b, v) {
		switch d.enum(v, "auto", "none", "required") {
		case "auto":
			return &ToolChoice{Mode: ToolChoiceAuto}, true
		case "none":
			return &ToolChoice{Mode: ToolChoiceNone}, true
		case "required":
			return &ToolChoice{Mode: ToolChoiceRequired}, true
		}
		return nil, false
	}
	if !d.object(v) {
		return nil, false
	}
	var typ, name string
	for k, v := range jsonscan.Members(d.b, v) {
		switch {
		case k.Matches("type"):
			typ = d.str(v)
		case k.Matches("function"):
			if d.object(v) {
				for k, v := range jsonscan.Members(d.b, v) {
					if k.Matches("name") {
						name = d.str(v)
					}
				}
			}
		}
	}
	if d.bad || typ != "function" || name == "" {
		return nil, false
	}
	return &ToolChoice{Mode: ToolChoiceTool, Name: name}, true
}

// oaMessages decodes the messages array into req.
func (d *scanDec) oaMessages(req *Request, v jsonscan.Span) bool {
	if n := d.count(v); n > 0 {
		req.Messages = make([]Message, 0, n)
	}
	d.array(v, func(_ int, e jsonscan.Span) {
		if d.bad || !d.object(e) {
			d.bad = true
			return
		}
		var role, name, toolCallID, reasoning string
		var content, toolCalls jsonscan.Span
		for k, v := range jsonscan.Members(d.b, e) {
			switch {
			case k.Matches("role"):
				role = d.enum(v, "user", "assistant", "system", "tool", "developer")
			case k.Matches("content"):
				content = v
			case k.Matches("name"):
				name = d.str(v)
			case k.Matches("tool_calls"):
				toolCalls = v
			case k.Matches("tool_call_id"):
				toolCallID = d.str(v)
			case k.Matches("reasoning_content"):
				reasoning = d.str(v)
			case k.Matches("refusal"):
				d.checkStr(v)
			}
		}
		var calls []Part
		if toolCalls.Found() {
			calls = d.oaToolCalls(toolCalls)
		}
		parts := d.oaContent(content)
		if d.bad {
			return
		}
		switch role {
		case "system", "developer":
			req.System = append(req.System, parts...)
		case "user":
			req.Messages = append(req.Messages, Message{Role: RoleUser, Parts: parts, Name: name})
		case "assistant":
			msg := Message{Role: RoleAssistant, Name: name}
			if reasoning != "" {
				msg.Parts = append(msg.Parts, Part{Type: PartThinking, Text: reasoning})
			}
			msg.Parts = append(msg.Parts, parts...)
			msg.Parts = append(msg.Parts, calls...)
			req.Messages = append(req.Messages, msg)
		case "tool":
			req.Messages = append(req.Messages, Message{Role: RoleTool, Parts: []Part{{Type: PartToolResult, ToolCallID: toolCallID, Content: parts}}})
		default:
			d.bad = true
		}
	})
	if len(req.Messages) == 0 {
		req.Messages = nil // only system messages: as encoding/json's path leaves it
	}
	return !d.bad
}

// oaToolCalls reads an assistant message's tool_calls as tool call parts.
func (d *scanDec) oaToolCalls(v jsonscan.Span) []Part {
	var calls []Part
	d.array(v, func(_ int, e jsonscan.Span) {
		if !d.object(e) {
			d.bad = true
			return
		}
		p := Part{Type: PartToolCall}
		var args string
		for k, v := range jsonscan.Members(d.b, e) {
			switch {
			case k.Matches("index"):
				d.integer(v)
			case k.Matches("id"):
				p.ToolCallID = d.str(v)
			case k.Matches("type"):
				d.checkStr(v)
			case k.Matches("function"):
				if !d.object(v) {
					continue
				}
				for k, v := range jsonscan.Members(d.b, v) {
					switch {
					case k.Matches("name"):
						p.ToolName = d.str(v)
					case k.Matches("arguments"):
						args = d.str(v)
					}
				}
			}
		}
		p.Arguments = json.RawMessage(args)
		if strings.TrimSpace(args) == "" {
			p.Arguments = json.RawMessage("{}")
		}
		calls = append(calls, p)
	})
	return calls
}

// oaContent reads message content: null, a string, or an array of text and image_url parts.
func (d *scanDec) oaContent(v jsonscan.Span) []Part {
	if !v.Found() || d.null(v) {
		return nil
	}
	if jsonscan.IsString(d.b, v) {
		return []Part{{Type: PartText, Text: d.str(v)}}
	}
	parts := make([]Part, 0, d.count(v))
	if _, ok := d.array(v, func(_ int, e jsonscan.Span) {
		if !d.object(e) {
			d.bad = true
			return
		}
		var typ, text, url, detail string
		hasURL := false
		for k, v := range jsonscan.Members(d.b, e) {
			switch {
			case k.Matches("type"):
				typ = d.enum(v, "text", "image_url")
			case k.Matches("text"):
				text = d.str(v)
			case k.Matches("image_url"):
				if !d.object(v) {
					continue
				}
				hasURL = true
				for k, v := range jsonscan.Members(d.b, v) {
					switch {
					case k.Matches("url"):
						url = d.str(v)
					case k.Matches("detail"):
						detail = d.str(v)
					}
				}
			}
		}
		switch typ {
		case "text":
			parts = append(parts, Part{Type: PartText, Text: text})
		case "image_url":
			if !hasURL || url == "" {
				d.bad = true
				return
			}
			parts = append(parts, imagePart(url, detail))
		default:
			d.bad = true
		}
	}); !ok {
		d.bad = true
	}
	return parts
}
