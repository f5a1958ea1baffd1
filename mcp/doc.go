// Package mcp federates many MCP servers (targets) behind one MCP endpoint.
//
// A [Federation] is an http.Handler that a Gateway mounts as a route backend:
//
//	gw.Route("mcp").PathPrefix("/mcp").To(mcp.Federate(
//		mcp.HTTPTarget("github", "http://github-mcp:8080/mcp"),
//		mcp.StdioTarget("fs", "npx", "@modelcontextprotocol/server-filesystem", "/data"),
//		mcp.ServerTarget("local", myServer), // an in-process go-sdk *mcp.Server
//		mcp.OpenAPITarget("pets", petstoreYAML), // a REST API: each operation a tool
//	))
//
// Use [New] with a [Config] for everything else (prefix and failure modes, sessions, authorization,
// Host/Origin allow-lists). The config package translates agentgateway's YAML (the `mcp` backend and
// the `mcp:` short form) into a Config.
//
// # What clients see
//
// Tool and prompt names become "<target>_<name>" and resource URIs "<target>+<uri>" (ui:// URIs of MCP
// Apps keep their scheme: "ui://<target>/<rest>", and tools' _meta.ui.resourceUri links follow; see
// apps.go) (PrefixConditional, the default, keeps bare names when there is a single target;
// PrefixAlways and PrefixNever are the other modes). Lists fan out to every target concurrently,
// follow each target's pages, merge, and are paged to the client with the federation's own cursor.
// initialize answers with the client's protocol version (each target keeps the version it negotiated;
// the rule for a mix of old and new targets is in versions.go), the targets' merged capabilities
// (tasks and extensions included) and instructions. MCP tasks are routed to their target under sealed,
// session-bound task ids and covered by mcpAuthorization (tasks.go). Notifications
// (progress, logging, list changes, resource updates) and server→client requests (sampling,
// elicitation, roots) are relayed; server→client request ids are rewritten to "<target>/<id>", so the
// client's answer goes back to the target that asked and ids of two targets never collide. The
// endpoint serves streamable HTTP, and the legacy HTTP+SSE transport on paths ending in "/sse".
//
// # Sessions
//
// Stateful (default): one upstream session per target per client session, opened when the client
// initializes. The Mcp-Session-Id given to the client is self-contained: the upstream session ids of
// the HTTP targets, the client's initialize parameters cut down to what re-initializing a target needs
// (protocol version, capabilities up to 2 KiB, clientInfo name, version and title up to 256 bytes
// each; params over 64 KiB are refused), and the id's expiry, sealed with AES-GCM. Replicas configured
// with the same [Config.SessionKey] resume each other's sessions: HTTP upstream sessions continue;
// stdio and in-process targets, whose state lives in a process or in memory, are re-initialized on the
// replica that resumes (a stdio session is pinned to its process). Without a key one is generated
// once per process and a warning says sessions are single-replica. The same mechanism carries
// sessions across config reloads: the federation a reload builds resumes the ids the replaced one
// issued, because [Federation.Close] releases upstream HTTP sessions instead of deleting them. DELETE
// ends a session; idle sessions expire after [Config.SessionTimeout] and release their upstream
// sessions and processes; an id is valid for [Config.SessionMaxLifetime] at most. An ended, idle or
// expired session is answered 404, so the client initializes again. Ended sessions are recorded in a
// [SessionStore] shared by the federations of the process with the same key, so they stay ended
// across config reloads; across replicas only if the replicas share a store (otherwise an id ended on
// one replica resumes on another until it expires). Stateless mode opens fresh upstream sessions per
// request with a synthetic initialize.
//
// JSON-RPC batches are answered in sessions at protocol 2025-03-26, the one version that has them
// (each message handled as if alone, authorization included); later versions get HTTP 400 with
// JSON-RPC error -32600.
//
// # Streams
//
// A target's SSE answer is passed on as it comes: intermediate messages, its keep-alive comments,
// and the response, after which the gateway reads the stream to its end (bounded) so that the
// upstream connection is pooled rather than closed. SSE streams to clients carry a keep-alive
// comment every [Config.SSEKeepAlive] (default [DefaultSSEKeepAlive]); a POST whose answer takes
// that long gets its headers and an SSE stream then, so that idle-timeout load balancers do not cut
// long tool calls. Events relayed from streamable-HTTP targets carry ids that name the target and
// its own event id ("<target>/<id>" on a POST's stream; on the merged GET stream every target's
// last id), so a client resumes a broken stream with Last-Event-ID as the transport specifies and
// the gateway resumes it at the target that owns it. A client that goes away during a call it
// cannot resume (it was given no event id) has the target told with notifications/cancelled, so
// the tool does not run on for nobody.
//
// # The hot path: raw pass-through
//
// The client-facing side is not a go-sdk Server: decoding and re-encoding every payload through the
// SDK costs about +1.1 ms and ~400 KB per call. The federation reads only the JSON-RPC envelope
// (method, id, params.name or params.uri, cursor) from the raw body with an allocation-free scanner,
// rewrites the name in place, and forwards the bytes. Results are decoded only where they must be
// merged (lists, initialize), into the go-sdk types. For streamable-HTTP targets the federation
// speaks the wire protocol itself (POST, JSON or SSE answers, Mcp-Session-Id, GET stream, DELETE)
// rather than through the go-sdk client transport, which would decode every message into jsonrpc
// values and re-encode it. Plain-HTTP targets go through a small synchronous HTTP/1.1 client with a
// connection pool (the calling goroutine writes the request and reads the answer; net/http's
// per-connection reader and writer goroutines cost extra scheduling hand-offs on a 2-core machine);
// HTTPS targets, and any target when Config.HTTPClient or Target.HTTPClient is set, use net/http.
// BenchmarkToolsCallPaired measures the cost against the same call made directly, interleaved in
// one run: on the shared 2-core build machine about +110-130 µs (net/http: +130-136 µs) and +10 KB
// allocated per call; an idle session with two HTTP targets holds about 1.2 KB.
// Stdio, in-process and legacy-SSE targets use go-sdk transports (CommandTransport,
// NewInMemoryTransports, SSEClientTransport) at the Connection level, renumbering request ids on
// their shared stream.
//
// # Authorization and safety
//
// CEL rules (a [cel.RuleSet], the schema's mcpAuthorization: deny wins, every require must hold, deny
// by default once there is an allow rule) filter lists and guard calls; a denied call is answered
// exactly like a call to an unknown name. Calls are checked against what the target listed in the
// session (listed once on first use, refreshed by the client's lists and the target's list_changed),
// so a name the target does not have gets that same answer from the gateway, never the target's own,
// and a client cannot probe which names exist. Rules come from [Config.Authorization] and from the
// [Authorization] route policy; they see mcp.tool.*, mcp.prompt.*, mcp.resource.*, jwt.*, request.*
// and source.* (the variable reference is package cel's documentation). Host and Origin are checked
// (DNS-rebinding protection, 403 otherwise): the Host against [Config.AllowedHosts] (loopback names on
// a loopback listener by default), a browser's Origin against the gateway's own origin and
// [Config.AllowedOrigins]. Request bodies are limited ([Config.MaxBodyBytes], 413 above).
//
// Because the gateway decides on some members and forwards the bytes, every target must read the
// members the gateway read. Parsers disagree on duplicate keys (most keep the last), and Go targets
// decoding into structs match keys case-insensitively, so a message with an object holding two keys
// equal after unescaping and case folding ("name" and "n\u0061me" or "NAME"), at any depth, is refused
// as an Invalid Request (-32600, HTTP 400) and never forwarded; so is JSON that is not strict (invalid
// UTF-8, nesting deeper than 256). A lone case variant ("ID", "NAME") is read as the member it names,
// as such targets do. Messages from targets go through the same checks: a JSON answer that is not one
// valid response is an error for the client, and a streamed message with duplicate keys is dropped.
//
// A backendAuth policy on the route (or [Target.BackendAuth] on one target) puts its credential on
// every request the gateway sends to HTTP and SSE targets, as it does for an HTTP backend; the
// client's own Authorization is forwarded only with [Target.ForwardAuthorization].
//
// # Tool pinning and approval
//
// With [Config.Pins] (a [PinStore], usually a file: [OpenPins]) every target's tools are pinned the
// first time they are listed: a SHA-256 fingerprint of the canonical JSON of name, description, input
// schema and annotations. Every later list (any session, after list_changed too) is compared with the
// pins; a changed tool is logged (names and fingerprints), counted ([Federation.ToolChanges]),
// recorded in the file beside its pin for an operator to review, and, per [Target.OnToolChange],
// served anyway (PinAllow), hidden and answered as unknown (PinHide), or the whole target is failed
// (PinFail) until the change is accepted. Replicas can share the file: it is re-read when it
// changes and merged under a lock before every write.
//
// [Config.Approval] holds the tools/call requests a CEL rule selects (typically destructive tools,
// `mcp.tool.annotations.destructiveHint`) until a webhook approves them; denial, timeout and an
// unreachable webhook refuse the call with JSON-RPC error [CodeApprovalDenied]. The client is never
// asked, so it cannot approve its own call.
//
// # Telemetry
//
// Under the gateway's tracer and meter providers (agentgateway.Services: the otel globals unless
// set), each request the federation sends to a target — each target of a fan-out its own — runs in
// a client span named "{mcp.method.name} {tool or prompt}" and is recorded in
// mcp.client.operation.duration (mcp.method.name, mcp.target, gen_ai.tool.name, error.type:
// the JSON-RPC error code, tool_error or target_unavailable). The span's W3C trace context reaches
// the target in params._meta (traceparent, tracestate) on every transport, and over HTTP in the
// traceparent header too. agentgateway.mcp.sessions and agentgateway.mcp.streams count the open
// sessions and server-sent event streams. The request's own server span and
// mcp.server.operation.duration are the gateway's, read from State.MCP; a call refused by the
// authorization rules is counted in agentgateway.authz.denials (agentgateway.policy=mcpAuthz).
//
// Each request fills agentgateway.State.MCP (method, session id, target, name, tool target and name)
// for the access log, CEL and telemetry.
package mcp
