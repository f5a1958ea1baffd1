package a2a

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	agentgateway "github.com/agentgw/agentgateway"
)

// Version bridging translates between the two JSON-RPC wire versions of A2A:
//
//	v0.3                                  v1.0
//	message/send, message/stream, ...     SendMessage, SendStreamingMessage, ...
//	"kind":"text"|"file"|"data" parts     {"text"} | {"raw"} | {"url"} | {"data"} parts
//	role "user" / "agent"                 "ROLE_USER" / "ROLE_AGENT"
//	state "working", "input-required"     "TASK_STATE_WORKING", "TASK_STATE_INPUT_REQUIRED"
//	result: a Task or a Message (kind)    result: {"task":...} or {"message":...}
//	stream event: object with "kind"      {"task"|"message"|"statusUpdate"|"artifactUpdate": ...}
//	status-update "final"                 (none: a terminal or interrupted state ends the stream)
//	card "url", "additionalInterfaces"    card "supportedInterfaces" with protocolVersion
//
// Bridged requests are decoded and re-encoded (unlike the pass-through path); they are the exception.

// maxBridgedResponse bounds a unary response read for translation.
const maxBridgedResponse = 16 << 20

var taskStates03to10 = map[string]string{
	"submitted":      "TASK_STATE_SUBMITTED",
	"working":        "TASK_STATE_WORKING",
	"completed":      "TASK_STATE_COMPLETED",
	"failed":         "TASK_STATE_FAILED",
	"canceled":       "TASK_STATE_CANCELED",
	"input-required": "TASK_STATE_INPUT_REQUIRED",
	"rejected":       "TASK_STATE_REJECTED",
	"auth-required":  "TASK_STATE_AUTH_REQUIRED",
	"unknown":        "TASK_STATE_UNSPECIFIED",
}

var taskStates10to03 = func() map[string]string {
	m := map[string]string{}
	for k, v := range taskStates03to10 {
		m[v] = k
	}
	return m
}()

// endsStream reports whether a v0.3 task state ends a stream (terminal or interrupted).
func endsStream(state03 string) bool {
	switch state03 {
	case "completed", "failed", "canceled", "rejected", "input-required", "auth-required":
		return true
	}
	return false
}

type obj = map[string]any

