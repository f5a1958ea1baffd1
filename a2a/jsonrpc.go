package a2a

import (
	"encoding/json"
	"errors"
	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
	"net/http"
)

// Wire versions of A2A as recorded in State.A2A.Version.
const (
	V03 = "0.3"
	V10 = "1.0"
)

// VersionHeader is the HTTP header a v1.0 client uses to name the protocol version it speaks.
const VersionHeader = "A2A-Version"

// JSON-RPC error codes the gateway itself produces. A2A's own codes (-32001 task not found ... -32009)
// are the agent's to produce and pass through unchanged.
const (
	CodeParseError     = rpcmsg.CodeParseError
	CodeInvalidRequest = rpcmsg.CodeInvalidRequest
	CodeMethodNotFound = rpcmsg.CodeMethodNotFound
	CodeInvalidParams  = rpcmsg.CodeInvalidParams
	CodeInternalError  = rpcmsg.CodeInternalError
	// CodeUnsupportedOperation is A2A's "operation not supported" (used when a bridged route cannot
	// translate a method, push notification configs for instance).
	CodeUnsupportedOperation = -32004
	// CodeForbidden is an implementation-defined server error (JSON-RPC reserves -32000..-32099):
	// an [Authorize] rule denied the call. It is sent with HTTP 403.
	CodeForbidden = -32040
	// CodeUpstream is an implementation-defined server error: the gateway could not reach the agent
	// or could not understand its answer while bridging versions.
	CodeUpstream = -32050
)

// Errors recorded in State.Err for requests the A2A layer refused.
var (
	ErrParse        = errors.New("a2a: request is not valid JSON")
	ErrInvalid      = errors.New("a2a: invalid JSON-RPC request")
	ErrUnknown      = errors.New("a2a: unknown method")
	ErrTooLarge     = errors.New("a2a: request body too large")
	ErrForbidden    = errors.New("a2a: call denied by authorization rules")
	ErrStreamIdle   = errors.New("a2a: stream idle timeout")
	ErrSignedCard   = errors.New("a2a: agent card is signed; not rewritten")
	ErrNoSkill      = errors.New("a2a: no agent offers the requested skill")
	ErrUnknownTask  = errors.New("a2a: task not known to the catalog")
	ErrBridge       = errors.New("a2a: cannot translate between wire versions")
	ErrInvalidAgent = errors.New("a2a: invalid agent")
)

// methodInfo describes one JSON-RPC method of either wire version.
type methodInfo struct {
	name    string
	version string
	// stream is set for methods answered with server-sent events.
	stream bool
	// idIsTask is set when params.id names a task (tasks/get and friends).
	idIsTask bool
	// peer is the same operation's name in the other wire version ("" when there is none).
	peer string
}

var methodList = []methodInfo{
	{name: "message/send", version: V03, peer: "SendMessage"},
	{name: "message/stream", version: V03, stream: true, peer: "SendStreamingMessage"},
	{name: "tasks/get", version: V03, idIsTask: true, peer: "GetTask"},
	{name: "tasks/cancel", version: V03, idIsTask: true, peer: "CancelTask"},
	{name: "tasks/resubscribe", version: V03, stream: true, idIsTask: true, peer: "SubscribeToTask"},
	{name: "tasks/pushNotificationConfig/set", version: V03, peer: "CreateTaskPushNotificationConfig"},
	{name: "tasks/pushNotificationConfig/get", version: V03, idIsTask: true, peer: "GetTaskPushNotificationConfig"},
	{name: "tasks/pushNotificationConfig/list", version: V03, idIsTask: true, peer: "ListTaskPushNotificationConfigs"},
	{name: "tasks/pushNotificationConfig/delete", version: V03, idIsTask: true, peer: "DeleteTaskPushNotificationConfig"},
	{name: "agent/getAuthenticatedExtendedCard", version: V03, peer: "GetExtendedAgentCard"},

	{name: "SendMessage", version: V10, peer: "message/send"},
	{name: "SendStreamingMessage", version: V10, stream: true, peer: "message/stream"},
	{name: "GetTask", version: V10, idIsTask: true, peer: "tasks/get"},
	{name: "ListTasks", version: V10},
	{name: "CancelTask", version: V10, idIsTask: true, peer: "tasks/cancel"},
	{name: "SubscribeToTask", version: V10, stream: true, idIsTask: true, peer: "tasks/resubscribe"},
	{name: "CreateTaskPushNotificationConfig", version: V10, peer: "tasks/pushNotificationConfig/set"},
	{name: "GetTaskPushNotificationConfig", version: V10, peer: "tasks/pushNotificationConfig/get"},
	{name: "ListTaskPushNotificationConfigs", version: V10, peer: "tasks/pushNotificationConfig/list"},
	{name: "DeleteTaskPushNotificationConfig", version: V10, peer: "tasks/pushNotificationConfig/delete"},
	{name: "GetExtendedAgentCard", version: V10, peer: "agent/getAuthenticatedExtendedCard"},
}

