package llm

import "github.com/agentgw/agentgateway/internal/jsonscan"

// Nearly every event of a streamed answer is one token of text or tool arguments. Those are read
// with the JSON scanner; any other event, and any delta the scanner does not take as one of these,
// is decoded in full by encoding/json as before.

// anDelta reads an Anthropic content_block_delta event whose delta is text_delta or
// input_json_delta. ok is false for every other event.
func anDelta(data []byte) (index int, text string, arguments bool, ok bool) {
	var typ, idx, delta jsonscan.Span
	if _, err := jsonscan.Scan(data, func(k jsonscan.Key, v jsonscan.Span) {
		switch {
		case k.Matches("type"):
			typ = v
		case k.Matches("index"):
			idx = v
		case k.Matches("delta"):
			delta = v
		}
	}); err != nil {
		return 0, "", false, false
	}
	if raw, _ := jsonscan.RawString(data, typ); string(raw) != "content_block_delta" || !jsonscan.IsObject(data, delta) {
		return 0, "", false, false
	}
	if index, ok = smallInt(idx.In(data)); !ok {
		return 0, "", false, false
	}
	var value jsonscan.Span
	switch raw, _ := jsonscan.RawString(data, jsonscan.Field(data, delta, "type")); string(raw) {
	case "text_delta":
		value = jsonscan.Field(data, delta, "text")
	case "input_json_delta":
		value, arguments = jsonscan.Field(data, delta, "partial_json"), true
	default:
		return 0, "", false, false
	}
	if !jsonscan.IsString(data, value) {
		return 0, "", false, false
	}
	return index, jsonscan.Unquote(data, value), arguments, true
}

// smallInt parses a non-negative JSON integer of up to 9 digits.
func smallInt(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// bdTextDelta reads a Bedrock contentBlockDelta payload whose delta is text only
// ({"contentBlockIndex":0,"delta":{"text":"..."}}, with any other top-level member, such as the
// "p" padding, ignored). ok is false for every other payload.
func bdTextDelta(payload []byte) (index int, text string, ok bool) {
	var idx, delta jsonscan.Span
	if _, err := jsonscan.Scan(payload, func(k jsonscan.Key, v jsonscan.Span) {
		switch {
		case k.Matches("contentBlockIndex"):
			idx = v
		case k.Matches("delta"):
			delta = v
		}
	}); err != nil || !jsonscan.IsObject(payload, delta) {
		return 0, "", false
	}
	if index, ok = smallInt(idx.In(payload)); !ok {
		return 0, "", false
	}
	var value jsonscan.Span
	for k, v := range jsonscan.Members(payload, delta) {
		if !k.Matches("text") || value.Found() {
			return 0, "", false // a tool or reasoning delta, or something new: decoded in full
		}
		value = v
	}
	if !jsonscan.IsString(payload, value) {
		return 0, "", false
	}
	return index, jsonscan.Unquote(payload, value), true
}