func asObj(v any) obj {
	m, _ := v.(obj)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// translator converts JSON values from one wire version to the other.
type translator struct{ to string }

// rewrite copies an object member by member: fn returns each member's new value, or false to leave it
// out.
func rewrite(m obj, fn func(k string, x any) (any, bool)) obj {
	out := make(obj, len(m))
	for k, x := range m {
		if y, keep := fn(k, x); keep {
			out[k] = y
		}
	}
	return out
}

// each translates every element of a JSON array.
func each(v any, fn func(any) any) []any {
	l := asList(v)
	out := make([]any, 0, len(l))
	for _, x := range l {
		out = append(out, fn(x))
	}
	return out
}

func (t translator) message(v any) any {
	m := asObj(v)
	if m == nil {
		return v
	}
	out := rewrite(m, func(k string, x any) (any, bool) {
		switch k {
		case "kind":
			return nil, false
		case "role":
			return t.role(x), true
		case "parts":
			return t.parts(x), true
		}
		return x, true
	})
	if t.to == V03 {
		out["kind"] = "message"
	}
	return out
}

func (t translator) role(v any) any {
	s, _ := v.(string)
	if t.to == V10 {
		switch s {
		case "user":
			return "ROLE_USER"
		case "agent":
			return "ROLE_AGENT"
		}
		return "ROLE_UNSPECIFIED"
	}
	if s == "ROLE_USER" {
		return "user"
	}
	return "agent"
}

func (t translator) parts(v any) any { return each(v, t.part) }

func (t translator) part(v any) any {
	p := asObj(v)
	if p == nil {
		return v
	}
	out := obj{}
	if md, ok := p["metadata"]; ok {
		out["metadata"] = md
	}
	if t.to == V10 {
		switch p["kind"] {
		case "text":
			out["text"] = p["text"]
		case "file":
			f := asObj(p["file"])
			if b, ok := f["bytes"]; ok {
				out["raw"] = b // both versions carry bytes base64-encoded
			} else {
				out["url"] = f["uri"]
			}
			if mt, ok := f["mimeType"]; ok {
				out["mediaType"] = mt
			}
			if n, ok := f["name"]; ok {
				out["filename"] = n
			}
		case "data":
			out["data"] = p["data"]
		default:
			return v
		}
		return out
	}
	switch {
	case p["text"] != nil:
		out["kind"], out["text"] = "text", p["text"]
	case p["raw"] != nil || p["url"] != nil:
		f := obj{}
		if p["raw"] != nil {
			f["bytes"] = p["raw"]
		} else {
			f["uri"] = p["url"]
		}
		if mt, ok := p["mediaType"]; ok {
			f["mimeType"] = mt
		}
		if n, ok := p["filename"]; ok {
			f["name"] = n
		}
		out["kind"], out["file"] = "file", f
	case p["data"] != nil:
		d := p["data"]
		if asObj(d) == nil {
			d = obj{"value": d} // v0.3 data parts are objects
		}
		out["kind"], out["data"] = "data", d
	default:
		return v
	}
	return out
}

func (t translator) status(v any) any {
	s := asObj(v)
	if s == nil {
		return v
	}
	return rewrite(s, func(k string, x any) (any, bool) {
		switch k {
		case "state":
			return t.state(x), true
		case "message":
			return t.message(x), true
		}
		return x, true
	})
}

func (t translator) state(v any) any {
	s, _ := v.(string)
	if t.to == V10 {
		if x, ok := taskStates03to10[s]; ok {
			return x
		}
		return "TASK_STATE_UNSPECIFIED"
	}
	if x, ok := taskStates10to03[s]; ok {
		return x
	}
	return "unknown"
}

func (t translator) artifact(v any) any {
	a := asObj(v)
	if a == nil {
		return v
	}
	return rewrite(a, func(k string, x any) (any, bool) {
		if k == "parts" {
			return t.parts(x), true
		}
		return x, true
	})
}

func (t translator) task(v any) any {
	m := asObj(v)
	if m == nil {
		return v
	}
	out := rewrite(m, func(k string, x any) (any, bool) {
		switch k {
		case "kind":
			return nil, false
		case "status":
			return t.status(x), true
		case "history":
			return each(x, t.message), true
		case "artifacts":
			return each(x, t.artifact), true
		}
		return x, true
	})
	if t.to == V03 {
		out["kind"] = "task"
	}
	return out
}

// event translates a stream event (and, for message/send, a result).
func (t translator) event(v any) (any, error) {
	m := asObj(v)
	if m == nil {
		return nil, fmt.Errorf("%w: event is not an object", ErrBridge)
	}
	if t.to == V10 {
		switch m["kind"] {
		case "task":
			return obj{"task": t.task(m)}, nil
		case "message":
			return obj{"message": t.message(m)}, nil
		case "status-update":
			e := t.update(m)
			delete(e, "final")
			return obj{"statusUpdate": e}, nil
		case "artifact-update":
			return obj{"artifactUpdate": t.update(m)}, nil
		}
		return nil, fmt.Errorf("%w: unknown event kind %v", ErrBridge, m["kind"])
	}
	switch {
	case m["task"] != nil:
		return t.task(m["task"]), nil
	case m["message"] != nil:
		return t.message(m["message"]), nil
	case m["statusUpdate"] != nil:
		e := t.update(asObj(m["statusUpdate"]))
		e["kind"] = "status-update"
		st, _ := asObj(e["status"])["state"].(string)
		e["final"] = endsStream(st)
		return e, nil
	case m["artifactUpdate"] != nil:
		e := t.update(asObj(m["artifactUpdate"]))
		e["kind"] = "artifact-update"
		return e, nil
	}
	return nil, fmt.Errorf("%w: unknown event shape", ErrBridge)
}

func (t translator) update(m obj) obj {
	return rewrite(m, func(k string, x any) (any, bool) {
		switch k {
		case "kind":
			return nil, false
		case "status":
			return t.status(x), true
		case "artifact":
			return t.artifact(x), true
		}
		return x, true
	})
}

// params translates the params of a request for the upstream.
func (t translator) params(method string, v any) (any, error) {
	p := asObj(v)
	switch method {
	case "message/send", "message/stream", "SendMessage", "SendStreamingMessage":
		if p == nil || p["message"] == nil {
			return nil, &rpcError{status: http.StatusOK, code: CodeInvalidParams, msg: "Invalid params: message is required", err: ErrBridge}
		}
		return rewrite(p, func(k string, x any) (any, bool) {
			switch k {
			case "message":
				return t.message(x), true
			case "configuration":
				return t.config(asObj(x)), true
			}
			return x, true
		}), nil
	}
	return v, nil // get, cancel and resubscribe take {id, historyLength, metadata} in both versions
}

func (t translator) config(c obj) any {
	if c == nil {
		return nil
	}
	out := obj{}
	for k, x := range c {
		switch {
		case t.to == V03 && k == "returnImmediately":
			b, _ := x.(bool)
			out["blocking"] = !b
		case t.to == V10 && k == "blocking":
			if b, ok := x.(bool); ok && !b {
				out["returnImmediately"] = true
			}
		case t.to == V03 && k == "taskPushNotificationConfig":
			out["pushNotificationConfig"] = x
		case t.to == V10 && k == "pushNotificationConfig":
			out["taskPushNotificationConfig"] = x
		default:
			out[k] = x
		}
	}
	return out
}

// result translates the result of a unary call.
func (t translator) result(method string, v any) (any, error) {
	switch method {
	case "message/send", "SendMessage":
		return t.event(v)
	case "tasks/get", "tasks/cancel", "GetTask", "CancelTask":
		return t.task(v), nil
	}
	return v, nil
}

// bridgeable are the methods translated; the rest are refused on a bridged route.
var bridgeable = map[string]bool{
	"message/send": true, "message/stream": true, "tasks/get": true, "tasks/cancel": true, "tasks/resubscribe": true,
	"SendMessage": true, "SendStreamingMessage": true, "GetTask": true, "CancelTask": true, "SubscribeToTask": true,
}

type rpcEnvelope struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

func decodeAny(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// serveBridged serves a call whose wire version differs from the upstream's.
func (p *proxy) serveBridged(w http.ResponseWriter, r *http.Request, st *agentgateway.State, body []byte, c Call) {
	if c.info == nil || !bridgeable[c.Method] {
		st.Err = ErrBridge
		writeRPCError(w, http.StatusOK, c.ID, CodeUnsupportedOperation, "Unsupported operation: "+c.Method+" is not bridged to the agent's A2A version")
		return
	}
	var req rpcEnvelope
	if err := json.Unmarshal(body, &req); err != nil {
		writeRPCError(w, http.StatusOK, c.ID, CodeParseError, "Parse error")
		return
	}
	up := translator{to: p.o.bridge}
	down := translator{to: c.Version}
	var params any
	if len(req.Params) > 0 {
		v, err := decodeAny(req.Params)
		if err != nil {
			writeRPCError(w, http.StatusOK, c.ID, CodeParseError, "Parse error")
			return
		}
		if params, err = up.params(c.Method, v); err != nil {
			WriteCallError(w, c.ID, err)
			return
		}
	}
	newBody, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id,omitempty"`
		Method  string          `json:"method"`
		Params  any             `json:"params,omitempty"`
	}{"2.0", req.ID, c.info.peer, params})
	if err != nil {
		writeRPCError(w, http.StatusOK, c.ID, CodeInternalError, "Internal error")
		return
	}
	ur := r.Clone(r.Context())
	ur.Body = io.NopCloser(bytes.NewReader(newBody))
	ur.ContentLength = int64(len(newBody))
	ur.GetBody = nil
	ur.Header.Del("Content-Length")
	if p.o.bridge == V10 {
		ur.Header.Set(VersionHeader, V10)
	} else {
		ur.Header.Del(VersionHeader)
	}
	if ext := ur.Header.Values("A2A-Extensions"); p.o.bridge == V03 && len(ext) > 0 {
		ur.Header["X-A2a-Extensions"] = ext
	} else if ext := ur.Header.Values("X-A2A-Extensions"); p.o.bridge == V10 && len(ext) > 0 {
		ur.Header["A2a-Extensions"] = ext
	}
	if c.Stream {
		p.bridgeStream(w, ur, st, c, down)
		return
	}
	rec := newBuffered(maxBridgedResponse)
	p.next.ServeHTTP(rec, ur)
	p.writeBridgedResult(w, st, c, down, rec.status, rec.buf.Bytes(), rec.overflow)
}

