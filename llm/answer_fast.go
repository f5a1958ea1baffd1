package llm

import (
	"strconv"

	"github.com/agentgw/agentgateway/internal/jsonscan"
)

// The answer half of a translated call: an Anthropic answer decoded with the JSON scanner and an
// OpenAI answer appended into one buffer, each falling back to encoding/json exactly as the request
// half does (FuzzANResponseDecoder and FuzzOAResponseEncoder check they agree).

// int64 reads an int64 as encoding/json does (0 for null).
func (d *scanDec) int64(v jsonscan.Span) int64 {
	if d.null(v) {
		return 0
	}
	if !d.isNumber(v) {
		d.bad = true
		return 0
	}
	n, err := strconv.ParseInt(string(v.In(d.b)), 10, 64)
	if err != nil {
		d.bad = true
	}
	return n
}

// decodeANResponseFast decodes an Anthropic message as decodeANResponseStd does; ok is false when
// encoding/json must decide.
func decodeANResponseFast(body []byte) (*Response, bool) {
	top, err := jsonscan.Scan(body, nil)
	if err != nil || !jsonscan.IsObject(body, top) {
		return nil, false
	}
	d := &scanDec{b: body}
	resp := &Response{StopReason: StopEndTurn}
	var content jsonscan.Span
	for k, v := range jsonscan.Members(body, top) {
		switch {
		case k.Matches("id"):
			resp.ID = d.str(v)
		case k.Matches("model"):
			resp.Model = d.str(v)
		case k.Matches("type"), k.Matches("role"):
			d.checkStr(v)
		case k.Matches("content"):
			content = v
		case k.Matches("stop_reason"):
			if !d.null(v) {
				resp.StopReason = StopReason(d.enum(v, "end_turn", "max_tokens", "tool_use", "stop_sequence", "pause_turn", "refusal"))
			}
		case k.Matches("stop_sequence"):
			resp.StopSequence = d.str(v)
		case k.Matches("usage"):
			if d.object(v) {
				var u anUsage
				for k, v := range jsonscan.Members(body, v) {
					switch {
					case k.Matches("input_tokens"):
						u.InputTokens = d.int64(v)
					case k.Matches("output_tokens"):
						u.OutputTokens = d.int64(v)
					case k.Matches("cache_read_input_tokens"):
						u.CacheReadInputTokens = d.int64(v)
					case k.Matches("cache_creation_input_tokens"):
						u.CacheCreationInputTokens = d.int64(v)
					}
				}
				resp.Usage = u.usage()
			}
		}
		if d.bad {
			return nil, false
		}
	}
	d.array(content, func(_ int, e jsonscan.Span) {
		if d.bad {
			return
		}
		if !d.object(e) {
			d.bad = true // a null block is a zero block to encoding/json: left to it
			return
		}
		b := d.anBlock(e)
		if d.bad {
			return
		}
		if p, err := b.part(); err == nil {
			resp.Parts = append(resp.Parts, p)
		}
	})
	if d.bad {
		return nil, false
	}
	return resp, true
}

// anBlock reads a content block into the wire struct, so that anBlock.part interprets it as for
// encoding/json.
func (d *scanDec) anBlock(e jsonscan.Span) anBlock {
	var b anBlock
	for k, v := range jsonscan.Members(d.b, e) {
		switch {
		case k.Matches("type"):
			b.Type = d.enum(v, "text", "tool_use", "thinking", "redacted_thinking", "tool_result", "image")
		case k.Matches("text"):
			b.Text = d.str(v)
		case k.Matches("source"):
			if d.object(v) {
				s := &anSource{}
				for k, v := range jsonscan.Members(d.b, v) {
					switch {
					case k.Matches("type"):
						s.Type = d.str(v)
					case k.Matches("media_type"):
						s.MediaType = d.str(v)
					case k.Matches("data"):
						s.Data = d.str(v)
					case k.Matches("url"):
						s.URL = d.str(v)
					}
				}
				b.Source = s
			}
		case k.Matches("id"):
			b.ID = d.str(v)
		case k.Matches("name"):
			b.Name = d.str(v)
		case k.Matches("input"):
			b.Input = d.raw(v)
		case k.Matches("tool_use_id"):
			b.ToolUseID = d.str(v)
		case k.Matches("content"):
			b.Content = d.raw(v)
		case k.Matches("is_error"):
			if e, set := d.boolean(v); set {
				b.IsError = e
			}
		case k.Matches("thinking"):
			b.Thinking = d.str(v)
		case k.Matches("signature"):
			b.Signature = d.str(v)
		case k.Matches("data"):
			b.Data = d.str(v)
		case k.Matches("cache_control"):
			b.Cache = d.raw(v)
		}
	}
	return b
}