var methods = func() map[string]*methodInfo {
	m := make(map[string]*methodInfo, len(methodList))
	for i := range methodList {
		m[methodList[i].name] = &methodList[i]
	}
	return m
}()

// Call is what the A2A layer learned from a JSON-RPC request body with one pass over its bytes: no
// value is decoded except the few strings it records.
type Call struct {
	// ID is the raw JSON of the request id (a string, a number or null), as sent.
	ID json.RawMessage
	// Method is the JSON-RPC method; Version the wire version it belongs to (V03 or V10).
	Method  string
	Version string
	// Stream is set for methods answered with server-sent events.
	Stream bool
	// TaskID and ContextID are params.id (for task-scoped methods), params.taskId,
	// params.message.taskId and params.message.contextId / params.contextId.
	TaskID    string
	ContextID string
	// Skill is params.metadata.skill or params.message.metadata.skill (see [Catalog]).
	Skill string

	info *methodInfo
}

// rpcError is a JSON-RPC error the gateway answers with.
type rpcError struct {
	status int
	code   int
	msg    string
	err    error
}

func (e *rpcError) Error() string { return e.msg }
func (e *rpcError) Unwrap() error { return e.err }

func errParse(msg string) *rpcError {
	return &rpcError{status: http.StatusOK, code: CodeParseError, msg: "Parse error: " + msg, err: ErrParse}
}

func errInvalid(msg string) *rpcError {
	return &rpcError{status: http.StatusOK, code: CodeInvalidRequest, msg: "Invalid Request: " + msg, err: ErrInvalid}
}

// ParseCall scans a JSON-RPC request body without decoding it. It accepts exactly one request object
// (A2A has no batches) with "jsonrpc":"2.0" and a method of either wire version. The returned error is
// a JSON-RPC error (wrapping ErrParse, ErrInvalid or ErrUnknown): [WriteCallError] answers with it.
// It does not allocate for a well-formed request beyond the ids it returns.
func ParseCall(body []byte) (Call, error) {
	c, err := parseCall(body, nil)
	if err != nil {
		return c, err
	}
	return c, nil
}

// parseCall is ParseCall with extension methods (any version; recorded as-is).
func parseCall(body []byte, extra map[string]bool) (Call, *rpcError) {
	var c Call
	var sc scanner
	sc.b = body
	i := sc.ws(0)
	if i >= len(body) {
		return c, errParse("empty body")
	}
	switch body[i] {
	case '{':
	case '[':
		if _, ok := sc.skip(i, 0); !ok {
			return c, errParse("malformed JSON")
		}
		return c, errInvalid("batch requests are not supported")
	default:
		if _, ok := sc.skip(i, 0); !ok {
			return c, errParse("malformed JSON")
		}
		return c, errInvalid("not a JSON object")
	}
	var version, method, params []byte
	var methodOK, hasMethod, badVersion bool
	paramsAt := -1
	end, ok := sc.object(i, 0, func(key []byte, v int) (int, bool) {
		switch string(key) {
		case "jsonrpc":
			s, e, ok := sc.str(v)
			if !ok {
				badVersion = true
				return sc.skip(v, 1)
			}
			version = s
			return e, true
		case "id":
			e, ok := sc.skip(v, 1)
			if ok {
				c.ID = json.RawMessage(body[v:e])
			}
			return e, ok
		case "method":
			hasMethod = true
			s, e, ok := sc.str(v)
			if !ok {
				return sc.skip(v, 1)
			}
			method, methodOK = s, true
			return e, true
		case "params":
			paramsAt = v
			e, ok := sc.skip(v, 1)
			if ok {
				params = body[v:e]
			}
			return e, ok
		}
		return sc.skip(v, 1)
	})
	if !ok || sc.ws(end) != len(body) {
		c.ID = nil // an id read from a broken body is not to be trusted
		return c, errParse("malformed JSON")
	}
	if c.ID != nil && !validID(c.ID) {
		c.ID = nil
		return c, errInvalid("id must be a string, a number or null")
	}
	if badVersion || string(version) != "2.0" {
		return c, errInvalid(`"jsonrpc" must be "2.0"`)
	}
	if !hasMethod || !methodOK {
		return c, errInvalid(`"method" must be a string`)
	}
	info := methods[string(method)]
	if info == nil {
		if !extra[string(method)] {
			return c, &rpcError{status: http.StatusOK, code: CodeMethodNotFound, msg: "Method not found: " + truncate(unescapeString(method), 64), err: ErrUnknown}
		}
		c.Method = unescapeString(method)
	} else {
		c.Method, c.Version, c.Stream, c.info = info.name, info.version, info.stream, info
	}
	if paramsAt >= 0 && len(params) > 0 {
		if params[0] != '{' {
			if string(params) == "null" {
				return c, nil
			}
			return c, &rpcError{status: http.StatusOK, code: CodeInvalidParams, msg: "Invalid params: params must be an object", err: ErrInvalid}
		}
		sc.params(&c, paramsAt, info != nil && info.idIsTask)
	}
	return c, nil
}

