// Package a2a makes the gateway understand Agent2Agent (A2A) traffic, for both wire versions in use:
// v0.3 (message/send, message/stream, tasks/get, ..., card field "url") and v1.0 (SendMessage,
// SendStreamingMessage, GetTask, ..., card field "supportedInterfaces", header A2A-Version).
//
// # Proxying an agent
//
// [Proxy] puts an A2A-aware layer in front of an agent's upstream (usually agentgateway.HTTP):
//
//	gw.Route("theme").PathPrefix("/agents/theme").RewritePrefix("/").
//		To(a2a.Proxy(agentgateway.HTTP("http://agent-theme:9999"), a2a.TrustedProxies(gw.TrustedProxy)))
//
// In the declarative config the same layer is the route policy `a2a: {}` on a route with a host or
// service backend, usually with a urlRewrite that strips the route's prefix.
//
// # Agent cards
//
// A GET of .../.well-known/agent-card.json (or the legacy .../.well-known/agent.json) is answered with the
// agent's card whose interface URLs — v0.3 "url" and "additionalInterfaces[].url", v1.0
// "supportedInterfaces[].url" — are rewritten to the address the client used: the request's scheme and
// Host plus the route's matched prefix (State.MatchedPrefix), X-Forwarded-Proto/-Host/-Prefix when the
// peer is a trusted proxy (the gateway's own, agentgateway.WithTrustedProxies, or [TrustedProxies]), or
// a fixed [PublicURL]. The path of each URL is kept under
// that base, so following the card leads back through the gateway. Interfaces of non-HTTP bindings (gRPC)
// are dropped: they would lead past the gateway. [RewriteCards](false) passes cards unchanged.
//
// Signed cards: a card with JWS "signatures" cannot be rewritten without invalidating them. By default
// such a card is served unchanged and a warning is logged — its URLs then point at the agent itself, so
// have the agent sign a card carrying the gateway's public URL. [StripCardSignatures] rewrites signed
// cards and drops their signatures instead (clients that require signed cards will then refuse them).
//
// # JSON-RPC awareness
//
// Each POST body is read once (bounded by [MaxBodyBytes]) and scanned without being decoded: the method,
// the request id, the task id (params.id of task methods, params.taskId, params.message.taskId), the
// context id and a requested skill (metadata.skill). They go to State.A2A — and so to CEL as a2a.method,
// a2a.taskId, ..., and to the access log as a2a.method, a2a.task.id, a2a.context.id — and the body is
// forwarded byte for byte. Malformed input never reaches the agent: non-JSON gets -32700, a batch, a
// missing "jsonrpc":"2.0" or a non-string method -32600, an unknown method -32601 ([AllowMethods] admits
// extension methods), non-object params -32602, all with HTTP 200 as JSON-RPC over HTTP does; an
// oversized body gets -32600 with HTTP 413. A body the agent could read differently from the gateway
// gets -32600 (HTTP 200) with id null: an object, at any depth, with two keys equal after unescaping
// and case folding ("method" twice, "m\u0065thod", or "METHOD", which a Go agent decoding into structs
// takes for the method), invalid UTF-8, or nesting deeper than 256. A lone case variant is read as the
// member it names, as such agents do.
//
// # Streams
//
// Server-sent events pass through as the agent writes them. A client that goes away cancels the
// upstream call. A stream is detached from the request deadline (a route timeout limits unary calls)
// and ended instead after [StreamIdleTimeout] without an event.
//
// # Telemetry
//
// Under the gateway's tracer provider each call to the agent runs in a client span named after its
// method (a2a.method, a2a.task.id, a2a.context.id), with the HTTP backend's span, whose context the
// agent receives in traceparent, under it. agentgateway.a2a.streams counts the open streams; the
// gateway records a2a.server.request.duration by a2a.method from State.A2A, and a call the proxy's
// rules refuse in agentgateway.authz.denials (agentgateway.policy=a2aAuthz).
//
// # Authorization and phases
//
// [Handler] (and the [Wrap] policy) is an agentgateway.Inspector: behind a Gateway route the call is
// read and State.A2A filled before the route's policies run, so gw.Route(...).Use(jwt, authz).
// To(a2a.Proxy(...)) authorizes on a2a.method, and the scanned body is handed on so nothing is read
// twice. Alternatively
// [Authorize] evaluates CEL rules inside the A2A layer (allow when any rule is true), e.g. only admins
// may cancel:
//
//	a2a.Authorize(`!(a2a.method in ["tasks/cancel", "CancelTask"]) || jwt.role == "admin"`)
//
// The config's `a2a` policy sits in the Backend phase (closest to the backend, inside the route's
// timeout, which it must outlive for streams), after the `authorization` policy: rules of the latter on
// a2a.* see empty values.
//
// # Catalog and skill-based routing
//
// [Catalog] lists every agent behind the gateway with its rewritten card, serves a card of its own that
// lists all their skills, and routes a message to the agent whose card lists the requested skill (by id,
// then by tag). The skill comes from the A2A-Skill header, the ?skill= query parameter or the message's
// metadata "skill". Follow-up calls about a task go to the agent that created it.
//
// # Version bridging
//
// With [Bridge] a route accepts both wire versions in front of an agent that speaks one: a v0.3 client
// can use a v1.0-only agent and a v1.0 client a v0.3-only agent. Method names, parts, roles, task states,
// results, stream events, request options and the agent card (served in the shape the A2A-Version header
// of the card request asks for) are translated for send, stream, get, cancel and resubscribe; other
// methods are refused with -32004. Bridged calls are decoded and re-encoded; calls in the agent's own
// version pass through untouched.
package a2a
