package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// reply is where the messages answering one client request go: the POST's own response (JSON or
// SSE), or a legacy session's SSE stream.
type reply interface {
	// relay sends an intermediate message (progress, logging, a server→client request).
	relay(msg []byte)
	// final sends the response; later relays are dropped.
	final(msg []byte)
}

// postReply answers a streamable-HTTP POST: JSON when the only message is the response (and the
// client accepts JSON), SSE as soon as there is something to stream.
type postReply struct {
	w        http.ResponseWriter
	wantSSE  bool
	wantJSON bool
	// preferSSE: the client listed text/event-stream before application/json.
	preferSSE bool
	mu        sync.Mutex
	sse       bool
	done      bool
	gaveID    bool // an event id went to the client (see relayID)
	// The list of replies given keep-alives (see watchReply), guarded by Federation.keepAlives.mu.
	kaPrev, kaNext *postReply
	kaTick         uint64
	kaOn           bool
}

func (o *postReply) startSSE() {
	h := o.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	o.w.WriteHeader(http.StatusOK)
	o.sse = true
}

func (o *postReply) relay(msg []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done || !o.wantSSE {
		return
	}
	if !o.sse {
		o.startSSE()
	}
	writeEvent(o.w, msg)
}

func (o *postReply) final(msg []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.done = true
	if !o.sse && ((o.wantJSON && !o.preferSSE) || !o.wantSSE) {
		o.w.Header().Set("Content-Type", "application/json")
		o.w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
		_, _ = o.w.Write(msg)
		return
	}
	if !o.sse {
		o.startSSE()
	}
	writeEvent(o.w, msg)
}

// fail answers with an HTTP error status if nothing has been sent yet.
func (o *postReply) fail(status int, id []byte, msg string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done || o.sse {
		return false
	}
	o.done = true
	writeHTTPError(o.w, status, id, codeInvalidRequest, msg)
	return true
}

var (
	eventPrefix = []byte("event: message\ndata: ")
	eventEnd    = []byte("\n\n")
)

// writeEvent writes one SSE message event and flushes it.
func writeEvent(w http.ResponseWriter, msg []byte) {
	_, _ = w.Write(eventPrefix)
	for {
		i := indexNewline(msg)
		if i < 0 {
			break
		}
		_, _ = w.Write(msg[:i])
		_, _ = w.Write([]byte("\ndata: "))
		msg = msg[i+1:]
	}
	_, _ = w.Write(msg)
	_, _ = w.Write(eventEnd)
	_ = http.NewResponseController(w).Flush()
}

func indexNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

var seq atomic.Int64

// newGatewayID is a request id for the gateway's own upstream requests (initialize, list fan-outs).
func newGatewayID() []byte {
	return append(strconv.AppendInt([]byte(`"agw-`), seq.Add(1), 10), '"')
}

