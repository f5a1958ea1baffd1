package llm

import (
	"bytes"
	"context"
	"encoding/json"
)

// The request side of governance works on the client's own JSON (a generic tree), before any
// translation: fields, prompts and masks then reach every provider, and a same-wire call keeps the
// fields the neutral form does not model.

func parseDoc(body []byte) (map[string]any, *Error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		if err == nil {
			err = errNotObject
		}
		return nil, asError(malformed(err))
	}
	return doc, nil
}

var errNotObject = jsonError("the body is not a JSON object")

type jsonError string

func (e jsonError) Error() string { return string(e) }

func marshalDoc(doc map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// setFields sets defaults (where absent) and overrides (always; nil removes) on the top level.
func setFields(doc map[string]any, defaults, overrides map[string]any) {
	for k, v := range defaults {
		if _, ok := doc[k]; !ok {
			doc[k] = v
		}
	}
	for k, v := range overrides {
		if v == nil {
			delete(doc, k)
			continue
		}
		doc[k] = v
	}
}

// slot is one text of a request that guards inspect, with where it is.
type slot struct {
	role  string
	scope Scope
	text  string
	set   func(string)
}

// collectSlots lists the texts of a request in the client's format.
func collectSlots(format string, doc map[string]any) []slot {
	var out []slot
	add := func(role string, scope Scope, text string, set func(string)) {
		out = append(out, slot{role, scope, text, set})
	}
	// textOrParts visits a content that is a string or a list of parts with "text".
	textOrParts := func(role string, scope Scope, holder map[string]any, key string) {
		switch c := holder[key].(type) {
		case string:
			add(role, scope, c, func(s string) { holder[key] = s })
		case []any:
			for _, p := range c {
				pm, ok := p.(map[string]any)
				if !ok {
					continue
				}
				if t, ok := pm["text"].(string); ok {
					add(role, scope, t, func(s string) { pm["text"] = s })
				}
			}
		}
	}
	switch format {
	case "openai":
		for _, m := range asList(doc["messages"]) {
			mm, ok := m.(map[string]any)
			if !ok {
				continue
			}
			role, _ := mm["role"].(string)
			textOrParts(role, roleScope(role), mm, "content")
			for _, tc := range asList(mm["tool_calls"]) {
				if fn, ok := asMap(tc)["function"].(map[string]any); ok {
					if a, ok := fn["arguments"].(string); ok {
						add(role, ScopeToolInput, a, func(s string) { fn["arguments"] = s })
					}
				}
			}
		}
	case "anthropic":
		textOrParts("system", ScopeSystemPrompt, doc, "system")
		for _, m := range asList(doc["messages"]) {
			mm, ok := m.(map[string]any)
			if !ok {
				continue
			}
			role, _ := mm["role"].(string)
			if s, ok := mm["content"].(string); ok {
				add(role, ScopeMessages, s, func(s string) { mm["content"] = s })
				continue
			}
			for _, b := range asList(mm["content"]) {
				bm := asMap(b)
				switch bm["type"] {
				case "text":
					if t, ok := bm["text"].(string); ok {
						add(role, ScopeMessages, t, func(s string) { bm["text"] = s })
					}
				case "tool_use":
					walkStrings(bm, "input", func(t string, set func(string)) { add(role, ScopeToolInput, t, set) })
				case "tool_result":
					textOrParts("tool", ScopeToolOutput, bm, "content")
				}
			}
		}
	case "openai-responses":
		if _, ok := doc["instructions"].(string); ok {
			textOrParts("system", ScopeSystemPrompt, doc, "instructions")
		}
		if _, ok := doc["input"].(string); ok {
			textOrParts("user", ScopeMessages, doc, "input")
			break
		}
		for _, it := range asList(doc["input"]) {
			im := asMap(it)
			switch im["type"] {
			case "function_call":
				if _, ok := im["arguments"].(string); ok {
					textOrParts("assistant", ScopeToolInput, im, "arguments")
				}
			case "function_call_output":
				textOrParts("tool", ScopeToolOutput, im, "output")
			default:
				if role, ok := im["role"].(string); ok {
					textOrParts(role, roleScope(role), im, "content")
				}
			}
		}
	default:
		// A format this file does not know: every "text" and string "content" is a message.
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, c := range x {
					if s, ok := c.(string); ok && (k == "text" || k == "content") {
						add("user", ScopeMessages, s, func(s string) { x[k] = s })
						continue
					}
					walk(c)
				}
			case []any:
				for _, c := range x {
					walk(c)
				}
			}
		}
		walk(doc)
	}
	return out
}

