package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// rawProcessor makes a webhook request guard a message processor (agentgateway's webhook
// `messageFormat: raw`): the request's messages go out as the request has them, not reduced to
// {role, content} texts, so tool calls and cache markers survive the round trip. Context
// compression engines (Headroom's POST /v1/compress) are called this way.
type rawProcessor struct {
	path    string
	minSize int
}

// DefaultRawPath is the path a raw webhook is called at unless [Guard.Raw] names another.
const DefaultRawPath = "/request"

// Raw turns a webhook request guard into a raw message processor. The webhook is POSTed
// {"messages": [...], "model": "..."} at path ("" means [DefaultRawPath]), the messages being the
// request's own message objects (messages, or contents, or an input array); it answers either with
// the guardrail envelope {"action": {...}} (no body passes, a string body rejects with status_code,
// body.messages replaces the messages) or with a flat {"messages": [...]} that replaces them.
// Requests whose body is smaller than minSize bytes skip the call. Replacement messages must be
// JSON objects, not empty when the request had messages, and must leave no tool call without its
// result that had one; otherwise the call counts as failed (see [Guard.FailOpen]).
func (g *Guard) Raw(path string, minSize int) *Guard {
	if g.webhook == nil {
		g.err = errors.Join(g.err, errors.New("raw: applies to webhook guards only"))
		return g
	}
	if path == "" {
		path = DefaultRawPath
	}
	if minSize < 0 {
		g.err = errors.Join(g.err, fmt.Errorf("raw: minSizeBytes %d: must not be negative", minSize))
	}
	g.webhook.raw = &rawProcessor{path: "/" + strings.TrimPrefix(path, "/"), minSize: minSize}
	return g
}

// rawMessageKeys are the members that hold a request's message list, by format: chat completions,
// Anthropic messages and Bedrock Converse use messages, Gemini contents, the Responses API input.
var rawMessageKeys = []string{"messages", "contents", "input"}

// processRaw runs a raw webhook guard on doc, a request body of size bodyLen. It reports whether
// the messages were replaced.
func (w *webhookGuard) processRaw(ctx context.Context, gc *govCall, g *Guard, doc map[string]any, bodyLen int) (bool, *Error) {
	rp := w.raw
	if bodyLen < rp.minSize {
		return false, nil
	}
	key := ""
	var msgs []any
	for _, k := range rawMessageKeys {
		if l, ok := doc[k].([]any); ok {
			key, msgs = k, l
			break
		}
	}
	if key == "" {
		return false, nil // no message list (embeddings, a string input): nothing to process
	}
	in := map[string]any{"messages": msgs}
	if m, ok := doc["model"].(string); ok && m != "" {
		in["model"] = m
	}
	var ans struct {
		Action *struct {
			Body       json.RawMessage `json:"body"`
			StatusCode int             `json:"status_code"`
		} `json:"action"`
		Messages json.RawMessage `json:"messages"`
	}
	if err := w.send(ctx, gc.req, rp.path, in, &ans); err != nil {
		return false, failed(g, err)
	}
	var repl json.RawMessage
	switch {
	case ans.Action != nil:
		body := bytes.TrimSpace(ans.Action.Body)
		switch {
		case len(body) == 0 || string(body) == "null":
			return false, nil
		case body[0] == '"':
			rej := g.rejection
			var msg string
			if json.Unmarshal(body, &msg) == nil && msg != "" {
				rej.Body = msg
			}
			if s := ans.Action.StatusCode; s >= 100 && s <= 999 {
				rej.Status = s
			}
			return false, rejectWith(rej)
		}
		var b struct {
			Messages json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return false, failed(g, fmt.Errorf("webhook action body: %w", err))
		}
		if len(b.Messages) == 0 {
			return false, nil
		}
		repl = b.Messages
	case len(ans.Messages) > 0:
		repl = ans.Messages
	default:
		return false, failed(g, errors.New("webhook answer has neither action nor messages"))
	}
	dec := json.NewDecoder(bytes.NewReader(repl))
	dec.UseNumber()
	var out []any
	if err := dec.Decode(&out); err != nil {
		return false, failed(g, fmt.Errorf("webhook messages: %w", err))
	}
	if err := checkReplacement(msgs, out); err != nil {
		return false, failed(g, err)
	}
	doc[key] = out
	return true, nil
}

// checkReplacement refuses replacement messages that would turn a valid request into one the
// provider refuses: none for some, non-objects, or a tool call separated from its result.
func checkReplacement(orig, repl []any) error {
	if len(repl) == 0 && len(orig) > 0 {
		return errors.New("webhook returned no messages")
	}
	for i, m := range repl {
		if _, ok := m.(map[string]any); !ok {
			return fmt.Errorf("webhook message %d is not an object", i)
		}
	}
	before := unpairedToolCalls(orig)
	var broken []string
	for id := range unpairedToolCalls(repl) {
		if !before[id] {
			broken = append(broken, id)
		}
	}
	if len(broken) > 0 {
		return fmt.Errorf("webhook broke tool call pairing of %s", strings.Join(broken, ", "))
	}
	return nil
}

// unpairedToolCalls are the tool call ids that have a call without a result or a result without a
// call, in chat completions (tool_calls / tool_call_id), Anthropic (tool_use / tool_result blocks)
// and Responses (function_call / function_call_output items) messages.
func unpairedToolCalls(msgs []any) map[string]bool {
	calls, results := map[string]bool{}, map[string]bool{}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	for _, v := range msgs {
		m := asMap(v)
		if m == nil {
			continue
		}
		for _, c := range asList(m["tool_calls"]) {
			if id := str(asMap(c), "id"); id != "" {
				calls[id] = true
			}
		}
		if id := str(m, "tool_call_id"); id != "" {
			results[id] = true
		}
		for _, p := range asList(m["content"]) {
			pm := asMap(p)
			switch str(pm, "type") {
			case "tool_use":
				if id := str(pm, "id"); id != "" {
					calls[id] = true
				}
			case "tool_result":
				if id := str(pm, "tool_use_id"); id != "" {
					results[id] = true
				}
			}
		}
		switch str(m, "type") {
		case "function_call":
			calls[str(m, "call_id")] = true
		case "function_call_output":
			results[str(m, "call_id")] = true
		}
	}
	out := map[string]bool{}
	for id := range calls {
		if !results[id] {
			out[id] = true
		}
	}
	for id := range results {
		if !calls[id] {
			out[id] = true
		}
	}
	return out
}
