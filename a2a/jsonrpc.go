package a2a

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	rpcmsg "github.com/agentgw/agentgateway/internal/jsonrpc"
	"github.com/agentgw/agentgateway/internal/jsonscan"
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
// (A2A has no batches) with "jsonrpc":"2.0" and a method of either wire version. The body must be
// strict JSON: an object with two keys that agents could take for the same member (a repeated key,
// "m\u0065thod", or "METHOD", which Go agents decode as the method) is an invalid request, wherever
// it is, so the agent cannot act on another member than the one authorized. The returned error is a
// JSON-RPC error (wrapping ErrParse, ErrInvalid or ErrUnknown; also jsonscan's error for such bodies):
// [WriteCallError] answers with it. It does not allocate for a well-formed request beyond the ids it
// returns.
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
	var version, id, method, params jsonscan.Span
	top, err := jsonscan.Scan(body, func(k jsonscan.Key, v jsonscan.Span) {
		switch {
		case k.Matches("jsonrpc"):
			version = v
		case k.Matches("id"):
			id = v
		case k.Matches("method"):
			method = v
		case k.Matches("params"):
			params = v
		}
	})
	switch {
	case err == nil:
	case errors.Is(err, jsonscan.ErrSyntax):
		if len(bytes.TrimSpace(body)) == 0 {
			return c, errParse("empty body")
		}
		return c, errParse("malformed JSON")
	default:
		// Duplicate keys or deep nesting: not even the id is to be trusted.
		return c, &rpcError{status: http.StatusOK, code: CodeInvalidRequest, msg: "Invalid Request: " + err.Error(), err: fmt.Errorf("%w: %w", ErrInvalid, err)}
	}
	switch body[top.Start] {
	case '{':
	case '[':
		return c, errInvalid("batch requests are not supported")
	default:
		return c, errInvalid("not a JSON object")
	}
	if id.Found() {
		c.ID = json.RawMessage(id.In(body))
		if !validID(c.ID) {
			c.ID = nil
			return c, errInvalid("id must be a string, a number or null")
		}
	}
	if raw, ok := jsonscan.RawString(body, version); !ok || string(raw) != "2.0" {
		return c, errInvalid(`"jsonrpc" must be "2.0"`)
	}
	if !jsonscan.IsString(body, method) {
		return c, errInvalid(`"method" must be a string`)
	}
	var info *methodInfo
	if raw, ok := jsonscan.RawString(body, method); ok {
		info = methods[string(raw)]
	}
	if info == nil {
		name := jsonscan.Unquote(body, method)
		if info = methods[name]; info == nil {
			if !extra[name] {
				return c, &rpcError{status: http.StatusOK, code: CodeMethodNotFound, msg: "Method not found: " + truncate(name, 64), err: ErrUnknown}
			}
			c.Method = name
		}
	}
	if info != nil {
		c.Method, c.Version, c.Stream, c.info = info.name, info.version, info.stream, info
	}
	if params.Found() {
		switch body[params.Start] {
		case '{':
			readParams(&c, body, params, info != nil && info.idIsTask)
		case 'n': // null
		default:
			return c, &rpcError{status: http.StatusOK, code: CodeInvalidParams, msg: "Invalid params: params must be an object", err: ErrInvalid}
		}
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

// readParams records the ids and skill of a (scanned) params object, in one pass over it. Where a
// request names one twice (params.taskId and params.message.taskId), the later member wins.
func readParams(c *Call, body []byte, params jsonscan.Span, idIsTask bool) {
	jsonscan.Walk(body, params.Start, func(k jsonscan.Key, v int) int {
		switch {
		case k.Matches("id"):
			if idIsTask {
				return readString(&c.TaskID, body, v)
			}
		case k.Matches("taskId"):
			return readString(&c.TaskID, body, v)
		case k.Matches("contextId"):
			return readString(&c.ContextID, body, v)
		case k.Matches("metadata"):
			return readSkill(c, body, v)
		case k.Matches("message") && body[v] == '{':
			return jsonscan.Walk(body, v, func(k jsonscan.Key, v int) int {
				switch {
				case k.Matches("taskId"):
					return readString(&c.TaskID, body, v)
				case k.Matches("contextId"):
					return readString(&c.ContextID, body, v)
				case k.Matches("metadata") && c.Skill == "":
					return readSkill(c, body, v)
				}
				return jsonscan.Skip(body, v)
			})
		}
		return jsonscan.Skip(body, v)
	})
}

// readSkill records metadata.skill from the metadata value at v and returns the offset past it.
func readSkill(c *Call, body []byte, v int) int {
	if body[v] != '{' {
		return jsonscan.Skip(body, v)
	}
	return jsonscan.Walk(body, v, func(k jsonscan.Key, v int) int {
		if k.Matches("skill") {
			return readString(&c.Skill, body, v)
		}
		return jsonscan.Skip(body, v)
	})
}

// readString stores the string value at v (a value of another type leaves into as it was) and
// returns the offset past the value.
func readString(into *string, body []byte, v int) int {
	end := jsonscan.Skip(body, v)
	if body[v] == '"' {
		*into = jsonscan.Unquote(body, jsonscan.Span{Start: v, End: end})
	}
	return end
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