func validID(raw []byte) bool {
	switch raw[0] {
	case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// scanner walks JSON without decoding it. Every function returns the index just past the value it
// read and false when the input is malformed there.
type scanner struct{ b []byte }

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 128

func (s *scanner) ws(i int) int {
	for i < len(s.b) {
		switch s.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// str reads a string at i and returns its raw contents (escapes not decoded).
func (s *scanner) str(i int) ([]byte, int, bool) {
	b := s.b
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\':
			j++
		case c < 0x20:
			return nil, j, false
		}
	}
	return nil, len(b), false
}

// skip skips one value at i (after white space).
func (s *scanner) skip(i, depth int) (int, bool) {
	b := s.b
	i = s.ws(i)
	if i >= len(b) {
		return i, false
	}
	if depth > maxDepth {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		_, e, ok := s.str(i)
		return e, ok
	case c == '{':
		return s.object(i, depth, func(_ []byte, v int) (int, bool) { return s.skip(v, depth+1) })
	case c == '[':
		i = s.ws(i + 1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			e, ok := s.skip(i, depth+1)
			if !ok {
				return e, false
			}
			i = s.ws(e)
			if i >= len(b) {
				return i, false
			}
			if b[i] == ']' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i++
		}
	case c == 't':
		return s.lit(i, "true")
	case c == 'f':
		return s.lit(i, "false")
	case c == 'n':
		return s.lit(i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) {
			c := b[j]
			if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
				j++
				continue
			}
			break
		}
		return j, true
	}
	return i, false
}

func (s *scanner) lit(i int, want string) (int, bool) {
	if len(s.b)-i >= len(want) && string(s.b[i:i+len(want)]) == want {
		return i + len(want), true
	}
	return i, false
}

// object walks the object at i, calling fn with each key (raw) and the index of its value; fn returns
// the index past the value.
func (s *scanner) object(i, depth int, fn func(key []byte, v int) (int, bool)) (int, bool) {
	b := s.b
	if i >= len(b) || b[i] != '{' || depth > maxDepth {
		return i, false
	}
	i = s.ws(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		key, e, ok := s.str(i)
		if !ok {
			return e, false
		}
		i = s.ws(e)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		i = s.ws(i + 1)
		e, ok = fn(key, i)
		if !ok {
			return e, false
		}
		i = s.ws(e)
		if i >= len(b) {
			return i, false
		}
		if b[i] == '}' {
			return i + 1, true
		}
		if b[i] != ',' {
			return i, false
		}
		i = s.ws(i + 1)
	}
}

// strAt returns the string value at v, or "" (and the value skipped) when it is not a string.
func (s *scanner) strAt(v int, into *string) (int, bool) {
	raw, e, ok := s.str(v)
	if !ok {
		return s.skip(v, 2)
	}
	*into = unescapeString(raw)
	return e, true
}

// params records the ids and skill of a params object; the body is known to be well-formed.
func (s *scanner) params(c *Call, at int, idIsTask bool) {
	s.object(at, 1, func(key []byte, v int) (int, bool) {
		switch string(key) {
		case "id":
			if idIsTask {
				return s.strAt(v, &c.TaskID)
			}
		case "taskId":
			return s.strAt(v, &c.TaskID)
		case "contextId":
			return s.strAt(v, &c.ContextID)
		case "metadata":
			return s.metadata(c, v)
		case "message":
			if s.b[v] != '{' {
				break
			}
			return s.object(v, 2, func(key []byte, v int) (int, bool) {
				switch string(key) {
				case "taskId":
					return s.strAt(v, &c.TaskID)
				case "contextId":
					return s.strAt(v, &c.ContextID)
				case "metadata":
					if c.Skill == "" {
						return s.metadata(c, v)
					}
				}
				return s.skip(v, 3)
			})
		}
		return s.skip(v, 2)
	})
}

func (s *scanner) metadata(c *Call, v int) (int, bool) {
	if s.b[v] != '{' {
		return s.skip(v, 2)
	}
	return s.object(v, 3, func(key []byte, v int) (int, bool) {
		if string(key) == "skill" {
			return s.strAt(v, &c.Skill)
		}
		return s.skip(v, 4)
	})
}

// unescapeString decodes the raw contents of a JSON string, allocating once.
func unescapeString(raw []byte) string {
	for _, c := range raw {
		if c == '\\' {
			var out string
			q := make([]byte, 0, len(raw)+2)
			q = append(append(append(q, '"'), raw...), '"')
			if json.Unmarshal(q, &out) != nil {
				return string(raw)
			}
			return out
		}
	}
	return string(raw)
}

// WriteCallError answers with a JSON-RPC error response for err (as returned by [ParseCall]); any
// other error is answered as an internal error. id is the request id ("null" when nil).
func WriteCallError(w http.ResponseWriter, id json.RawMessage, err error) {
	var re *rpcError
	if !errors.As(err, &re) {
		re = &rpcError{status: http.StatusOK, code: CodeInternalError, msg: "Internal error"}
	}
	writeRPCError(w, re.status, id, re.code, re.msg)
}

func writeRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(rpcmsg.Error(id, code, msg))
}
