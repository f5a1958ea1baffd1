package mcp

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"

	agentgateway "github.com/agentgw/agentgateway"
	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
)

// MCP tasks (protocol 2025-11-25) through the federation.
//
// A target's task ids never reach the client as they are: the gateway hands out sealed task ids
// (AES-GCM under the session key, like session ids) that carry the owning target, the tool the task
// runs, the target's own task id and the client session. tasks/get, tasks/result and tasks/cancel
// open the id, refuse it unless it was issued in the same session, and check mcpAuthorization as for
// a call of that tool; anything refused (forged, another session's, a tool the client may not call)
// is answered exactly like a task that does not exist (-32602). tasks/list asks every target and
// merges the tasks this session created through the gateway (on this replica) and may see.
//
// Task status notifications and messages marked with the related-task _meta key get the sealed id
// too. Task ids the client issues (tasks the client runs for a target's sampling or elicitation
// request) belong to the client and pass through unchanged.

// relatedTaskKey is the _meta key that ties a message to a task.
const relatedTaskKey = "io.modelcontextprotocol/related-task"

// Bounds of a task id.
const (
	// maxUpstreamTaskID is the longest target task id the gateway seals; longer ones are refused.
	maxUpstreamTaskID = 512
	// maxTaskID is the longest sealed id accepted from a client.
	maxTaskID = 2048
)

// ErrTaskID is returned (wrapped) for a task id the gateway did not issue for this session.
var ErrTaskID = errors.New("mcp: unknown task")

// taskAAD separates task ids from session ids sealed with the same key: neither opens as the other.
var taskAAD = []byte("agw-mcp-task")

// taskRecord is the sealed content of a client-facing task id.
type taskRecord struct {
	Target  string `json:"t"`
	Tool    string `json:"n,omitempty"`
	ID      string `json:"i"`
	Session string `json:"s,omitempty"`
}

// processTaskAEAD seals task ids of federations without a session key (stateless ones).
var processTaskAEAD = sync.OnceValue(func() cipher.AEAD {
	a, _ := newAEAD(processKey())
	return a
})

func (f *Federation) taskAEAD() cipher.AEAD {
	if f.aead != nil {
		return f.aead
	}
	return processTaskAEAD()
}

// sealTask returns the client-facing id of a target's task. The id is deterministic (the nonce is a
// MAC of the record), so a task has one id wherever it shows up (the CreateTaskResult, tasks/list,
// status notifications), on every replica that shares the key; equal ids only reveal the same task.
func (f *Federation) sealTask(rec taskRecord) (string, error) {
	if rec.ID == "" || len(rec.ID) > maxUpstreamTaskID {
		return "", fmt.Errorf("%w: target %s issued a task id of %d bytes", ErrTaskID, rec.Target, len(rec.ID))
	}
	plain, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	a := f.taskAEAD()
	mac := hmac.New(sha256.New, f.taskNonceKey())
	mac.Write(plain)
	nonce := mac.Sum(make([]byte, 0, sha256.Size+len(plain)+a.Overhead()))[:a.NonceSize()]
	id := base64.RawURLEncoding.EncodeToString(a.Seal(nonce, nonce, plain, taskAAD))
	if len(id) > maxTaskID {
		// Never issue an id that openTask refuses (a very long tool name).
		return "", fmt.Errorf("%w: the task id of target %s would be %d bytes (limit %d)", ErrTaskID, rec.Target, len(id), maxTaskID)
	}
	return id, nil
}

// taskNonceKey is the MAC key of task id nonces, derived from the session key (never the key itself).
func (f *Federation) taskNonceKey() []byte {
	key := f.cfg.SessionKey
	if len(key) == 0 || f.aead == nil {
		key = processKey()
	}
	sum := sha256.Sum256(append([]byte("agw-mcp-task-nonce\x00"), key...))
	return sum[:]
}

// openTask opens a client-facing task id.
func (f *Federation) openTask(id string) (taskRecord, error) {
	var rec taskRecord
	a := f.taskAEAD()
	if len(id) > maxTaskID {
		return rec, fmt.Errorf("%w: id too long", ErrTaskID)
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) < a.NonceSize()+a.Overhead() {
		return rec, fmt.Errorf("%w: malformed id", ErrTaskID)
	}
	plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], taskAAD)
	if err != nil {
		return rec, fmt.Errorf("%w: not issued by this gateway", ErrTaskID)
	}
	if err := json.Unmarshal(plain, &rec); err != nil || rec.Target == "" || rec.ID == "" {
		return rec, fmt.Errorf("%w: malformed record", ErrTaskID)
	}
	return rec, nil
}

