package mcp

import (
	"bytes"
	"net/http"
	"strings"

	agentgateway "github.com/agentgw/agentgateway"
)

var _ agentgateway.Inspector = (*Federation)(nil)

// inspectedBody is a POST body the federation's inspector has already read and parsed: the federation
// behind the route's policies takes the bytes and the envelope from it instead of reading again.
type inspectedBody struct {
	bytes.Reader
	b   []byte
	env envelope
	ok  bool // env holds a parsed single message
}

func (*inspectedBody) Close() error { return nil }

func (b *inspectedBody) envelope() envelope {
	if b == nil {
		return envelope{}
	}
	return b.env
}

// Inspect implements agentgateway.Inspector. Behind a Gateway route, a streamable-HTTP POST is read
// (up to [Config.MaxBodyBytes]) and State.MCP filled before the route's policies run: the method, the
// session id and, for tools/call, prompts/get and the resources/* calls, the target and the name as
// the target knows it. So a route's CEL authorization, rate limits keyed on mcp.tool.name and the
// telemetry see them, however the gateway was assembled. With [PrefixNever] and several targets the
// target of a name is known only after listing, so only the name is filled. The body is handed on
// parsed; nothing is read twice. Messages the federation would refuse are handed on as they are, to be
// answered as usual.
func (f *Federation) Inspect(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if r.Method != http.MethodPost || f.err != nil || r.URL.Query().Has("sessionId") || strings.HasSuffix(r.URL.Path, "/sse") {
		return r, true
	}
	if _, done := r.Body.(*inspectedBody); done || r.Body == nil {
		return r, true
	}
	st := agentgateway.StateFrom(r.Context())
	if st == nil {
		return r, true
	}
	body := f.readPost(w, r)
	if body == nil {
		return nil, false
	}
	ib := &inspectedBody{Reader: *bytes.NewReader(body), b: body}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		if env, err := parseEnvelope(body); err == nil {
			ib.env, ib.ok = env, true
			f.describe(st, r, env, body)
		}
	}
	r2 := *r
	r2.Body = ib
	r2.ContentLength = int64(len(body))
	r2.GetBody = nil
	return &r2, true
}

// describe fills State.MCP from a parsed message without calling any target.
func (f *Federation) describe(st *agentgateway.State, r *http.Request, env envelope, body []byte) {
	st.MCP.Method = env.method
	st.MCP.SessionID = r.Header.Get("Mcp-Session-Id")
	kind, nameSpan := "", span{}
	switch env.method {
	case "tools/call":
		kind, nameSpan = "tool", field(body, env.params, "name")
	case "prompts/get":
		kind, nameSpan = "prompt", field(body, env.params, "name")
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		kind, nameSpan = "resource", field(body, env.params, "uri")
	default:
		return
	}
	if !nameSpan.ok() || body[nameSpan.start] != '"' {
		return
	}
	name := stringValue(body, nameSpan)
	target, upName := "", name
	if t, rest, ok := f.resolveStatic(kind, name); ok {
		target, upName = t.Name, rest
	}
	st.MCP.Target, st.MCP.Name = target, upName
	if kind == "tool" {
		st.MCP.ToolTarget, st.MCP.ToolName = target, upName
	}
}

// resolveStatic maps a client-facing name to its target where that needs no listing: prefixed names,
// a single target.
func (f *Federation) resolveStatic(kind, name string) (*target, string, bool) {
	var t *target
	rest := name
	switch {
	case f.prefixed():
		sep := byte('_')
		if kind == "resource" {
			sep = '+'
		}
		i := strings.IndexByte(name, sep)
		if i <= 0 {
			return nil, "", false
		}
		t, rest = f.byName[name[:i]], name[i+1:]
	case len(f.targets) == 1:
		t = f.targets[0]
	}
	if t == nil {
		return nil, "", false
	}
	if kind == "tool" {
		n, ok := t.upstreamTool(rest)
		return t, n, ok
	}
	return t, rest, true
}