// servePost handles a client's JSON-RPC message.
func (f *Federation) servePost(w http.ResponseWriter, r *http.Request) {
	st := agentgateway.StateFrom(r.Context())
	if st == nil {
		st = &agentgateway.State{}
		r = r.WithContext(agentgateway.WithState(r.Context(), st))
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSONType(ct) {
		writeHTTPError(w, http.StatusUnsupportedMediaType, nil, codeInvalidRequest, "Content-Type must be application/json")
		return
	}
	accept := r.Header.Get("Accept")
	wantJSON, wantSSE := accepts(accept, "application/json"), accepts(accept, "text/event-stream")
	if !wantJSON && !wantSSE {
		writeHTTPError(w, http.StatusNotAcceptable, nil, codeInvalidRequest, "Accept must allow application/json or text/event-stream")
		return
	}
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" && !supportedVersion(v) {
		writeHTTPError(w, http.StatusBadRequest, nil, codeInvalidRequest, "unsupported MCP-Protocol-Version: "+v+" (supported: "+strings.Join(supportedVersions, ", ")+")")
		return
	}
	ib, inspected := r.Body.(*inspectedBody)
	var body []byte
	if inspected {
		body = ib.b
	} else if body = f.readPost(w, r); body == nil {
		return
	}
	var err error
	out := &postReply{w: w, wantJSON: wantJSON, wantSSE: wantSSE, preferSSE: prefersSSE(accept)}
	ctx := withClientAuth(r.Context(), r.Header.Get("Authorization"))
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		f.serveBatch(ctx, w, r, st, body, out)
		return
	}
	env := ib.envelope()
	if !inspected || !ib.ok {
		env, err = parseEnvelope(body)
	}
	if err != nil {
		code, msg := codeInvalidRequest, "invalid JSON-RPC 2.0 message"
		if errors.Is(err, ErrParse) {
			code, msg = codeParse, "parse error: body is not JSON"
		}
		writeHTTPError(w, http.StatusBadRequest, nil, code, msg)
		return
	}
	st.MCP.Method = env.method

	if env.method == "initialize" {
		if !env.isRequest() {
			writeHTTPError(w, http.StatusBadRequest, nil, codeInvalidRequest, "initialize must be a request")
			return
		}
		f.initialize(ctx, r, st, env, body, nil, out)
		return
	}

	sess, ok := f.postSession(w, r, st, env.id.of(body))
	if !ok {
		return
	}
	if f.cfg.Stateless {
		defer sess.close()
	}

	switch {
	case env.isResponse():
		if err := f.routeResponse(ctx, sess, env, body); err != nil {
			f.logger().Debug("mcp: dropping client response", "error", err)
		}
		w.WriteHeader(http.StatusAccepted)
	case env.isNotification():
		f.notify(ctx, sess, env, body)
		w.WriteHeader(http.StatusAccepted)
	default:
		f.watchReply(out)
		err := f.dispatch(ctx, r, st, sess, env, body, out)
		f.unwatchReply(out)
		if errors.Is(err, ErrUpstreamSessionGone) {
			f.forgetSession(sess)
		}
	}
}

// postSession returns the session a POST belongs to: the one its Mcp-Session-Id names (answering 400
// without one and 404 for an unknown, expired or ended one, as the transport specifies), or in
// stateless mode a throw-away session the caller closes. id is the request's JSON-RPC id, for the
// error answer.
func (f *Federation) postSession(w http.ResponseWriter, r *http.Request, st *agentgateway.State, id []byte) (*session, bool) {
	if f.cfg.Stateless {
		return f.ephemeral(r.Header.Get("Mcp-Protocol-Version")), true
	}
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" {
		writeHTTPError(w, http.StatusBadRequest, id, codeInvalidRequest, "Bad Request: missing Mcp-Session-Id header")
		return nil, false
	}
	sess, ok := f.lookup(sid)
	if !ok {
		writeHTTPError(w, http.StatusNotFound, id, codeInvalidRequest, "session not found")
		return nil, false
	}
	st.MCP.SessionID = sid
	sess.touch()
	return sess, true
}

// forgetSession ends a session whose target forgot it: so must we, and the client has to start again.
func (f *Federation) forgetSession(sess *session) {
	if !f.cfg.Stateless && f.endSession(sess) {
		go sess.close()
	}
}

// batchVersion is the one protocol version whose clients may send JSON-RPC batches: 2025-03-26 added
// them and 2025-06-18 removed them.
const batchVersion = "2025-03-26"

// Bounds of a batch: its messages, and how many of its requests run at once.
const (
	maxBatchLen      = 1000
	maxBatchParallel = 8
)

