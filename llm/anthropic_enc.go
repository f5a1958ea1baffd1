package llm

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// A hand-written encoder of the Anthropic request: the same bytes json.Marshal makes of anRequest
// (field order, omitempty, HTML escaping, compacted raw values), appended into one buffer sized up
// front. Anything it does not take as ordinary (an unknown part type, arguments that are not a JSON
// object, an invalid raw value, a NaN) makes it give up, and encodeANRequestStd, the encoding/json
// encoder, answers instead, errors included. FuzzANRequestEncoder checks the two agree.

// appendANRequest appends the Anthropic request body for req; ok is false when the request needs
// encodeANRequestStd.
func appendANRequest(dst []byte, req *Request) ([]byte, bool) {
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultAnthropicMaxTokens
	}
	budget := 0
	if t := req.Thinking; t != nil {
		if budget = t.BudgetTokens; budget == 0 {
			budget = budgetForEffort(t.Effort)
		}
		if budget > 0 && maxTokens <= budget {
			maxTokens = budget + DefaultAnthropicMaxTokens
		}
	}
	dst = append(dst, `{"model":`...)
	dst = appendJSONStr(dst, req.Model, true)
	dst = append(dst, `,"max_tokens":`...)
	dst = strconv.AppendInt(dst, int64(maxTokens), 10)
	var ok bool
	if len(req.System) > 0 {
		dst = append(dst, `,"system":`...)
		if len(req.System) == 1 && req.System[0].CacheControl == nil {
			dst = appendJSONStr(dst, req.System[0].Text, true)
		} else {
			dst = append(dst, '[')
			for i := range req.System {
				if i > 0 {
					dst = append(dst, ',')
				}
				p := &req.System[i]
				dst = append(dst, `{"type":"text"`...)
				if p.Text != "" {
					dst = appendJSONStr(append(dst, `,"text":`...), p.Text, true)
				}
				if dst, ok = appendANCache(dst, p.CacheControl); !ok {
					return dst, false
				}
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
	}
	if dst, ok = appendANMessages(append(dst, `,"messages":`...), req.Messages); !ok {
		return dst, false
	}
	if len(req.Tools) > 0 {
		dst = append(dst, `,"tools":[`...)
		for i := range req.Tools {
			t := &req.Tools[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONStr(append(dst, `{"name":`...), t.Name, true)
			if t.Description != "" {
				dst = appendJSONStr(append(dst, `,"description":`...), t.Description, true)
			}
			schema := []byte(t.Parameters)
			if len(schema) == 0 || string(schema) == "null" {
				schema = []byte(`{"type":"object","properties":{}}`)
			}
			if dst, ok = appendRaw(append(dst, `,"input_schema":`...), schema); !ok {
				return dst, false
			}
			if dst, ok = appendANCache(dst, t.CacheControl); !ok {
				return dst, false
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if tc := req.ToolChoice; tc != nil && (len(req.Tools) > 0 || tc.Mode == ToolChoiceNone) {
		disable := tc.DisableParallel
		dst = append(dst, `,"tool_choice":{"type":`...)
		switch tc.Mode {
		case ToolChoiceAuto:
			dst = append(dst, `"auto"`...)
		case ToolChoiceNone:
			dst, disable = append(dst, `"none"`...), false
		case ToolChoiceRequired:
			dst = append(dst, `"any"`...)
		case ToolChoiceTool:
			dst = append(dst, `"tool"`...)
			if tc.Name != "" {
				dst = appendJSONStr(append(dst, `,"name":`...), tc.Name, true)
			}
		default:
			dst = append(dst, `""`...)
		}
		if disable {
			dst = append(dst, `,"disable_parallel_tool_use":true`...)
		}
		dst = append(dst, '}')
	}
	if req.Temperature != nil {
		if dst, ok = appendJSONFloat(append(dst, `,"temperature":`...), *req.Temperature); !ok {
			return dst, false
		}
	}
	if req.TopP != nil {
		if dst, ok = appendJSONFloat(append(dst, `,"top_p":`...), *req.TopP); !ok {
			return dst, false
		}
	}
	if req.TopK != nil {
		dst = strconv.AppendInt(append(dst, `,"top_k":`...), int64(*req.TopK), 10)
	}
	if len(req.Stop) > 0 {
		dst = append(dst, `,"stop_sequences":[`...)
		for i, s := range req.Stop {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONStr(dst, s, true)
		}
		dst = append(dst, ']')
	}
	if req.Stream {
		dst = append(dst, `,"stream":true`...)
	}
	if req.User != "" {
		dst = appendJSONStr(append(dst, `,"metadata":{"user_id":`...), req.User, true)
		dst = append(dst, '}')
	}
	if budget > 0 {
		dst = strconv.AppendInt(append(dst, `,"thinking":{"type":"enabled","budget_tokens":`...), int64(budget), 10)
		dst = append(dst, '}')
	}
	return append(dst, '}'), true
}

// anRole is the Anthropic role of a message: tool results travel in user turns.
func anRole(r Role) string {
	if r == RoleAssistant {
		return "assistant"
	}
	return "user"
}

// anSendable reports whether a part becomes a block (see EncodeRequest).
func anSendable(p *Part) bool {
	return !(p.Type == PartThinking && p.Signature == "") && !(p.Type == PartText && p.Text == "")
}

// appendANMessages appends the messages array: consecutive turns of one role merged into one (with
// the tool results of a merged user turn first), turns without a block left out.
func appendANMessages(dst []byte, msgs []Message) ([]byte, bool) {
	var ok bool
	n := 0
	for i := 0; i < len(msgs); {
		if !anHasBlock(&msgs[i]) {
			i++
			continue
		}
		// The group: msgs[i:j], the turns of this role up to the next turn with a block of another role.
		role := anRole(msgs[i].Role)
		j, turns := i+1, 1
		for ; j < len(msgs); j++ {
			if !anHasBlock(&msgs[j]) {
				continue
			}
			if anRole(msgs[j].Role) != role {
				break
			}
			turns++
		}
		if n == 0 {
			dst = append(dst, '[')
		} else {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"role":"`...)
		dst = append(dst, role...)
		dst = append(dst, `","content":[`...)
		first := true
		if role == "user" && turns > 1 {
			// tool_result blocks must come first in a user turn
			if dst, ok = appendANGroup(dst, msgs[i:j], 1, &first); !ok {
				return dst, false
			}
			if dst, ok = appendANGroup(dst, msgs[i:j], 2, &first); !ok {
				return dst, false
			}
		} else if dst, ok = appendANGroup(dst, msgs[i:j], 0, &first); !ok {
			return dst, false
		}
		dst = append(dst, "]}"...)
		i = j
	}
	if n == 0 {
		return append(dst, "null"...), true
	}
	return append(dst, ']'), true
}

func anHasBlock(m *Message) bool {
	for k := range m.Parts {
		if anSendable(&m.Parts[k]) {
			return true
		}
	}
	return false
}

// appendANGroup appends the blocks of msgs: all of them (which 0), the tool results (1) or the
// others (2).
func appendANGroup(dst []byte, msgs []Message, which int, first *bool) ([]byte, bool) {
	var ok bool
	for m := range msgs {
		for k := range msgs[m].Parts {
			p := &msgs[m].Parts[k]
			if !anSendable(p) || which == 1 && p.Type != PartToolResult || which == 2 && p.Type == PartToolResult {
				continue
			}
			if !*first {
				dst = append(dst, ',')
			}
			*first = false
			if dst, ok = appendANBlock(dst, p); !ok {
				return dst, false
			}
		}
	}
	return dst, true
}

// appendANBlock appends the block anBlockOf makes of p.
func appendANBlock(dst []byte, p *Part) ([]byte, bool) {
	var ok bool
	switch p.Type {
	case PartText:
		dst = append(dst, `{"type":"text"`...)
		if p.Text != "" {
			dst = appendJSONStr(append(dst, `,"text":`...), p.Text, true)
		}
	case PartImage:
		dst = append(dst, `{"type":"image","source":{"type":`...)
		if p.URL != "" && !(len(p.URL) >= 5 && p.URL[:5] == "data:") {
			dst = appendJSONStr(append(dst, `"url","url":`...), p.URL, true)
		} else {
			dst = append(dst, `"base64"`...)
			if p.MediaType != "" {
				dst = appendJSONStr(append(dst, `,"media_type":`...), p.MediaType, true)
			}
			if p.Data != "" {
				dst = appendJSONStr(append(dst, `,"data":`...), p.Data, true)
			}
		}
		dst = append(dst, '}')
	case PartToolCall:
		args := bytes.TrimSpace(p.Arguments)
		if len(args) == 0 || args[0] != '{' {
			return dst, false
		}
		dst = append(dst, `{"type":"tool_use"`...)
		if p.ToolCallID != "" {
			dst = appendJSONStr(append(dst, `,"id":`...), p.ToolCallID, true)
		}
		if p.ToolName != "" {
			dst = appendJSONStr(append(dst, `,"name":`...), p.ToolName, true)
		}
		if dst, ok = appendRaw(append(dst, `,"input":`...), p.Arguments); !ok {
			return dst, false
		}
	case PartToolResult:
		dst = append(dst, `{"type":"tool_result"`...)
		if p.ToolCallID != "" {
			dst = appendJSONStr(append(dst, `,"tool_use_id":`...), p.ToolCallID, true)
		}
		dst = append(dst, `,"content":`...)
		if len(p.Content) == 1 && p.Content[0].Type == PartText {
			dst = appendJSONStr(dst, p.Content[0].Text, true)
		} else {
			dst = append(dst, '[')
			for k := range p.Content {
				if k > 0 {
					dst = append(dst, ',')
				}
				if dst, ok = appendANBlock(dst, &p.Content[k]); !ok {
					return dst, false
				}
			}
			dst = append(dst, ']')
		}
		if p.IsError {
			dst = append(dst, `,"is_error":true`...)
		}
	case PartThinking:
		dst = append(dst, `{"type":"thinking"`...)
		if p.Text != "" {
			dst = appendJSONStr(append(dst, `,"thinking":`...), p.Text, true)
		}
		if p.Signature != "" {
			dst = appendJSONStr(append(dst, `,"signature":`...), p.Signature, true)
		}
		return append(dst, '}'), true // anBlockOf drops a thinking block's cache marker
	case PartRedactedThinking:
		dst = append(dst, `{"type":"redacted_thinking"`...)
		if p.Data != "" {
			dst = appendJSONStr(append(dst, `,"data":`...), p.Data, true)
		}
		return append(dst, '}'), true
	default:
		return dst, false
	}
	if dst, ok = appendANCache(dst, p.CacheControl); !ok {
		return dst, false
	}
	return append(dst, '}'), true
}

// appendANCache appends the cache_control member when c is set.
func appendANCache(dst []byte, c json.RawMessage) ([]byte, bool) {
	if len(c) == 0 {
		return dst, true
	}
	return appendRaw(append(dst, `,"cache_control":`...), c)
}

// appendRaw appends a raw JSON value as json.Marshal writes it; ok is false when it is not valid JSON.
func appendRaw(dst []byte, raw []byte) ([]byte, bool) {
	dst, err := appendRawJSON(dst, raw, true)
	return dst, err == nil
}

// anRequestSize estimates the encoded size of req, so that the body is one allocation.
func anRequestSize(req *Request) int {
	n := 256 + len(req.Model)
	for i := range req.System {
		n += 32 + len(req.System[i].Text)
	}
	for i := range req.Tools {
		n += 64 + len(req.Tools[i].Name) + len(req.Tools[i].Description) + len(req.Tools[i].Parameters)
	}
	for i := range req.Messages {
		n += 32 + partsSize(req.Messages[i].Parts)
	}
	return n + n/16 // escapes
}

func partsSize(parts []Part) int {
	n := 0
	for i := range parts {
		p := &parts[i]
		n += 48 + len(p.Text) + len(p.URL) + len(p.Data) + len(p.ToolCallID) + len(p.ToolName) + len(p.Arguments) + len(p.Signature) + len(p.CacheControl)
		if len(p.Content) > 0 {
			n += partsSize(p.Content)
		}
	}
	return n
}
