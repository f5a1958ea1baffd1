package mcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Per-call context for OpenAPI targets. The in-process server's handlers run in the context of the
// session's connection, which holds the values of the request that opened it; an HTTP target's
// request carries those of each call instead (the client's current Authorization for passthrough and
// ForwardAuthorization, the route's credentials and TLS transport). openAPIUpstream hands each
// tools/call's context to its handler through a random token in the request's _meta, which the
// gateway always overwrites, so a client can neither set it nor guess another caller's.

// callMetaKey is the _meta key that carries the token.
const callMetaKey = "dev.agentgateway/call"

// callContexts holds the contexts of the calls in flight, by token.
type callContexts struct{ m sync.Map }

func (c *callContexts) put(ctx context.Context) (string, func()) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	c.m.Store(tok, ctx)
	return tok, func() { c.m.Delete(tok) }
}

func (c *callContexts) get(tok string) (context.Context, bool) {
	v, ok := c.m.Load(tok)
	if !ok {
		return nil, false
	}
	return v.(context.Context), true
}

// valuesFrom is a context whose deadline and cancellation are those of the embedded context and
// whose values are those of vals.
type valuesFrom struct {
	context.Context
	vals context.Context
}

func (v valuesFrom) Value(k any) any { return v.vals.Value(k) }

// openAPIUpstream is the in-process connection to an OpenAPI target's server, marking each tools/call
// with its context's token.
type openAPIUpstream struct {
	*connUpstream
	calls *callContexts
}

func (u *openAPIUpstream) call(ctx context.Context, msg []byte, relay func([]byte)) ([]byte, error) {
	tok, done := u.calls.put(ctx)
	defer done()
	if marked, ok := withCallToken(msg, tok); ok {
		msg = marked
	}
	return u.connUpstream.call(ctx, msg, relay)
}

// withCallToken sets _meta[callMetaKey] of a tools/call request to tok.
func withCallToken(msg []byte, tok string) ([]byte, bool) {
	dm, err := jsonrpc.DecodeMessage(msg)
	if err != nil {
		return nil, false
	}
	req, ok := dm.(*jsonrpc.Request)
	if !ok || req.Method != "tools/call" {
		return nil, false
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(req.Params, &params); err != nil || params == nil {
		return nil, false
	}
	meta := map[string]json.RawMessage{}
	for k, raw := range params {
		// A lone case variant ("_META") is what a case-insensitive decoder reads as _meta: it becomes
		// _meta, so there is one and it carries the token. (Two variants were refused by the scanner.)
		if strings.EqualFold(k, "_meta") {
			delete(params, k)
			if err := json.Unmarshal(raw, &meta); err != nil || meta == nil {
				meta = map[string]json.RawMessage{}
			}
		}
	}
	meta[callMetaKey], _ = json.Marshal(tok)
	params["_meta"], _ = json.Marshal(meta)
	if req.Params, err = json.Marshal(params); err != nil {
		return nil, false
	}
	out, err := jsonrpc.EncodeMessage(req)
	return out, err == nil
}

// callContext returns the context a handler uses for its REST call: the handler's own cancellation
// with the values of the client's call when the gateway marked it.
func (a *openAPI) callContext(ctx context.Context, meta map[string]any) context.Context {
	tok, _ := meta[callMetaKey].(string)
	if tok == "" {
		return ctx
	}
	if vals, ok := a.calls.get(tok); ok {
		return valuesFrom{Context: ctx, vals: vals}
	}
	return ctx
}