// appendOAResponse appends the chat.completion answering resp, created being its Unix time: the
// bytes json.Marshal made of the response struct before (a Response has no value it refuses).
func appendOAResponse(dst []byte, resp *Response, created int64) []byte {
	dst = appendJSONStr(append(dst, `{"id":`...), resp.ID, true)
	dst = strconv.AppendInt(append(dst, `,"object":"chat.completion","created":`...), created, 10)
	dst = appendJSONStr(append(dst, `,"model":`...), resp.Model, true)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	var texts, thinkParts, calls int
	for i := range resp.Parts {
		switch p := &resp.Parts[i]; {
		case p.Text != "" && p.Type == PartText:
			texts++
		case p.Text != "" && p.Type == PartThinking:
			thinkParts++
		case p.Type == PartToolCall:
			calls++
		}
	}
	// The content is all text parts joined; null when that is empty and there are tool calls.
	if texts == 0 && calls > 0 {
		dst = append(dst, "null"...)
	} else {
		dst = appendJoined(dst, resp.Parts, PartText)
	}
	if calls > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		n := 0
		for i := range resp.Parts {
			p := &resp.Parts[i]
			if p.Type != PartToolCall {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, '{')
			if p.ToolCallID != "" {
				dst = appendJSONStr(append(dst, `"id":`...), p.ToolCallID, true)
				dst = append(dst, ',')
			}
			dst = append(dst, `"type":"function","function":{`...)
			if p.ToolName != "" {
				dst = appendJSONStr(append(dst, `"name":`...), p.ToolName, true)
				dst = append(dst, ',')
			}
			dst = appendJSONStr(append(dst, `"arguments":`...), string(p.Arguments), true)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	if thinkParts > 0 {
		dst = appendJoined(append(dst, `,"reasoning_content":`...), resp.Parts, PartThinking)
	}
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	dst = appendJSONStr(dst, finishReason(resp.StopReason), true)
	u := &resp.Usage
	dst = strconv.AppendInt(append(dst, `}],"usage":{"prompt_tokens":`...), u.InputTokens, 10)
	dst = strconv.AppendInt(append(dst, `,"completion_tokens":`...), u.OutputTokens, 10)
	dst = strconv.AppendInt(append(dst, `,"total_tokens":`...), u.InputTokens+u.OutputTokens, 10)
	dst = strconv.AppendInt(append(dst, `,"prompt_tokens_details":{"cached_tokens":`...), u.CachedInputTokens, 10)
	dst = strconv.AppendInt(append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...), u.ReasoningTokens, 10)
	return append(dst, "}}}"...)
}

// appendJoined appends the text of the parts of type t, joined, as one JSON string. The escaping
// is per byte but for invalid UTF-8, which could become valid across a join: such texts are joined
// first.
func appendJoined(dst []byte, parts []Part, t PartType) []byte {
	n, one := 0, -1
	for i := range parts {
		if parts[i].Type == t && parts[i].Text != "" {
			n++
			one = i
		}
	}
	switch n {
	case 0:
		return append(dst, `""`...)
	case 1:
		return appendJSONStr(dst, parts[one].Text, true)
	}
	size := 0
	for i := range parts {
		if parts[i].Type == t {
			size += len(parts[i].Text)
		}
	}
	joined := make([]byte, 0, size)
	for i := range parts {
		if parts[i].Type == t {
			joined = append(joined, parts[i].Text...)
		}
	}
	return appendJSONStr(dst, string(joined), true)
}
