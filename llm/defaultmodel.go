package llm

import (
	"bytes"
	"encoding/json"
)

// DefaultModel names the model a request that names none (no "model", null or "") is routed as: the
// name is written into the body before routing. agentgateway's `ai` backend whose provider pins a
// model injects that model, so its clients need not send one.
func DefaultModel(name string) Option {
	return func(r *Router) error { r.defaultModel = name; return nil }
}

// withDefaultModel returns body naming model when it names none; any other body (including one the
// scanner refuses, which Peek then reports) is returned as it is.
func withDefaultModel(body []byte, model string) []byte {
	t, err := scanTop(body)
	if err != nil {
		return body
	}
	if s := t.model; s.Found() {
		if v := s.In(body); string(v) != "null" && string(v) != `""` {
			return body
		}
		q, _ := json.Marshal(model)
		out := make([]byte, 0, len(body)+len(q))
		out = append(append(append(out, body[:s.Start]...), q...), body[s.End:]...)
		return out
	}
	open := bytes.IndexByte(body, '{')
	if open < 0 {
		return body
	}
	member, _ := json.Marshal(map[string]string{"model": model})
	member = member[1 : len(member)-1] // "model":"..."
	rest := bytes.TrimLeft(body[open+1:], " \t\r\n")
	out := make([]byte, 0, len(body)+len(member)+1)
	out = append(append(out, body[:open+1]...), member...)
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, body[open+1:]...)
}

// bodyNamesModel reports whether requests of f name their model in the body (Gemini's native API
// names it in the path).
func bodyNamesModel(f Format) bool {
	switch f.Name() {
	case "openai", "anthropic", "openai-responses":
		return true
	}
	return false
}
