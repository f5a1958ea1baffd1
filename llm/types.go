package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Role is who wrote a message.
type Role string

// The roles of the internal representation. System prompts are not messages: they live in
// [Request.System], as Anthropic carries them; OpenAI "system" and "developer" messages map there.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	// RoleTool carries tool results (OpenAI role "tool"; an Anthropic user message of tool_result blocks).
	RoleTool Role = "tool"
)

// PartType is the kind of one content part.
type PartType string

// The content part kinds every Format and Provider translates.
const (
	PartText PartType = "text"
	// PartImage is an image given by URL or inline as base64 data with its media type.
	PartImage PartType = "image"
	// PartToolCall is a call the assistant makes (OpenAI tool_calls[], Anthropic tool_use).
	PartToolCall PartType = "tool_call"
	// PartToolResult answers a tool call (OpenAI role "tool", Anthropic tool_result).
	PartToolResult PartType = "tool_result"
	// PartThinking is reasoning text, with the provider's signature when it gave one.
	PartThinking PartType = "thinking"
	// PartRedactedThinking is encrypted reasoning (Anthropic redacted_thinking), kept opaque in Data.
	PartRedactedThinking PartType = "redacted_thinking"
)

// Part is one piece of content. Which fields are meaningful depends on Type.
type Part struct {
	Type PartType
	// Text is the text of PartText and PartThinking.
	Text string
	// Image: URL (http(s) or a data: URL as the client sent it) or MediaType plus base64 Data.
	// Data also holds the opaque payload of PartRedactedThinking.
	URL       string
	MediaType string
	Data      string
	// Detail is OpenAI's image detail ("auto", "low", "high"); other formats ignore it.
	Detail string
	// ToolCallID identifies a call (PartToolCall) or the call a result answers (PartToolResult).
	ToolCallID string
	// ToolName is the called tool's name (PartToolCall).
	ToolName string
	// Arguments is the call's arguments as a JSON object (PartToolCall).
	Arguments json.RawMessage
	// Content is the content of a tool result (PartToolResult): text and images.
	Content []Part
	// IsError marks a tool result that reports a failure.
	IsError bool
	// Signature is the provider's signature of a thinking block (Anthropic), needed to send it back.
	Signature string
	// CacheControl is a provider cache marker on this part, passed on where the provider has one.
	CacheControl json.RawMessage
}

// Message is one turn of a conversation.
type Message struct {
	Role  Role
	Parts []Part
	// Name is the optional participant name (OpenAI "name").
	Name string
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments (an object schema).
	Parameters json.RawMessage
	// Strict asks OpenAI for strict schema adherence; other providers ignore it.
	Strict bool
	// CacheControl is a provider cache marker on this tool definition.
	CacheControl json.RawMessage
}

// ToolChoiceMode says how the model may use tools.
type ToolChoiceMode string

// Tool choice modes.
const (
	ToolChoiceAuto     ToolChoiceMode = "auto"
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required" // Anthropic "any"
	ToolChoiceTool     ToolChoiceMode = "tool"     // a named tool
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	Mode ToolChoiceMode
	// Name is the tool to call when Mode is ToolChoiceTool.
	Name string
	// DisableParallel forbids more than one tool call per turn.
	DisableParallel bool
}

// Thinking asks for reasoning: a token budget (Anthropic) or an effort level (OpenAI
// reasoning_effort: "minimal", "low", "medium", "high"). Providers convert one into the other.
type Thinking struct {
	BudgetTokens int
	Effort       string
}

// Request is a chat request in the provider-neutral form that every Format decodes into and every
// Provider encodes from.
type Request struct {
	// Model is the model as the client named it; the router replaces it with the upstream model.
	Model string
	// System holds the system prompt(s) as text parts, in order.
	System   []Part
	Messages []Message
	Tools    []Tool
	// ToolChoice is nil when the client left it to the provider.
	ToolChoice *ToolChoice
	// MaxTokens bounds the output (0: unset; providers that require it use their default).
	MaxTokens   int
	Temperature *float64
	TopP        *float64
	TopK        *int
	Stop        []string
	Stream      bool
	Thinking    *Thinking
	// User identifies the end user to the provider (OpenAI "user", Anthropic metadata.user_id).
	User string
	// IncludeUsage records whether an OpenAI client asked for usage in its stream
	// (stream_options.include_usage); the gateway always asks the provider.
	IncludeUsage bool
}

// StopReason says why the model stopped, in the internal vocabulary (Anthropic's, which is the finer).
type StopReason string

// Stop reasons.
const (
	StopEndTurn       StopReason = "end_turn"
	StopMaxTokens     StopReason = "max_tokens"
	StopToolUse       StopReason = "tool_use"
	StopSequence      StopReason = "stop_sequence"
	StopContentFilter StopReason = "refusal"
	StopPause         StopReason = "pause_turn"
)

// Usage is token usage, normalised: InputTokens counts every prompt token, cached ones included
// (CachedInputTokens read from cache and CacheCreationTokens written to it are parts of it), and
// OutputTokens includes ReasoningTokens.
type Usage struct {
	InputTokens         int64
	OutputTokens        int64
	CachedInputTokens   int64
	CacheCreationTokens int64
	ReasoningTokens     int64
}

// merge overwrites u's fields with the non-zero fields of v (streams report usage in pieces).
func (u *Usage) merge(v Usage) {
	if v.InputTokens != 0 {
		u.InputTokens = v.InputTokens
	}
	if v.OutputTokens != 0 {
		u.OutputTokens = v.OutputTokens
	}
	if v.CachedInputTokens != 0 {
		u.CachedInputTokens = v.CachedInputTokens
	}
	if v.CacheCreationTokens != 0 {
		u.CacheCreationTokens = v.CacheCreationTokens
	}
	if v.ReasoningTokens != 0 {
		u.ReasoningTokens = v.ReasoningTokens
	}
}