// serveBatch answers a JSON-RPC batch. In a session at protocol 2025-03-26 every message is handled
// as it would be alone (routing, authorization, notifications, responses to server→client requests),
// requests concurrently, and the responses go back as one JSON array (or 202 when the batch held no
// request); intermediate messages (progress, server→client requests) are streamed first when the
// client accepts SSE. Other versions get the spec's 400.
func (f *Federation) serveBatch(ctx context.Context, w http.ResponseWriter, r *http.Request, st *agentgateway.State, body []byte, out *postReply) {
	var msgs []json.RawMessage
	if err := json.Unmarshal(body, &msgs); err != nil {
		code, msg := codeInvalidRequest, "invalid JSON-RPC batch"
		if !json.Valid(body) {
			code, msg = codeParse, "parse error: body is not JSON"
		}
		writeHTTPError(w, http.StatusBadRequest, nil, code, msg)
		return
	}
	st.MCP.Method = "batch"
	sess, ok := f.postSession(w, r, st, nil)
	if !ok {
		return
	}
	ver := sess.version
	if f.cfg.Stateless {
		defer sess.close()
		// Without a session the header says; absent, the spec says to assume 2025-03-26.
		if ver = r.Header.Get("Mcp-Protocol-Version"); ver == "" {
			ver = batchVersion
		}
	}
	switch {
	case ver != batchVersion:
		writeHTTPError(w, http.StatusBadRequest, nil, codeInvalidRequest, "batch not supported in protocol version "+ver)
		return
	case len(msgs) == 0:
		writeHTTPError(w, http.StatusBadRequest, nil, codeInvalidRequest, "empty JSON-RPC batch")
		return
	case len(msgs) > maxBatchLen:
		writeHTTPError(w, http.StatusBadRequest, nil, codeInvalidRequest, fmt.Sprintf("JSON-RPC batch of %d messages (limit %d)", len(msgs), maxBatchLen))
		return
	}
	answers := make([][]byte, len(msgs))
	// Each request fills its own copy of the State, so authorization sees its own method and names;
	// copied here, before the response (which the gateway records into the State) starts.
	base := *st
	var gone atomic.Bool
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxBatchParallel)
	for i, msg := range msgs {
		env, err := parseEnvelope(msg)
		switch {
		case err != nil:
			answers[i] = rpcmsg.Error(nil, codeInvalidRequest, "invalid JSON-RPC 2.0 message")
		case env.method == "initialize":
			answers[i] = rpcmsg.Error(env.id.of(msg), codeInvalidRequest, "initialize must not be part of a JSON-RPC batch")
		case env.isResponse():
			if err := f.routeResponse(ctx, sess, env, msg); err != nil {
				f.logger().Debug("mcp: dropping client response", "error", err)
			}
		case env.isNotification():
			f.notify(ctx, sess, env, msg)
		default:
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				st2 := base
				st2.MCP = agentgateway.MCPState{Method: env.method, SessionID: base.MCP.SessionID}
				ctx2 := agentgateway.WithState(ctx, &st2)
				rep := &batchReply{relayTo: out.relay}
				if err := f.dispatch(ctx2, r.WithContext(ctx2), &st2, sess, env, msg, rep); errors.Is(err, ErrUpstreamSessionGone) {
					gone.Store(true)
				}
				answers[i] = rep.answer(env.id.of(msg))
			}()
		}
	}
	wg.Wait()
	if gone.Load() {
		f.forgetSession(sess)
	}
	arr := []byte{'['}
	for _, a := range answers {
		if a == nil {
			continue
		}
		if len(arr) > 1 {
			arr = append(arr, ',')
		}
		arr = append(arr, a...)
	}
	if len(arr) == 1 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	out.final(append(arr, ']'))
}

// batchReply collects the response to one request of a batch; intermediate messages go straight to
// the POST's stream.
type batchReply struct {
	relayTo func([]byte)
	mu      sync.Mutex
	msg     []byte
}

func (b *batchReply) relay(msg []byte) { b.relayTo(msg) }

func (b *batchReply) final(msg []byte) {
	b.mu.Lock()
	if b.msg == nil {
		b.msg = msg
	}
	b.mu.Unlock()
}

// answer is the collected response (an internal error if there was none: every request gets one).
func (b *batchReply) answer(id []byte) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.msg == nil {
		return rpcmsg.Error(id, codeInternal, "no response")
	}
	return b.msg
}

// isJSONType reports whether a Content-Type is application/json (parameters allowed).
func isJSONType(ct string) bool {
	const j = "application/json"
	if len(ct) < len(j) || !strings.EqualFold(ct[:len(j)], j) {
		return false
	}
	rest := strings.TrimSpace(ct[len(j):])
	return rest == "" || rest[0] == ';'
}

// prefersSSE reports whether Accept names text/event-stream before application/json.
func prefersSSE(accept string) bool {
	i, j := strings.Index(accept, "text/event-stream"), strings.Index(accept, "application/json")
	return i >= 0 && (j < 0 || i < j)
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength > 0 {
		buf := make([]byte, r.ContentLength)
		n, err := io.ReadFull(rd, buf)
		if err != nil {
			return nil, err
		}
		// Anything after Content-Length is the transport's problem, not ours.
		return buf[:n], nil
	}
	return io.ReadAll(rd)
}