// walkStrings visits every string under holder[key] (tool arguments given as a JSON object).
func walkStrings(holder map[string]any, key string, fn func(string, func(string))) {
	switch x := holder[key].(type) {
	case string:
		fn(x, func(s string) { holder[key] = s })
	case map[string]any:
		for k := range x {
			walkStrings(x, k, fn)
		}
	case []any:
		for i := range x {
			i := i
			switch y := x[i].(type) {
			case string:
				fn(y, func(s string) { x[i] = s })
			case map[string]any:
				for k := range y {
					walkStrings(y, k, fn)
				}
			}
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// guardRequest runs request guards over the texts of a request, masking in place.
func (gc *govCall) guardRequest(ctx context.Context, format string, doc map[string]any, guards []*Guard) *Error {
	if len(guards) == 0 {
		return nil
	}
	slots := collectSlots(format, doc)
	for _, g := range guards {
		if g.kind == kindWebhook && g.webhook.raw != nil { // a raw processor sees every message
			changed, e := g.webhook.processRaw(ctx, gc, g, doc, gc.bodyLen)
			if e != nil {
				return e
			}
			if changed { // later guards inspect the new messages
				slots = collectSlots(format, doc)
			}
			continue
		}
		var in []int
		for i, s := range slots {
			if g.inScope(s.scope) {
				in = append(in, i)
			}
		}
		if len(in) == 0 {
			continue
		}
		switch g.kind {
		case kindRegex:
			for _, i := range in {
				out, rejected := g.regexText(slots[i].text)
				if rejected {
					return rejectionError(g)
				}
				if out != slots[i].text {
					slots[i].text = out
					slots[i].set(out)
				}
			}
		case kindWebhook:
			msgs := make([]whMessage, len(in))
			for k, i := range in {
				msgs[k] = whMessage{Role: slots[i].role, Content: slots[i].text}
			}
			out, e := g.webhook.judgeMessages(ctx, gc.req, g, msgs)
			if e != nil {
				return e
			}
			for k, i := range in {
				if out != nil && out[k] != slots[i].text {
					slots[i].text = out[k]
					slots[i].set(out[k])
				}
			}
		case kindBedrockGuardrails, kindModelArmor, kindAzureContentSafety:
			texts := make([]string, len(in))
			for k, i := range in {
				texts[k] = slots[i].text
			}
			out, e := g.cloud.judge(ctx, g, texts, false)
			if e != nil {
				return e
			}
			for k, i := range in {
				if out != nil && out[k] != slots[i].text {
					slots[i].text = out[k]
					slots[i].set(out[k])
				}
			}
		case kindInjection:
			for _, i := range in {
				if g.injected(slots[i].text) {
					return rejectionError(g)
				}
			}
		case kindModeration:
			texts := make([]string, 0, len(in))
			for _, i := range in {
				if slots[i].text != "" {
					texts = append(texts, slots[i].text)
				}
			}
			if e := g.moderation.judge(ctx, g, texts); e != nil {
				return e
			}
		}
	}
	return nil
}

// enrich adds the prompt messages to a request in the client's format.
func enrich(format string, doc map[string]any, p *Prompts) {
	msg := func(m PromptMessage) map[string]any { return map[string]any{"role": m.Role, "content": m.Content} }
	isSystem := func(m PromptMessage) bool { return m.Role == "system" || m.Role == "developer" }
	switch format {
	case "anthropic":
		var preSys, postSys []any
		var pre, post []any
		for _, m := range p.Prepend {
			if isSystem(m) {
				preSys = append(preSys, map[string]any{"type": "text", "text": m.Content})
			} else {
				pre = append(pre, msg(m))
			}
		}
		for _, m := range p.Append {
			if isSystem(m) {
				postSys = append(postSys, map[string]any{"type": "text", "text": m.Content})
			} else {
				post = append(post, msg(m))
			}
		}
		if len(preSys)+len(postSys) > 0 {
			var sys []any
			switch s := doc["system"].(type) {
			case string:
				sys = []any{map[string]any{"type": "text", "text": s}}
			case []any:
				sys = s
			}
			doc["system"] = concatAny(preSys, sys, postSys)
		}
		doc["messages"] = concatAny(pre, asList(doc["messages"]), post)
	case "openai-responses":
		item := func(m PromptMessage) any {
			return map[string]any{"type": "message", "role": m.Role, "content": m.Content}
		}
		var pre, post []any
		for _, m := range p.Prepend {
			pre = append(pre, item(m))
		}
		for _, m := range p.Append {
			post = append(post, item(m))
		}
		in := asList(doc["input"])
		if s, ok := doc["input"].(string); ok {
			in = []any{map[string]any{"type": "message", "role": "user", "content": s}}
		}
		doc["input"] = concatAny(pre, in, post)
	default: // OpenAI chat and its kin
		var pre, post []any
		for _, m := range p.Prepend {
			pre = append(pre, msg(m))
		}
		for _, m := range p.Append {
			post = append(post, msg(m))
		}
		doc["messages"] = concatAny(pre, asList(doc["messages"]), post)
	}
}

func concatAny(lists ...[]any) []any {
	var out []any
	for _, l := range lists {
		out = append(out, l...)
	}
	if out == nil {
		out = []any{}
	}
	return out
}