// taskTable is what a session knows of the tasks it created: target and target task id → tool, and
// the task-augmented calls under way (target → tool → count).
type taskTable struct {
	mu      sync.Mutex
	tools   map[[2]string]string
	pending map[string]map[string]int
}

// begin and end bracket a task-augmented call: a target may announce the task (a status notification
// on the GET stream) before the CreateTaskResult arrives, and the id it gets must be the same.
func (tt *taskTable) begin(target, tool string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.pending == nil {
		tt.pending = map[string]map[string]int{}
	}
	if tt.pending[target] == nil {
		tt.pending[target] = map[string]int{}
	}
	tt.pending[target][tool]++
}

func (tt *taskTable) end(target, tool string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.pending[target][tool]--; tt.pending[target][tool] <= 0 {
		delete(tt.pending[target], tool)
	}
}

// toolOf returns the tool of a target's task: recorded, else the one tool of the task-augmented
// calls under way to that target ("" when there are none, or several tools: then an early
// announcement gets an id without the tool, which mcpAuthorization refuses).
func (tt *taskTable) toolOf(target, id string) string {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tool, ok := tt.tools[[2]string{target, id}]; ok {
		return tool
	}
	if p := tt.pending[target]; len(p) == 1 {
		for tool := range p {
			return tool
		}
	}
	return ""
}

// maxSessionTasks bounds the tasks a session remembers for tasks/list (oldest entries are not
// evicted individually: the table is reset, and those tasks stay reachable by id).
const maxSessionTasks = 10000

func (tt *taskTable) put(target, id, tool string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.tools == nil || len(tt.tools) >= maxSessionTasks {
		tt.tools = map[[2]string]string{}
	}
	tt.tools[[2]string{target, id}] = tool
}

func (tt *taskTable) get(target, id string) (string, bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tool, ok := tt.tools[[2]string{target, id}]
	return tool, ok
}

// sessionBinding is what a task id is bound to: the session id's digest ("" without sessions).
func sessionBinding(sess *session) string { return sess.key }

// sealTaskAt replaces the string at s (a target's task id) with its sealed form; tool is the task's
// tool when known, else looked up in the session's table.
func (f *Federation) sealTaskAt(sess *session, t *target, msg []byte, s span, tool string) ([]byte, error) {
	if !s.ok() || msg[s.start] != '"' {
		return msg, nil
	}
	id := stringValue(msg, s)
	if tool == "" {
		tool = sess.tasks.toolOf(t.Name, id)
	}
	sealed, err := f.sealTask(taskRecord{Target: t.Name, Tool: tool, ID: id, Session: sessionBinding(sess)})
	if err != nil {
		return nil, err
	}
	return splice(msg, s, quoted(sealed)), nil
}

// taskCallReply seals the task id of a task-augmented tools/call's CreateTaskResult and remembers the
// task for tasks/list.
type taskCallReply struct {
	reply
	f    *Federation
	sess *session
	t    *target
	tool string
}

func (r *taskCallReply) final(msg []byte) {
	env, err := parseEnvelope(msg)
	if err == nil && env.result.ok() {
		s := field(msg, env.result, "task", "taskId")
		if s.ok() && msg[s.start] == '"' {
			r.sess.tasks.put(r.t.Name, stringValue(msg, s), r.tool)
			sealed, err := r.f.sealTaskAt(r.sess, r.t, msg, s, r.tool)
			if err != nil {
				r.reply.final(rpcmsg.Error(env.id.of(msg), codeInternal, err.Error()))
				return
			}
			msg = sealed
		}
	}
	r.reply.final(msg)
}

// sealRelayedTask rewrites the target task ids in a message a target sends on its own: the task of a
// status notification, and the related-task _meta of any message.
func (f *Federation) sealRelayedTask(sess *session, t *target, method string, msg []byte) []byte {
	status := method == "notifications/tasks/status"
	if !status && !bytes.Contains(msg, []byte(relatedTaskKey)) {
		return msg
	}
	env, err := parseEnvelope(msg) // msg may have been rewritten since it was parsed
	if err != nil {
		return msg
	}
	if status {
		if out, err := f.sealTaskAt(sess, t, msg, field(msg, env.params, "taskId"), ""); err == nil {
			msg = out
			env, _ = parseEnvelope(msg)
		}
	}
	if !bytes.Contains(msg, []byte(relatedTaskKey)) {
		return msg
	}
	if out, err := f.sealTaskAt(sess, t, msg, field(msg, env.params, "_meta", relatedTaskKey, "taskId"), ""); err == nil {
		msg = out
	}
	return msg
}

