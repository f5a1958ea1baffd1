package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// ErrServerTool marks a failure of a server tool the gateway runs (its MCP backend could not be
// reached, the tool is missing, or the call failed under FailClosed).
var ErrServerTool = errors.New("llm: server tool failed")

// ServerToolFailureMode decides what a failed MCP tool call does to the client's turn.
type ServerToolFailureMode string

const (
	// ServerToolFailClosed ends the turn with an error (the default).
	ServerToolFailClosed ServerToolFailureMode = "failClosed"
	// ServerToolFailOpen reports the failure to the model as an error tool result and continues.
	ServerToolFailOpen ServerToolFailureMode = "failOpen"
)

// Defaults of ServerTools fields left zero.
const (
	DefaultServerToolIterations   = 5
	DefaultServerToolKeepalive    = 15 * time.Second
	DefaultServerToolResultBytes  = 64 << 10
	minServerToolKeepaliveInteval = 100 * time.Millisecond
)

// ServerTools makes the gateway fulfil server-side tools the client declares (for example an
// Anthropic `{"type":"web_search_20250305","name":"web_search"}` tool) with MCP tools: the model
// sees an ordinary tool with the MCP tool's schema, and when it calls it the gateway runs the MCP
// tool, appends the result and asks the model again, until it answers or MaxIterations model turns
// have asked for tools. The client receives one finished message.
//
// Served for the Anthropic Messages API (/v1/messages), streamed or not, whatever the provider.
type ServerTools struct {
	// MaxIterations bounds the tool rounds of one client turn (default 5). A client tool's
	// max_uses lowers it.
	MaxIterations int
	// KeepaliveInterval is how often a streaming client gets an SSE ping while the gateway waits
	// for the model or a tool (default 15s).
	KeepaliveInterval time.Duration
	// FailureMode decides what a failed tool call does (default ServerToolFailClosed).
	FailureMode ServerToolFailureMode
	// MaxResultBytes caps the text of one tool result handed to the model (default 64 KiB).
	MaxResultBytes int
	// Tools maps declared tool types to MCP tools; the first match wins.
	Tools []ServerTool
}

// ServerTool maps declared server tools to one MCP tool.
type ServerTool struct {
	// Type matches the declared tool's "type": "web_search_*" matches any type starting with
	// "web_search_", anything else matches exactly.
	Type string
	// MCP is the MCP backend (a streamable HTTP handler, such as an mcp.Federation).
	MCP http.Handler
	// Tool is the MCP tool's name on that backend.
	Tool string
	// Description replaces the MCP tool's description shown to the model, if set.
	Description string
	// InputSchema replaces the MCP tool's input schema, if set (then the backend is not asked).
	InputSchema json.RawMessage
}

// WithServerTools makes this model fulfil declared server tools over MCP (see ServerTools).
func WithServerTools(st ServerTools) ModelOption {
	return func(m *ModelEntry) {
		if st.MaxIterations <= 0 {
			st.MaxIterations = DefaultServerToolIterations
		}
		if st.KeepaliveInterval <= 0 {
			st.KeepaliveInterval = DefaultServerToolKeepalive
		}
		st.KeepaliveInterval = max(st.KeepaliveInterval, minServerToolKeepaliveInteval)
		if st.FailureMode == "" {
			st.FailureMode = ServerToolFailClosed
		}
		if st.MaxResultBytes <= 0 {
			st.MaxResultBytes = DefaultServerToolResultBytes
		}
		switch {
		case st.FailureMode != ServerToolFailClosed && st.FailureMode != ServerToolFailOpen:
			m.err = errors.Join(m.err, fmt.Errorf("serverTools: failureMode %q: want failClosed or failOpen", st.FailureMode))
		case len(st.Tools) == 0:
			m.err = errors.Join(m.err, errors.New("serverTools: at least one tool is required"))
		}
		for i, t := range st.Tools {
			if t.Type == "" || t.MCP == nil || t.Tool == "" {
				m.err = errors.Join(m.err, fmt.Errorf("serverTools: tools[%d]: type, an MCP backend and a tool are required", i))
			}
		}
		if strings.HasSuffix(m.pattern, "*") { // served for exact model names only
			m.err = errors.Join(m.err, errors.New("serverTools: not supported on a wildcard model"))
		}
		m.serverTools = &st
	}
}