func (p *proxy) writeBridgedResult(w http.ResponseWriter, st *agentgateway.State, c Call, down translator, status int, body []byte, overflow bool) {
	var resp rpcEnvelope
	if overflow || json.Unmarshal(body, &resp) != nil || (resp.Result == nil && resp.Error == nil) {
		st.Err = fmt.Errorf("%w: upstream answered HTTP %d without a JSON-RPC response", ErrBridge, status)
		writeRPCError(w, http.StatusBadGateway, c.ID, CodeUpstream, "Upstream error: the agent did not answer with JSON-RPC")
		return
	}
	out := rpcEnvelope{JSONRPC: "2.0", ID: c.ID, Error: resp.Error}
	if out.ID == nil {
		out.ID = json.RawMessage("null")
	}
	if resp.Error == nil {
		v, err := decodeAny(resp.Result)
		if err == nil {
			v, err = down.result(c.Method, v)
		}
		if err == nil {
			out.Result, err = json.Marshal(v)
		}
		if err != nil {
			st.Err = err
			writeRPCError(w, http.StatusBadGateway, c.ID, CodeUpstream, "Upstream error: cannot translate the agent's answer")
			return
		}
	}
	b, _ := json.Marshal(out)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if status < 400 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// bridgeStream runs the upstream call with its response piped back, and relays each server-sent
// event translated as soon as it arrives.
func (p *proxy) bridgeStream(w http.ResponseWriter, ur *http.Request, st *agentgateway.State, c Call, down translator) {
	iw := &replyWriter{}
	iw.Init(w, nil, iw)
	ctx, stop := p.streamContext(iw, ur)
	defer stop()
	pr, pw := io.Pipe()
	rw := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				_ = pw.CloseWithError(fmt.Errorf("a2a: upstream panic: %v", v))
			}
		}()
		p.next.ServeHTTP(rw, ur.WithContext(ctx))
		rw.WriteHeader(http.StatusOK)
		_ = pw.Close()
	}()
	defer func() {
		_ = pr.CloseWithError(io.ErrClosedPipe)
		<-done
	}()
	<-rw.ready
	if rw.status != http.StatusOK || !strings.HasPrefix(rw.header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(io.LimitReader(pr, maxBridgedResponse))
		p.writeBridgedResult(w, st, c, down, rw.status, body, false)
		return
	}
	h := iw.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	iw.WriteHeader(http.StatusOK)
	iw.Flush()
	br := bufio.NewReaderSize(pr, 64<<10)
	var data bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long data line: keep collecting it.
			data.Write(bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" ")))
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				data.Write(line)
			}
			if data.Len() > maxBridgedResponse {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		l := bytes.TrimRight(line, "\r\n")
		switch {
		case len(l) == 0:
			if data.Len() == 0 {
				continue
			}
			out := translateStreamData(data.Bytes(), c, down)
			data.Reset()
			if _, err := iw.Write(out); err != nil {
				return
			}
			iw.Flush()
		case bytes.HasPrefix(l, []byte("data:")):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(bytes.TrimPrefix(bytes.TrimPrefix(l, []byte("data:")), []byte(" ")))
		}
	}
}