// callTask answers tasks/get, tasks/result and tasks/cancel: the sealed id is opened and checked,
// the request goes to the owning target under its own id, and the answer gets the sealed id back.
func (f *Federation) callTask(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, env envelope, body []byte, out reply) error {
	id := env.id.of(body)
	s := field(body, env.params, "taskId")
	notFound := func() error {
		out.final(rpcmsg.Error(id, codeInvalidParams, "unknown task"))
		return nil
	}
	if !s.ok() || body[s.start] != '"' {
		out.final(rpcmsg.Error(id, codeInvalidParams, "missing taskId"))
		return nil
	}
	sealed := stringValue(body, s)
	rec, err := f.openTask(sealed)
	if err != nil || rec.Session != sessionBinding(sess) {
		return notFound()
	}
	t := f.byName[rec.Target]
	if t == nil {
		return notFound()
	}
	st.MCP.Target, st.MCP.Name = t.Name, rec.Tool
	st.MCP.ToolTarget, st.MCP.ToolName = t.Name, rec.Tool
	// Seeing a task is calling its tool: a client that may not call it does not learn the task exists.
	if az := f.authorizer(r, st); az != nil && (rec.Tool == "" || !az.allows("tool", t.Name, rec.Tool)) {
		return notFound()
	}
	if rec.Tool != "" {
		if _, ok := t.exposeTool(rec.Tool); !ok {
			return notFound()
		}
	}
	msg := splice(body, s, quoted(rec.ID))
	return f.forward(ctx, sess, t, id, msg, &taskIDReply{reply: out, sealed: sealed, method: env.method})
}

// taskIDReply puts the client's sealed id back into the answer of tasks/get, tasks/cancel (the task's
// taskId) and tasks/result (its related-task _meta).
type taskIDReply struct {
	reply
	sealed string
	method string
}

func (r *taskIDReply) final(msg []byte) {
	env, err := parseEnvelope(msg)
	if err == nil && env.result.ok() {
		s := field(msg, env.result, "taskId")
		if r.method == "tasks/result" {
			s = field(msg, env.result, "_meta", relatedTaskKey, "taskId")
		}
		if s.ok() && msg[s.start] == '"' {
			msg = splice(msg, s, quoted(r.sealed))
		}
	}
	r.reply.final(msg)
}

// listTasks answers tasks/list: every target's tasks, following their pages, restricted to the tasks
// this session created and may see, under sealed ids, paged with the gateway's cursor.
func (f *Federation) listTasks(ctx context.Context, r *http.Request, st *agentgateway.State, sess *session, env envelope, body []byte, out reply) error {
	id := env.id.of(body)
	offset := 0
	if c := stringField(body, env.params, "cursor"); c != "" {
		n, ok := decodeCursor(c)
		if !ok {
			out.final(rpcmsg.Error(id, codeInvalidParams, "invalid cursor"))
			return nil
		}
		offset = n
	}
	az := f.authorizer(r, st)
	perTarget := make([][]json.RawMessage, len(f.targets))
	errs := f.fanOut(ctx, sess, func(ctx context.Context, t *target, up upstream) error {
		tasks, err := f.fetchTasks(ctx, t, up)
		if err != nil {
			return err
		}
		for _, raw := range tasks {
			b := []byte(raw)
			s := field(b, span{0, len(b)}, "taskId")
			if !s.ok() || b[s.start] != '"' {
				continue
			}
			tool, mine := sess.tasks.get(t.Name, stringValue(b, s))
			if !mine || (az != nil && (tool == "" || !az.allows("tool", t.Name, tool))) {
				continue
			}
			if _, ok := t.exposeTool(tool); tool != "" && !ok {
				continue
			}
			if b, err = f.sealTaskAt(sess, t, b, s, tool); err == nil {
				perTarget[t.idx] = append(perTarget[t.idx], b)
			}
		}
		return nil
	})
	if err := f.fanOutErr(errs); err != nil {
		out.final(rpcmsg.Error(id, codeInternal, err.Error()))
		return err
	}
	var all []json.RawMessage
	for _, ts := range perTarget {
		all = append(all, ts...)
	}
	offset = min(offset, len(all))
	end := min(offset+f.cfg.PageSize, len(all))
	res := struct {
		Tasks      []json.RawMessage `json:"tasks"`
		NextCursor string            `json:"nextCursor,omitempty"`
	}{Tasks: all[offset:end]}
	if res.Tasks == nil {
		res.Tasks = []json.RawMessage{}
	}
	if end < len(all) {
		res.NextCursor = encodeCursor(end)
	}
	b, err := json.Marshal(res)
	if err != nil {
		out.final(rpcmsg.Error(id, codeInternal, err.Error()))
		return err
	}
	out.final(rpcmsg.Result(id, b))
	return nil
}