// Response is a complete (non-streamed) chat response.
type Response struct {
	ID    string
	Model string
	// Created is the Unix time of the response (OpenAI "created"; 0 means now).
	Created int64
	// Parts is the assistant's content in order: thinking, text, tool calls.
	Parts        []Part
	StopReason   StopReason
	StopSequence string
	Usage        Usage
}

// ErrorKind classifies an error independently of the wire format.
type ErrorKind string

// Error kinds, each with its usual HTTP status.
const (
	ErrInvalidRequest  ErrorKind = "invalid_request"   // 400
	ErrAuthentication  ErrorKind = "authentication"    // 401
	ErrPermission      ErrorKind = "permission"        // 403
	ErrNotFound        ErrorKind = "not_found"         // 404
	ErrRequestTooLarge ErrorKind = "request_too_large" // 413
	ErrRateLimit       ErrorKind = "rate_limit"        // 429
	ErrAPI             ErrorKind = "api_error"         // 500, 502
	ErrOverloaded      ErrorKind = "overloaded"        // 529, 503
	ErrTimeout         ErrorKind = "timeout"           // 504
)

// Error is an error answered to a client, in the client's format. The router makes them for bad
// input and unreachable providers; providers' error responses are decoded into them.
type Error struct {
	// Status is the HTTP status to answer with.
	Status  int
	Kind    ErrorKind
	Message string
	// Code is the provider's machine-readable code, if any (OpenAI "code").
	Code string
	// Param names the offending request field, if known (OpenAI "param").
	Param string
	// RetryAfter is passed to the client as the Retry-After header when set.
	RetryAfter time.Duration
	// Err is the underlying cause, for the log and errors.Is/As.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("llm: %s (%d): %s: %v", e.Kind, e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("llm: %s (%d): %s", e.Kind, e.Status, e.Message)
}

// Unwrap returns the cause, so errors.Is(err, ErrUnknownModel) and the like match.
func (e *Error) Unwrap() error { return e.Err }

// Errors the router reports; match them with errors.Is on the *Error it answers with.
var (
	ErrMalformedRequest = errors.New("malformed request")
	ErrUnknownModel     = errors.New("unknown model")
	ErrBodyTooLarge     = errors.New("request body too large")
	ErrUpstream         = errors.New("provider unavailable")
	ErrUnsupported      = errors.New("not supported by the target provider")
)

// errorf makes an *Error of kind with the status that kind usually has.
func errorf(kind ErrorKind, cause error, format string, args ...any) *Error {
	return &Error{Status: kindStatus(kind), Kind: kind, Message: fmt.Sprintf(format, args...), Err: cause}
}

func kindStatus(k ErrorKind) int {
	switch k {
	case ErrInvalidRequest:
		return http.StatusBadRequest
	case ErrAuthentication:
		return http.StatusUnauthorized
	case ErrPermission:
		return http.StatusForbidden
	case ErrNotFound:
		return http.StatusNotFound
	case ErrRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case ErrRateLimit:
		return http.StatusTooManyRequests
	case ErrOverloaded:
		return http.StatusServiceUnavailable
	case ErrTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// statusKind classifies an HTTP status from a provider.
func statusKind(status int) ErrorKind {
	switch {
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return ErrInvalidRequest
	case status == http.StatusUnauthorized:
		return ErrAuthentication
	case status == http.StatusForbidden:
		return ErrPermission
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusRequestEntityTooLarge:
		return ErrRequestTooLarge
	case status == http.StatusTooManyRequests:
		return ErrRateLimit
	case status == http.StatusServiceUnavailable, status == 529:
		return ErrOverloaded
	case status == http.StatusGatewayTimeout, status == http.StatusRequestTimeout:
		return ErrTimeout
	case status >= 400 && status < 500:
		return ErrInvalidRequest
	}
	return ErrAPI
}

// EventType is the kind of one stream event.
type EventType uint8

// Stream events. A well-formed stream is Start, then for each content block BlockStart, Deltas and
// BlockStop, then Finish, any Usage, and End. Error may come at any point and ends the stream.
const (
	// EventStart opens the message: ID, Model and whatever Usage is known (Anthropic: input tokens).
	EventStart EventType = iota + 1
	// EventBlockStart opens content block Index of PartType (text, thinking, tool_call with
	// ToolCallID and ToolName, redacted_thinking with Data).
	EventBlockStart
	// EventDelta adds to block Index: Text (text and thinking), Arguments (a fragment of a tool call's
	// JSON arguments) or Signature (a thinking block's signature).
	EventDelta
	// EventBlockStop closes block Index.
	EventBlockStop
	// EventFinish carries the StopReason (and StopSequence).
	EventFinish
	// EventUsage carries usage; fields that are non-zero replace earlier values.
	EventUsage
	// EventError carries Err: the provider failed mid-stream.
	EventError
	// EventEnd ends the stream.
	EventEnd
)

// Event is one event of a streamed response in the provider-neutral form. Which fields are
// meaningful depends on Type.
type Event struct {
	Type         EventType
	Index        int
	PartType     PartType
	ID           string
	Model        string
	Text         string
	Arguments    string
	Signature    string
	ToolCallID   string
	ToolName     string
	Data         string
	StopReason   StopReason
	StopSequence string
	Usage        Usage
	Err          *Error
}