// translateStreamData turns one upstream SSE data payload (a JSON-RPC response carrying an event)
// into the client's version, framed as an SSE event.
func translateStreamData(data []byte, c Call, down translator) []byte {
	var resp rpcEnvelope
	out := rpcEnvelope{JSONRPC: "2.0", ID: c.ID}
	if out.ID == nil {
		out.ID = json.RawMessage("null")
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		out.Error = json.RawMessage(rpcErrorObject(CodeUpstream, "Upstream error: malformed stream event"))
	} else if resp.Error != nil {
		out.Error = resp.Error
	} else {
		v, err := decodeAny(resp.Result)
		if err == nil {
			v, err = down.event(v)
		}
		if err == nil {
			out.Result, err = json.Marshal(v)
		}
		if err != nil {
			out.Error = json.RawMessage(rpcErrorObject(CodeUpstream, "Upstream error: cannot translate a stream event"))
		}
	}
	b, _ := json.Marshal(out)
	framed := make([]byte, 0, len(b)+8)
	framed = append(framed, "data: "...)
	framed = append(framed, b...)
	return append(framed, '\n', '\n')
}

func rpcErrorObject(code int, msg string) string {
	m, _ := json.Marshal(msg)
	return fmt.Sprintf(`{"code":%d,"message":%s}`, code, m)
}

// pipeWriter is the ResponseWriter of an upstream call whose body is read as it is written.
type pipeWriter struct {
	header http.Header
	status int
	pw     *io.PipeWriter
	once   sync.Once
	ready  chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(status int) {
	w.once.Do(func() {
		w.status = status
		close(w.ready)
	})
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(b)
}

// Flush is a no-op: the pipe hands every write over as it happens.
func (w *pipeWriter) Flush() {}