// fetchTasks follows a target's pages of tasks/list. A target that answers with a JSON-RPC error
// (one without tasks, or older than 2025-11-25) has none.
func (f *Federation) fetchTasks(ctx context.Context, t *target, up upstream) ([]json.RawMessage, error) {
	var all []json.RawMessage
	cursor := ""
	for range maxUpstreamPages {
		params := []byte("{}")
		if cursor != "" {
			params = append(append([]byte(`{"cursor":`), quoted(cursor)...), '}')
		}
		resp, err := up.call(ctx, rpcmsg.Request(newGatewayID(), "tasks/list", params), nil)
		if err != nil {
			return nil, err
		}
		env, err := parseEnvelope(resp)
		if err != nil {
			return nil, fmt.Errorf("tasks/list: invalid response: %w", err)
		}
		if env.err.ok() {
			f.logger().Debug("mcp: target has no tasks/list", "target", t.Name, "error", stringField(resp, env.err, "message"))
			return all, nil
		}
		var p struct {
			Tasks      []json.RawMessage `json:"tasks"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := json.Unmarshal(env.result.of(resp), &p); err != nil {
			return nil, fmt.Errorf("tasks/list: decoding result: %w", err)
		}
		all = append(all, p.Tasks...)
		if p.NextCursor == "" || p.NextCursor == cursor {
			break
		}
		cursor = p.NextCursor
	}
	return all, nil
}

// mergeTaskCapabilities merges the targets' tasks server capabilities (which the go-sdk does not
// model): a feature is offered when some target offers it, since the gateway routes each request to
// the target that owns the task. It returns nil when no target offers tasks.
func mergeTaskCapabilities(results [][]byte) json.RawMessage {
	merged := map[string]any{}
	for _, raw := range results {
		var r struct {
			Capabilities struct {
				Tasks map[string]any `json:"tasks"`
			} `json:"capabilities"`
		}
		if raw == nil || json.Unmarshal(raw, &r) != nil || r.Capabilities.Tasks == nil {
			continue
		}
		mergeObjects(merged, r.Capabilities.Tasks)
	}
	if len(merged) == 0 {
		return nil
	}
	b, _ := json.Marshal(merged)
	return b
}

// mergeObjects adds src's keys to dst, merging nested objects.
func mergeObjects(dst, src map[string]any) {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := src[k]
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		switch {
		case sok && dok:
			mergeObjects(dm, sm)
		case sok:
			cp := map[string]any{}
			mergeObjects(cp, sm)
			dst[k] = cp
		default:
			if _, ok := dst[k]; !ok {
				dst[k] = v
			}
		}
	}
}

// withCapability sets capabilities[key] in a marshalled initialize result.
func withCapability(res []byte, key string, val json.RawMessage) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(res, &m); err != nil {
		return nil, err
	}
	var caps map[string]json.RawMessage
	if c := m["capabilities"]; len(c) > 0 {
		if err := json.Unmarshal(c, &caps); err != nil {
			return nil, err
		}
	}
	if caps == nil {
		caps = map[string]json.RawMessage{}
	}
	caps[key] = val
	c, err := json.Marshal(caps)
	if err != nil {
		return nil, err
	}
	m["capabilities"] = c
	return json.Marshal(m)
}

// wrappedReply is a reply that rewrites another's final message.
type wrappedReply interface{ unwrap() reply }

func (r *taskCallReply) unwrap() reply { return r.reply }
func (r *taskIDReply) unwrap() reply   { return r.reply }
func (r *readReply) unwrap() reply     { return r.reply }

// rootReply is the reply at the bottom of a chain of wrappers (the POST's, for its HTTP status).
func rootReply(r reply) reply {
	for {
		w, ok := r.(wrappedReply)
		if !ok {
			return r
		}
		r = w.unwrap()
	}
}

// unsealRelatedTask gives a client's message to target t the target's own task id where the client
// names one of t's tasks in the related-task _meta (of params or of a result): the target ties the
// message to its task by that id. Ids that do not open, or name another target or session, are left
// as they are.
func (f *Federation) unsealRelatedTask(sess *session, t *target, msg []byte) []byte {
	if !bytes.Contains(msg, []byte(relatedTaskKey)) {
		return msg
	}
	env, err := parseEnvelope(msg)
	if err != nil {
		return msg
	}
	for _, at := range []span{env.params, env.result} {
		s := field(msg, at, "_meta", relatedTaskKey, "taskId")
		if !s.ok() || msg[s.start] != '"' {
			continue
		}
		rec, err := f.openTask(stringValue(msg, s))
		if err != nil || rec.Target != t.Name || rec.Session != sessionBinding(sess) {
			continue
		}
		return splice(msg, s, quoted(rec.ID))
	}
	return msg
}