// typeMatches reports whether a declared tool type matches a pattern ("x_*" is a prefix).
func typeMatches(pattern, typ string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(typ, p)
	}
	return pattern == typ
}

// declaredServerTool is a server tool found in the client's request.
type declaredServerTool struct {
	name    string // what the model calls it by
	typ     string
	mapping int
	maxUses int
}

// findServerTools returns the request's server tools (a tools[] entry with a type and no
// input_schema) that a mapping covers. Custom tools and unmapped server tools are left alone.
func findServerTools(tools []map[string]json.RawMessage, st *ServerTools) []declaredServerTool {
	var out []declaredServerTool
	for _, t := range tools {
		if _, custom := t["input_schema"]; custom {
			continue
		}
		var typ, name string
		if json.Unmarshal(t["type"], &typ) != nil || json.Unmarshal(t["name"], &name) != nil || typ == "" || name == "" || typ == "custom" {
			continue
		}
		for i, m := range st.Tools {
			if typeMatches(m.Type, typ) {
				d := declaredServerTool{name: name, typ: typ, mapping: i}
				_ = json.Unmarshal(t["max_uses"], &d.maxUses)
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// stLoop is one client turn with server tools.
type stLoop struct {
	r        *Router
	cfg      *ServerTools
	req      *http.Request
	body     map[string]json.RawMessage // the rewritten request; messages grow each round
	messages []json.RawMessage
	tools    map[string]declaredServerTool // by name
	sessions map[int]*mcpSession           // by mapping
	maxIter  int
	stream   bool
	usage    agentgateway.LLMState // summed over the turn's model calls (each call overwrites the State's)
}

// serveServerTools runs the turn if the request declares mapped server tools; false leaves the
// request to the ordinary path.
func (r *Router) serveServerTools(w http.ResponseWriter, req *http.Request, in *inspected, cfg *ServerTools) bool {
	if _, ok := in.ep.format.(AnthropicMessages); !ok || in.ep.op != OpChat {
		return false
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(in.body, &body) != nil {
		return false // the ordinary path answers a malformed body
	}
	var tools []map[string]json.RawMessage
	if json.Unmarshal(body["tools"], &tools) != nil {
		return false
	}
	found := findServerTools(tools, cfg)
	if len(found) == 0 {
		return false
	}
	l := &stLoop{r: r, cfg: cfg, req: req, body: body, tools: map[string]declaredServerTool{},
		sessions: map[int]*mcpSession{}, maxIter: cfg.MaxIterations, stream: in.peek.Stream}
	defer l.close()
	defer l.account()
	if err := json.Unmarshal(body["messages"], &l.messages); err != nil {
		writeError(w, AnthropicMessages{}, &Error{Status: 400, Kind: ErrInvalidRequest, Param: "messages", Message: "messages must be a list", Err: fmt.Errorf("%w: %w", ErrMalformedRequest, err)})
		return true
	}
	for _, d := range found {
		if d.maxUses > 0 && d.maxUses < l.maxIter {
			l.maxIter = d.maxUses
		}
	}
	if e := l.rewrite(req.Context(), tools, found); e != nil {
		writeError(w, AnthropicMessages{}, e)
		return true
	}
	if l.stream {
		l.serveStream(w)
	} else {
		l.serveBuffered(w)
	}
	return true
}

// rewrite replaces each mapped server tool with a custom tool carrying the MCP tool's schema.
func (l *stLoop) rewrite(ctx context.Context, tools []map[string]json.RawMessage, found []declaredServerTool) *Error {
	byName := map[string]declaredServerTool{}
	for _, d := range found {
		byName[d.name] = d
	}
	out := make([]any, 0, len(tools))
	for _, t := range tools {
		var name, typ string
		_ = json.Unmarshal(t["name"], &name)
		_ = json.Unmarshal(t["type"], &typ)
		d, ok := byName[name]
		if _, custom := t["input_schema"]; custom || !ok || d.typ != typ {
			out = append(out, t)
			continue
		}
		m := l.cfg.Tools[d.mapping]
		def := map[string]any{"name": name}
		schema, desc := m.InputSchema, m.Description
		if len(schema) == 0 {
			s, err := l.session(ctx, d.mapping)
			if err != nil {
				return l.toolError(err)
			}
			mt, err := s.tool(ctx, m.Tool)
			if err != nil {
				return l.toolError(err)
			}
			if schema, err = json.Marshal(mt.InputSchema); err != nil || string(schema) == "null" {
				schema = json.RawMessage(`{"type":"object"}`)
			}
			if desc == "" {
				desc = mt.Description
			}
		}
		def["input_schema"] = schema
		if desc != "" {
			def["description"] = desc
		}
		if cc, ok := t["cache_control"]; ok {
			def["cache_control"] = cc
		}
		out = append(out, def)
		l.tools[name] = d
	}
	b, _ := json.Marshal(out)
	l.body["tools"] = b
	return nil
}

// account leaves the whole turn's usage in the State, for the access log, metrics and budgets.
func (l *stLoop) account() {
	st := agentgateway.StateFrom(l.req.Context())
	if st == nil {
		return
	}
	u, s := l.usage, &st.LLM
	s.InputTokens, s.OutputTokens, s.CachedInputTokens = u.InputTokens, u.OutputTokens, u.CachedInputTokens
	s.CacheCreationTokens, s.ReasoningTokens, s.Cost = u.CacheCreationTokens, u.ReasoningTokens, u.Cost
}

func (l *stLoop) toolError(err error) *Error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: 499, Kind: ErrAPI, Message: "the request was cancelled", Err: err}
	}
	return &Error{Status: 502, Kind: ErrAPI, Message: err.Error(), Err: err}
}

func (l *stLoop) session(ctx context.Context, mapping int) (*mcpSession, error) {
	if s := l.sessions[mapping]; s != nil {
		return s, nil
	}
	s, err := connectMCP(ctx, l.cfg.Tools[mapping].MCP)
	if err != nil {
		return nil, err
	}
	l.sessions[mapping] = s
	return s, nil
}

func (l *stLoop) close() {
	for _, s := range l.sessions {
		s.close()
	}
}

// turn is one model answer, in the Anthropic Messages format.
type turn struct {
	status int
	header http.Header
	raw    []byte
	msg    map[string]any // nil when the status is not a success
}

// callModel sends the conversation to the model through the router's ordinary path (guards,
// translation, failover), not streamed.
func (l *stLoop) callModel(ctx context.Context) (*turn, error) {
	body := make(map[string]json.RawMessage, len(l.body))
	for k, v := range l.body {
		body[k] = v
	}
	body["messages"], _ = json.Marshal(l.messages)
	body["stream"] = json.RawMessage("false")
	b, _ := json.Marshal(body)
	in, err := http.NewRequestWithContext(context.WithValue(context.WithValue(ctx, inspectedKey{}, (*inspected)(nil)), serverToolsInnerKey{}, true), http.MethodPost, l.req.URL.String(), bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	in.Header = l.req.Header.Clone()
	in.Header.Del("Content-Length")
	in.Header.Del("Accept-Encoding") // read the answer uncompressed
	in.ContentLength = int64(len(b))
	in.Host, in.RemoteAddr = l.req.Host, l.req.RemoteAddr
	rec := &bufferWriter{h: http.Header{}}
	l.r.ServeHTTP(rec, in)
	if st := agentgateway.StateFrom(ctx); st != nil {
		u := &l.usage
		u.InputTokens += st.LLM.InputTokens
		u.OutputTokens += st.LLM.OutputTokens
		u.CachedInputTokens += st.LLM.CachedInputTokens
		u.CacheCreationTokens += st.LLM.CacheCreationTokens
		u.ReasoningTokens += st.LLM.ReasoningTokens
		u.Cost += st.LLM.Cost
	}
	t := &turn{status: rec.status, header: rec.h, raw: rec.buf.Bytes()}
	if t.status == 0 {
		t.status = 200
	}
	if t.status/100 == 2 {
		if err := json.Unmarshal(t.raw, &t.msg); err != nil || t.msg == nil {
			return nil, fmt.Errorf("%w: the model's answer could not be read: %v", ErrServerTool, err)
		}
	}
	return t, ctx.Err()
}

// toolUse is one tool_use block of a model answer.
type toolUse struct {
	id, name string
	input    json.RawMessage
}

func toolUses(msg map[string]any) []toolUse {
	var out []toolUse
	content, _ := msg["content"].([]any)
	for _, c := range content {
		b, _ := c.(map[string]any)
		if b["type"] != "tool_use" {
			continue
		}
		id, _ := b["id"].(string)
		name, _ := b["name"].(string)
		in, _ := json.Marshal(b["input"])
		out = append(out, toolUse{id: id, name: name, input: in})
	}
	return out
}

// stripOurs removes the gateway's tool_use blocks from a message the client receives.
func (l *stLoop) stripOurs(msg map[string]any) {
	content, _ := msg["content"].([]any)
	kept := make([]any, 0, len(content)) // never null for the client
	for _, c := range content {
		b, _ := c.(map[string]any)
		if name, _ := b["name"].(string); b["type"] == "tool_use" && l.tools[name].name != "" {
			continue
		}
		kept = append(kept, c)
	}
	msg["content"] = kept
	if msg["stop_reason"] == "tool_use" && len(toolUses(msg)) == 0 {
		msg["stop_reason"] = "end_turn"
	}
}

type usageTotals struct{ in, out, cacheWrite, cacheRead float64 }

func (u *usageTotals) add(msg map[string]any) {
	us, _ := msg["usage"].(map[string]any)
	f := func(k string) float64 { v, _ := us[k].(float64); return v }
	u.in += f("input_tokens")
	u.out += f("output_tokens")
	u.cacheWrite += f("cache_creation_input_tokens")
	u.cacheRead += f("cache_read_input_tokens")
}

func (u *usageTotals) apply(msg map[string]any) {
	us, _ := msg["usage"].(map[string]any)
	if us == nil {
		us = map[string]any{}
	}
	us["input_tokens"], us["output_tokens"] = u.in, u.out
	if u.cacheWrite > 0 {
		us["cache_creation_input_tokens"] = u.cacheWrite
	}
	if u.cacheRead > 0 {
		us["cache_read_input_tokens"] = u.cacheRead
	}
	msg["usage"] = us
}

func fingerprint(calls []toolUse) string {
	parts := make([]string, len(calls))
	for i, c := range calls {
		parts[i] = c.name + ":" + string(c.input)
	}
	sort.Strings(parts)
	return strings.Join(parts, "|")
}

// outcome is how a turn ends: a message for the client, the model's failed answer, or an error.
type outcome struct {
	msg    map[string]any
	failed *turn
	err    *Error
}

// run drives the loop. wait runs each slow step (model or tool) so a streaming client can be kept
// alive meanwhile; it returns false when the client is gone.
func (l *stLoop) run(ctx context.Context, wait func(func())) outcome {
	var totals usageTotals
	last := ""
	for iter := 0; ; iter++ {
		var t *turn
		var err error
		wait(func() { t, err = l.callModel(ctx) })
		if err != nil {
			return outcome{err: l.toolError(err)}
		}
		if t.msg == nil {
			return outcome{failed: t}
		}
		calls := toolUses(t.msg)
		var ours []toolUse
		for _, c := range calls {
			if l.tools[c.name].name != "" {
				ours = append(ours, c)
			}
		}
		finish := func(strip bool) outcome {
			if iter == 0 && !strip {
				return outcome{msg: t.msg, failed: t} // untouched: pass the answer through
			}
			if strip {
				l.stripOurs(t.msg)
			}
			totals.add(t.msg)
			totals.apply(t.msg)
			return outcome{msg: t.msg}
		}
		switch {
		case len(ours) == 0:
			return finish(false)
		case len(ours) != len(calls): // mixed with the client's own tools: the client runs those
			return finish(true)
		case iter >= l.maxIter:
			l.r.log().LogAttrs(ctx, slog.LevelDebug, "llm: server tool iteration cap reached", slog.Int("iterations", iter))
			return finish(true)
		case fingerprint(ours) == last:
			return finish(true) // the model repeats itself; the loop would not converge
		}
		last = fingerprint(ours)
		totals.add(t.msg)
		var results []any
		var terr error
		wait(func() { results, terr = l.execute(ctx, ours) })
		if terr != nil {
			return outcome{err: l.toolError(terr)}
		}
		assistant, _ := json.Marshal(map[string]any{"role": "assistant", "content": t.msg["content"]})
		user, _ := json.Marshal(map[string]any{"role": "user", "content": results})
		l.messages = append(l.messages, assistant, user)
	}
}

// execute runs the model's calls of the gateway's tools and returns their tool_result blocks.
func (l *stLoop) execute(ctx context.Context, calls []toolUse) ([]any, error) {
	out := make([]any, 0, len(calls))
	for _, c := range calls {
		d := l.tools[c.name]
		m := l.cfg.Tools[d.mapping]
		content, isErr, err := l.callTool(ctx, d.mapping, m.Tool, c.input)
		if err != nil {
			if l.cfg.FailureMode == ServerToolFailClosed || ctx.Err() != nil {
				return nil, err
			}
			l.r.log().LogAttrs(ctx, slog.LevelWarn, "llm: server tool failed; the model is told", slog.String("tool", c.name), slog.String("error", err.Error()))
			content, isErr = []any{map[string]any{"type": "text", "text": "tool call failed: " + err.Error()}}, true
		}
		block := map[string]any{"type": "tool_result", "tool_use_id": c.id, "content": content}
		if isErr {
			block["is_error"] = true
		}
		out = append(out, block)
	}
	return out, nil
}

func (l *stLoop) callTool(ctx context.Context, mapping int, tool string, args json.RawMessage) ([]any, bool, error) {
	s, err := l.session(ctx, mapping)
	if err != nil {
		return nil, false, err
	}
	res, err := s.call(ctx, tool, args)
	if err != nil {
		return nil, false, err
	}
	raw, _ := json.Marshal(res.Content)
	var items []map[string]any
	_ = json.Unmarshal(raw, &items)
	return mcpToToolResult(items, l.cfg.MaxResultBytes), res.IsError, nil
}

const truncationMarker = "\n[tool result truncated by the gateway]"

// mcpToToolResult converts MCP content to Anthropic tool_result content within a byte budget:
// text (and text resources) stay text, images become base64 image blocks, the rest is its JSON.
func mcpToToolResult(items []map[string]any, budget int) []any {
	out := []any{}
	for _, it := range items {
		var text string
		switch it["type"] {
		case "text":
			text, _ = it["text"].(string)
		case "image":
			data, _ := it["data"].(string)
			mime, _ := it["mimeType"].(string)
			if mime == "" {
				mime = "image/png"
			}
			if len(data) > budget {
				return append(out, map[string]any{"type": "text", "text": strings.TrimSpace(truncationMarker)})
			}
			budget -= len(data)
			out = append(out, map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": mime, "data": data}})
			continue
		case "resource":
			res, _ := it["resource"].(map[string]any)
			if t, ok := res["text"].(string); ok {
				text = t
			} else {
				b, _ := json.Marshal(res)
				text = string(b)
			}
		default:
			b, _ := json.Marshal(it)
			text = string(b)
		}
		if len(text) > budget {
			cut := budget
			for cut > 0 && !utf8Start(text[cut]) {
				cut--
			}
			return append(out, map[string]any{"type": "text", "text": text[:cut] + truncationMarker})
		}
		budget -= len(text)
		out = append(out, map[string]any{"type": "text", "text": text})
	}
	return out
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// serveBuffered answers a non-streaming client with the finished message.
func (l *stLoop) serveBuffered(w http.ResponseWriter) {
	o := l.run(l.req.Context(), func(f func()) { f() })
	switch {
	case o.err != nil:
		writeError(w, AnthropicMessages{}, o.err)
	case o.failed != nil: // the model's own answer, untouched (an error, or no tool was called)
		copyHeader(w.Header(), o.failed.header)
		w.WriteHeader(o.failed.status)
		_, _ = w.Write(o.failed.raw)
	default:
		b, _ := json.Marshal(o.msg)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		if !strings.EqualFold(k, "Content-Length") {
			dst[k] = v
		}
	}
}

// bufferWriter collects an inner answer.
type bufferWriter struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.h }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.buf.Write(p)
}

// serverToolsInnerKey marks the loop's own model calls, which take the ordinary path.
type serverToolsInnerKey struct{}

func isServerToolsInner(req *http.Request) bool {
	return req.Context().Value(serverToolsInnerKey{}) != nil
}