// readPost reads a POST body within Config.MaxBodyBytes; on failure it answers (413 or 400) and
// returns nil.
func (f *Federation) readPost(w http.ResponseWriter, r *http.Request) []byte {
	body, err := readBody(w, r, f.cfg.MaxBodyBytes)
	if err == nil {
		if body == nil {
			body = []byte{}
		}
		return body
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeHTTPError(w, http.StatusRequestEntityTooLarge, nil, codeInvalidRequest, fmt.Sprintf("request body larger than %d bytes", f.cfg.MaxBodyBytes))
	} else {
		writeHTTPError(w, agentgateway.RequestBodyStatus(err), nil, codeParse, "reading body: "+err.Error())
	}
	return nil
}

// writeHTTPError answers with an HTTP status and a JSON-RPC error body.
func writeHTTPError(w http.ResponseWriter, status int, id []byte, code int, msg string) {
	b := rpcmsg.Error(id, code, msg)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ephemeral is the throw-away session of a stateless request.
func (f *Federation) ephemeral(version string) *session {
	if !supportedVersion(version) {
		version = LatestProtocolVersion
	}
	init := fmt.Appendf(nil, `{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":%q,"version":%q}}`,
		version, f.cfg.ServerInfo.Name, f.cfg.ServerInfo.Version)
	return f.newSession(version, init)
}

// routeResponse returns a client's answer to a server→client request to the target that asked. The
// gateway issued the request under the id "<target>/<target's id as JSON>".
func (f *Federation) routeResponse(ctx context.Context, sess *session, env envelope, body []byte) error {
	if !env.id.ok() || body[env.id.start] != '"' {
		return errors.New("response id was not issued by the gateway")
	}
	name, raw, ok := strings.Cut(stringValue(body, env.id), "/")
	t := f.byName[name]
	if !ok || t == nil || !json.Valid([]byte(raw)) {
		return errors.New("response id was not issued by the gateway")
	}
	up, err := sess.upstream(ctx, t)
	if err != nil {
		return err
	}
	return up.send(ctx, f.unsealRelatedTask(sess, t, splice(body, env.id, []byte(raw))))
}

// notify forwards a client notification to every open upstream session.
func (f *Federation) notify(ctx context.Context, sess *session, env envelope, body []byte) {
	if env.method == "notifications/initialized" {
		return // sent to each target when its session was set up
	}
	for i := range sess.slots {
		sl := &sess.slots[i]
		sl.mu.Lock()
		up := sl.up
		sl.mu.Unlock()
		if up != nil && up.alive() {
			if err := up.send(ctx, body); err != nil {
				f.logger().Debug("mcp: forwarding notification", "target", f.targets[i].Name, "method", env.method, "error", err)
			}
		}
	}
}

// dispatch answers one client request.
func (f *Federation) dispatch(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, env envelope, body []byte, out reply) error {
	id := env.id.of(body)
	out = withResponseGuard(ctx, r, st, env.method, out)
	if !guardedElsewhere(env.method) {
		msg, err := guardRequest(ctx, r, st, env.method, body)
		if err != nil {
			rejectGuarded(st, id, err, out)
			return nil
		}
		if !bytes.Equal(msg, body) {
			if e, perr := parseEnvelope(msg); perr == nil {
				env, body, id = e, msg, e.id.of(msg)
			}
		}
	}
	switch env.method {
	case "ping":
		out.final(rpcmsg.Result(id, []byte("{}")))
	case "tools/list":
		return f.list(ctx, r, st, sess, &toolsKind, env, body, out)
	case "prompts/list":
		return f.list(ctx, r, st, sess, &promptsKind, env, body, out)
	case "resources/list":
		return f.list(ctx, r, st, sess, &resourcesKind, env, body, out)
	case "resources/templates/list":
		return f.list(ctx, r, st, sess, &templatesKind, env, body, out)
	case "tools/call":
		return f.callNamed(ctx, r, st, sess, "tool", env, body, field(body, env.params, "name"), out)
	case "prompts/get":
		return f.callNamed(ctx, r, st, sess, "prompt", env, body, field(body, env.params, "name"), out)
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return f.callURI(ctx, r, st, sess, env, body, field(body, env.params, "uri"), out)
	case "completion/complete":
		ref := field(body, env.params, "ref")
		switch stringField(body, ref, "type") {
		case "ref/prompt":
			return f.callNamed(ctx, r, st, sess, "prompt", env, body, field(body, ref, "name"), out)
		case "ref/resource":
			return f.callURI(ctx, r, st, sess, env, body, field(body, ref, "uri"), out)
		}
		out.final(rpcmsg.Error(id, codeInvalidParams, "completion/complete: unknown ref type"))
	case "logging/setLevel":
		return f.broadcast(ctx, sess, env, body, out)
	case "tasks/get", "tasks/result", "tasks/cancel":
		return f.callTask(ctx, r, st, sess, env, body, out)
	case "tasks/list":
		return f.listTasks(ctx, r, st, sess, env, body, out)
	case "initialize":
		out.final(rpcmsg.Error(id, codeInvalidRequest, "session already initialized"))
	default:
		out.final(rpcmsg.Error(id, codeMethodNotFound, "method not found: "+env.method))
	}
	return nil
}

func (f *Federation) prefixed() bool {
	return f.cfg.Prefix == PrefixAlways || (f.cfg.Prefix == PrefixConditional && len(f.targets) > 1)
}

// resolve maps a client-facing tool or prompt name to its target and the target's own name.
func (f *Federation) resolve(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, kind, name string) (*target, string, bool) {
	if f.prefixed() || len(f.targets) == 1 {
		return f.resolveStatic(kind, name)
	}
	t := f.lookupNever(ctx, r, st, sess, kind, name)
	if t == nil {
		return nil, "", false
	}
	if kind == "tool" {
		n, ok := t.upstreamTool(name)
		return t, n, ok
	}
	return t, name, true
}

// lookupNever finds which target serves a bare name (PrefixNever), listing once if needed.
func (f *Federation) lookupNever(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, kind, name string) *target {
	key := kind + ":" + name
	sess.mu.Lock()
	i, ok := sess.names[key]
	sess.mu.Unlock()
	if !ok {
		lk := listKindOf(kind)
		if _, err := f.merged(ctx, r, st, sess, lk); err != nil {
			return nil
		}
		sess.mu.Lock()
		i, ok = sess.names[key]
		sess.mu.Unlock()
	}
	if !ok || i < 0 {
		return nil
	}
	return f.targets[i]
}

// callNamed routes tools/call, prompts/get and prompt completions by name, rewriting the name in place.
func (f *Federation) callNamed(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, kind string, env envelope, body []byte, nameSpan span, out reply) error {
	id := env.id.of(body)
	if !nameSpan.ok() || body[nameSpan.start] != '"' {
		out.final(rpcmsg.Error(id, codeInvalidParams, "missing "+kind+" name"))
		return nil
	}
	name := stringValue(body, nameSpan)
	t, upName, ok := f.resolve(ctx, r, st, sess, kind, name)
	if ok {
		if err := f.pinFailed(t); err != nil {
			out.final(rpcmsg.Error(id, codeInternal, err.Error()))
			return nil
		}
		st.MCP.Target, st.MCP.Name = t.Name, upName
		if kind == "tool" && env.method == "tools/call" {
			st.MCP.ToolTarget, st.MCP.ToolName = t.Name, upName
		}
		ok = f.authorizer(r, st).allows(kind, t.Name, upName)
		if !ok {
			st.Policy.DeniedBy = "mcpAuthz"
		}
		ok = ok && f.knows(ctx, sess, t, kind, upName) && (kind != "tool" || !f.pinHidden(t, upName))
	}
	if !ok {
		// Denied and unknown look the same, so a client cannot probe for hidden tools.
		out.final(rpcmsg.Error(id, codeInvalidParams, fmt.Sprintf("unknown %s %q", kind, name)))
		return nil
	}
	if kind == "tool" && env.method == "tools/call" && !f.approved(ctx, r, st, sess, t, upName, env, body, out) {
		return nil
	}
	msg := body
	if upName != name {
		msg = splice(body, nameSpan, quoted(upName))
	}
	msg, err := guardRequest(ctx, r, st, env.method, msg)
	if err != nil {
		rejectGuarded(st, id, err, out)
		return nil
	}
	if env.method == "tools/call" && field(body, env.params, "task").ok() {
		out = &taskCallReply{reply: out, f: f, sess: sess, t: t, tool: upName}
		sess.tasks.begin(t.Name, upName)
		defer sess.tasks.end(t.Name, upName)
	}
	return f.forward(ctx, sess, t, id, msg, out)
}

// callURI routes resource reads, subscriptions and resource completions by URI.
func (f *Federation) callURI(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, env envelope, body []byte, uriSpan span, out reply) error {
	id := env.id.of(body)
	if !uriSpan.ok() || body[uriSpan.start] != '"' {
		out.final(rpcmsg.Error(id, codeInvalidParams, "missing uri"))
		return nil
	}
	uri := stringValue(body, uriSpan)
	var t *target
	upURI := uri
	switch {
	case f.prefixed():
		if name, rest, ok := splitExposedURI(uri); ok {
			t, upURI = f.byName[name], rest
		}
	case len(f.targets) == 1:
		t = f.targets[0]
	default:
		t = f.lookupNever(ctx, r, st, sess, "resource", uri)
	}
	if t != nil {
		st.MCP.Target, st.MCP.Name = t.Name, upURI
		if !f.authorizer(r, st).allows("resource", t.Name, upURI) {
			st.Policy.DeniedBy = "mcpAuthz"
			t = nil
		} else if !f.knows(ctx, sess, t, "resource", upURI) {
			t = nil
		}
	}
	if t == nil {
		out.final(rpcmsg.Error(id, codeResourceNotFound, fmt.Sprintf("resource not found: %q", uri)))
		return nil
	}
	msg := body
	if upURI != uri {
		msg = splice(body, uriSpan, quoted(upURI))
	}
	msg, err := guardRequest(ctx, r, st, env.method, msg)
	if err != nil {
		rejectGuarded(st, id, err, out)
		return nil
	}
	if env.method == "resources/read" && f.prefixed() {
		out = &readReply{reply: out, t: t}
	}
	return f.forward(ctx, sess, t, id, msg, out)
}

// forward sends a request to one target and streams its answer back.
func (f *Federation) forward(ctx context.Context, sess *session, t *target, id, msg []byte, out reply) error {
	if err := f.pinFailed(t); err != nil {
		out.final(rpcmsg.Error(id, codeInternal, err.Error()))
		return nil
	}
	up, err := sess.upstream(ctx, t)
	if err == nil {
		if _, err = observeCall(ctx, t, f.unsealRelatedTask(sess, t, msg), func(ctx context.Context, msg []byte) ([]byte, error) {
			return f.call(ctx, sess, t, up, msg, out)
		}); err == nil {
			return nil
		}
	}
	f.logger().Warn("mcp: target call failed", "target", t.Name, "error", err)
	if pr, ok := rootReply(out).(*postReply); ok && errors.Is(err, ErrUpstreamSessionGone) && !f.cfg.Stateless && pr.fail(http.StatusNotFound, id, "session expired at target "+t.Name) {
		return err // the spec's answer for a session that is gone: the client starts a new one
	}
	out.final(rpcmsg.Error(id, codeInternal, err.Error()))
	return err
}

// relayFrom adapts a target's server-initiated message for the client: server→client requests get
// ids that name the target (so the answer finds its way back and ids of two targets never collide),
// and resource URIs in updates get the target prefix.
func (f *Federation) relayFrom(sess *session, t *target, to func([]byte)) func([]byte) {
	return func(msg []byte) {
		if msg = f.adapt(sess, t, msg); msg != nil {
			to(msg)
		}
	}
}

// adapt is relayFrom's rewrite of one message; nil drops it.
func (f *Federation) adapt(sess *session, t *target, msg []byte) []byte {
	env, err := parseEnvelope(msg)
	if err != nil {
		return nil
	}
	if kind := listChangedKind(env.method); kind != "" {
		sess.forgetKnown(kind, t)
	}
	switch {
	case env.isRequest():
		msg = splice(msg, env.id, quoted(t.Name+"/"+string(env.id.of(msg))))
	case env.method == "notifications/resources/updated" && f.prefixed():
		if s := field(msg, env.params, "uri"); s.ok() && msg[s.start] == '"' {
			msg = splice(msg, s, quoted(exposedURI(t, stringValue(msg, s))))
		}
	}
	return f.sealRelayedTask(sess, t, env.method, msg)
}

// broadcast sends a request to every target and answers with an empty result (logging/setLevel).
func (f *Federation) broadcast(ctx context.Context, sess *session, env envelope, body []byte, out reply) error {
	id := env.id.of(body)
	errs := f.fanOut(ctx, sess, func(ctx context.Context, t *target, up upstream) error {
		resp, err := callTarget(ctx, t, up, body, nil)
		if err != nil {
			return err
		}
		e, perr := parseEnvelope(resp)
		if perr == nil && e.err.ok() {
			if stringField(resp, e.err, "message") != "" && t != nil {
				return fmt.Errorf("%s: %s", t.Name, stringField(resp, e.err, "message"))
			}
		}
		return nil
	})
	if err := f.fanOutErr(errs); err != nil {
		out.final(rpcmsg.Error(id, codeInternal, err.Error()))
		return err
	}
	out.final(rpcmsg.Result(id, []byte("{}")))
	return nil
}

// fanOut runs fn against every target concurrently; it returns one error slot per target.
func (f *Federation) fanOut(ctx context.Context, sess *session, fn func(context.Context, *target, upstream) error) []error {
	errs := make([]error, len(f.targets))
	var wg sync.WaitGroup
	for _, t := range f.targets {
		sl := &sess.slots[t.idx]
		sl.mu.Lock()
		down := sl.down
		sl.mu.Unlock()
		if down {
			errs[t.idx] = errSkipped
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			up, err := sess.upstream(ctx, t)
			if err == nil {
				err = fn(ctx, t, up)
			}
			errs[t.idx] = err
		}()
	}
	wg.Wait()
	return errs
}

var errSkipped = errors.New("mcp: target skipped")

// fanOutErr applies the failure mode to a fan-out's errors.
func (f *Federation) fanOutErr(errs []error) error {
	failed, real := 0, []error(nil)
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if !errors.Is(err, errSkipped) {
			real = append(real, fmt.Errorf("target %s: %w", f.targets[i].Name, err))
		}
	}
	if failed == 0 {
		return nil
	}
	if f.cfg.Failure == agentgateway.FailOpen && failed < len(errs) {
		for _, err := range real {
			f.logger().Warn("mcp: skipping failed target (failOpen)", "error", err)
		}
		return nil
	}
	if len(real) == 0 {
		return errors.New("mcp: every target is unavailable")
	}
	return errors.Join(real...)
}

