package agentgateway

import (
	"context"
	"net/http"
	"net/netip"
	"time"
)

// State is the per-request record shared by the gateway, its policies and its protocol backends.
//
// The Gateway creates exactly one State for each request it serves and stores it in the request context;
// [StateFrom] returns it. Data flows one way: the router fills in the routing fields, authentication
// policies fill [State.Identity], protocol backends (mcp, a2a, llm) fill their section, and authorization,
// telemetry and the access log read them. Nothing is parsed twice: a backend that has read the JSON-RPC
// method records it here instead of asking a later stage to parse the body again.
//
// A State belongs to the goroutine serving the request; handlers that hand work to other goroutines must
// copy what they need.
type State struct {
	// Listener, Route and Backend name what served the request.
	Listener string
	Route    string
	Backend  string
	// MatchedPrefix is the path prefix of the route match that selected the route ("" for exact and
	// regex matches). URL rewrites and redirects with a prefix replacement use it.
	MatchedPrefix string
	// Source is the client address: the TCP peer, or the first untrusted hop of X-Forwarded-For when
	// the peer is a trusted proxy (see [WithTrustedProxies]).
	Source netip.AddrPort
	// TrustedProxy reports that the TCP peer is a trusted proxy (see [WithTrustedProxies]), so its
	// X-Forwarded-* headers may be believed.
	TrustedProxy bool
	// Start is when the gateway received the request.
	Start time.Time
	// BackendTimeout bounds the wait of an HTTP backend for the upstream's response header once the
	// request is sent; 0 means no bound. The gateway sets it from [WithDefaultBackendTimeout]; a
	// timeout policy sets it to 0, its own deadlines then bounding the request.
	BackendTimeout time.Duration
	// Affinity, when not 0, is the hash of the request's session-affinity key (a sessionAffinity
	// policy sets it): weighted backend choice and endpoint load balancing then pick by rendezvous
	// hashing on it, so requests with the same key go to the same backend and endpoint while those are
	// healthy, with no state shared between replicas.
	Affinity uint64
	// picked is 1 + the index of the backend a weighted split last chose for this request, so that
	// a retried attempt goes to another backend.
	picked int

	// Identity is what authentication policies established about the caller.
	Identity Identity

	// Protocol sections, filled by the protocol-aware backends.
	MCP MCPState
	A2A A2AState
	LLM LLMState

	// Policy records what the policies decided (retries, rate limits, denials).
	Policy PolicyState

	// Response facts, filled by the gateway as the response is written.
	Status   int
	BytesIn  int64
	BytesOut int64
	// Err records why the gateway failed a request (upstream unreachable, timeout, ...), for the log.
	Err error
}

// Identity is what authentication established about the caller. Each field is set by the policy that
// verified it; a request can carry several (a JWT and an API key, say).
type Identity struct {
	// Subject is the principal's name: the JWT "sub", the API key's name, or the basic-auth user.
	Subject string
	// Method names the policy that set Subject ("jwt", "oidc", "apiKey", "basicAuth", "extAuthz").
	Method string
	// JWT holds the verified claims of a JWT, nested objects included (CEL: jwt.*).
	JWT map[string]any
	// APIKey holds the metadata of the matched API key (CEL: apiKey.*); never the key itself.
	APIKey map[string]any
	// Headers are identity headers an external authorizer asked to add (extAuthz).
	Headers map[string]string
	// ExtAuthz is the dynamic metadata an external authorizer returned (CEL: extauthz.*): the gRPC
	// CheckResponse's dynamic_metadata, or the HTTP protocol's metadata expressions.
	ExtAuthz map[string]any
}

// MCPState describes an MCP request (filled by package mcp).
type MCPState struct {
	// Method is the JSON-RPC method, e.g. "tools/call".
	Method string
	// SessionID is the client-facing Mcp-Session-Id.
	SessionID string
	// Target is the federated target a call was routed to; Name is the tool, prompt or resource
	// name/URI as the target knows it.
	Target string
	Name   string
	// ToolTarget and ToolName are set for tools/call (CEL: mcp.tool.target, mcp.tool.name).
	ToolTarget string
	ToolName   string
}

// A2AState describes an A2A request (filled by package a2a).
type A2AState struct {
	// Method is the JSON-RPC method as sent, e.g. "message/send" or "SendMessage".
	Method string
	// Version is the A2A wire version of the request ("0.3" or "1.0").
	Version   string
	TaskID    string
	ContextID string
	// Skill is the skill id or tag a catalog request was routed by.
	Skill string
}

// LLMState describes an LLM request (filled by package llm). Access logs, CEL (llm.*), metrics
// (gen_ai.client.*) and traces read it; its names follow the OpenTelemetry GenAI conventions.
type LLMState struct {
	// Operation is gen_ai.operation.name: "chat", "embeddings", "count_tokens", ...
	Operation string
	// Provider is gen_ai.provider.name: "openai", "anthropic", "gcp.gemini", "gcp.vertex_ai",
	// "aws.bedrock", "azure.ai.openai", or the configured name of an OpenAI-compatible server.
	Provider      string
	RequestModel  string
	ResponseModel string
	Streaming     bool
	// Token usage as the provider reported it, normalised: InputTokens counts every prompt token
	// (cached ones included); CachedInputTokens and CacheCreationTokens are parts of it.
	InputTokens         int64
	OutputTokens        int64
	CachedInputTokens   int64
	CacheCreationTokens int64
	ReasoningTokens     int64
	// FirstToken is the time from Start to the first streamed token (0 when not streamed).
	FirstToken time.Duration
	// Cost is the price of the call from the model catalog (0 when unknown).
	Cost float64
	// InputTokensEstimate is the router's estimate of the prompt's tokens, made before the call:
	// token budgets (localRateLimit type tokens) charge it up front and settle with the real usage.
	InputTokensEstimate int64
	// WriteError, set by the LLM router, answers an error the gateway makes (a policy's 429, say)
	// in the client's API format (OpenAI, Anthropic, ...), so that its SDK sees its own error type.
	WriteError func(w http.ResponseWriter, status int, message string)
}

type stateKey struct{}

// StateFrom returns the State of a request served by a Gateway, or nil when ctx did not come from one.
func StateFrom(ctx context.Context) *State {
	s, _ := ctx.Value(stateKey{}).(*State)
	return s
}

// WithState returns a context that carries s. The Gateway calls it for every request; it is exported so
// that a policy or backend can be unit-tested without a Gateway.
func WithState(ctx context.Context, s *State) context.Context {
	return context.WithValue(ctx, stateKey{}, s)
}