// upstream returns the session's upstream for t, opening (or restarting) it when needed.
func (s *session) upstream(ctx context.Context, t *target) (upstream, error) {
	sl := &s.slots[t.idx]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if s.closed.Load() {
		return nil, errors.New("mcp: session closed")
	}
	if sl.up != nil {
		if sl.up.alive() {
			return sl.up, nil
		}
		old := sl.up
		sl.up = nil
		go old.close()
		if time.Since(sl.started) < 10*time.Second {
			sl.failures++
		} else {
			sl.failures = 0
		}
		s.f.logger().Warn("mcp: target connection lost; restarting", "target", t.Name, "restarts", sl.failures)
	}
	if sl.failures > 0 {
		delay := min(100*time.Millisecond<<min(sl.failures-1, 7), 10*time.Second)
		if wait := time.Until(sl.started.Add(delay)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	sl.started = time.Now()
	up, _, err := s.f.initUpstream(ctx, s, t)
	if err != nil {
		sl.failures++
		return nil, err
	}
	sl.up = up
	sl.down = false
	return up, nil
}

// initUpstream opens a session with t using the client's initialize parameters.
func (f *Federation) initUpstream(ctx context.Context, s *session, t *target) (upstream, []byte, error) {
	up, err := f.dial(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	if h, ok := up.(*httpUpstream); ok {
		h.capture = true
		defer func() { h.capture = false }()
	}
	resp, err := callTarget(ctx, t, up, rpcmsg.Request(newGatewayID(), "initialize", s.init), nil)
	if err != nil {
		up.close()
		return nil, nil, err
	}
	env, err := parseEnvelope(resp)
	if err != nil || !env.result.ok() {
		up.close()
		msg := "invalid initialize response"
		if env.err.ok() {
			msg = stringField(resp, env.err, "message")
		}
		return nil, nil, fmt.Errorf("%w: %s: initialize: %s", ErrTargetUnavailable, t.Name, msg)
	}
	v := stringField(resp, env.result, "protocolVersion")
	if err := checkTargetVersion(v, s.version); err != nil {
		up.close()
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrTargetUnavailable, t.Name, err)
	}
	up.setVersion(v)
	if err := up.send(ctx, rpcmsg.Request(nil, "notifications/initialized", nil)); err != nil {
		up.close()
		return nil, nil, err
	}
	return up, env.result.of(resp), nil
}
