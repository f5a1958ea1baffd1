// Package agentgateway embeds a production-grade gateway for AI-agent traffic in any Go program.
//
// Everything is an [net/http.Handler]. A [Gateway] is a handler that matches each request to a route;
// a route runs composable policies ([Policy]: auth, rate limits, CORS, retries, header filters, or any
// func(http.Handler) http.Handler through [PolicyFunc]) in front of a backend that understands its
// protocol: MCP
// federation (package mcp), A2A agents (package a2a), LLM providers (package llm) or plain HTTP
// ([HTTP], [NewHTTPBackend]). Routes come from the fluent API below, or from agentgateway's standalone
// YAML (package config), and both compile to the same immutable routing table.
//
// # Embedding
//
// A complete program: a gateway that proxies /api to an upstream with the prefix stripped, answers
// /healthz itself, and shuts down gracefully on Ctrl-C.
//
//	package main
//
//	import (
//		"context"
//		"log"
//		"os"
//		"os/signal"
//
//		agentgateway "github.com/agentgw/agentgateway"
//	)
//
//	func main() {
//		gw := agentgateway.New()
//		gw.Route("api").PathPrefix("/api").
//			RewritePrefix("/").
//			RequestHeaders(agentgateway.HeaderModifier{Set: map[string]string{"X-Gateway": "agw"}}).
//			To(agentgateway.HTTP("http://127.0.0.1:9000"))
//		gw.Route("health").Path("/healthz").Respond(200, "ok\n").Done()
//
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//		defer stop()
//		if err := gw.Serve(ctx, "127.0.0.1:8080"); err != nil { // drains in-flight requests on Ctrl-C
//			log.Fatal(err)
//		}
//	}
//
// A gateway is testable like any handler: httptest.NewServer(gw), or gw.ServeHTTP with a recorder.
// [Gateway.Run] instead binds every port the listeners name (TLS listeners share a port by SNI) and
// keeps the bound ports in step with each [Gateway.Apply], all or nothing: a port that cannot be bound
// fails the Apply and changes nothing.
//
// Run also serves layer 4: listeners with [ProtocolTCP] proxy bytes to a weighted [TCPBackend], and
// [ProtocolTLS] listeners route TLS by the ClientHello's SNI, passing it through or terminating it
// ([TCPRouteConfig]); a [PortConfig] with [TunnelConnect] makes a port an HTTP CONNECT egress proxy
// whose tunnels re-enter the target port's listeners (internal ports too), where a [CertMinter] can
// intercept TLS for clients that trust the operator's CA. Connection-level options read PROXY protocol
// headers ([WithProxyProtocol]), authorize connections before any HTTP ([WithNetworkAuthorization]) and
// tune every TLS handshake ([WithFrontendTLS]).
//
// # Routing
//
// Routes match on hostnames (exact or "*.example.com"), path (exact, segment-wise prefix, or RE2
// regex), method, headers and query parameters. Precedence follows Gateway API HTTPRoute rules: an exact
// path beats a regex, which beats the longest prefix; then a method match, more header matches, more
// query matches, and finally definition order. Routes naming the request's host are tried before routes
// for any host. Listeners ([Gateway.Listener]) group routes by port and hostname.
//
// The table is compiled once per change ([Gateway.Apply], or once for a batch of fluent routes, before
// the next request) and swapped atomically: requests in flight finish on the table they started with,
// and backends and policies the new table dropped are closed (io.Closer) once they are idle. Invalid
// routes are reported by the call that added them, with a field path ([ConfigError]), never at request
// time, and spoil no other route.
//
// Request paths are normalized before matching (dot segments, encoded unreserved characters,
// backslashes, repeated slashes; see [PathNormalization]), and the normalized path is the one forwarded.
//
// # Policies, phases and inspection
//
// Policies run by [Phase] — CORS, authentication, authorization, rate limits, custom middlewares,
// filters, transformations, timeout, retry, mirror, backend — whatever order they were added in, from
// Go or from a config file; within a phase they keep their order. Before any policy runs, a backend (or
// policy) that implements [Inspector] describes the request: the MCP federation fills State.MCP, the
// A2A proxy State.A2A. So an authorization rule on mcp.tool.name needs no protocol-specific wiring.
//
// # Services and observers
//
// The gateway lends its logger, tracer and meter providers and its outbound-transport hook
// ([Services]) to every backend and policy that implements [Provisioner]. An [Observer] sees each
// request start and end with its [State]; the access log ([AccessLog]) is one.
//
// # Telemetry
//
// The gateway's telemetry observer (on by default, see [WithTelemetry]) uses the tracer and meter
// providers given with [WithTracerProvider] and [WithMeterProvider], or else the otel globals. Each
// request gets a server span continuing the W3C trace context it came with (named after what served
// it: "GET route", "tools/call tool", "message/stream", "chat model") and is recorded at its end in
// http.server.request.duration (http.request.method, http.response.status_code, http.route — the
// route name —, agentgateway.backend, agentgateway.listener, error.type); its protocol sections add
// mcp.server.operation.duration (mcp.method.name, gen_ai.tool.name, mcp.target),
// a2a.server.request.duration (a2a.method), and for LLM calls gen_ai.client.token.usage (by
// gen_ai.token.type), gen_ai.client.operation.duration, gen_ai.server.time_to_first_token and
// agentgateway.gen_ai.cost (gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.model,
// gen_ai.response.model); State.Policy adds agentgateway.retries, agentgateway.ratelimit.decisions
// and agentgateway.authz.denials. An HTTP backend records a client span per upstream call, whose
// context the upstream receives in traceparent, and counts agentgateway.upstream.connect_errors and
// agentgateway.upstream.ejections; package mcp, package a2a and the ext_authz and rate-limit
// service policies add their own client spans. With no provider set (and the globals untouched),
// no span is started and no attribute is built: the observer adds no allocation and a few tens of
// nanoseconds to a request. dashboards/agentgateway.json is a Grafana dashboard over these metrics.
//
// # Per-request state
//
// Every request served by a Gateway carries one [State], reached with [StateFrom]: the route and
// backend, the client address, the identity authentication established, and what the protocol backends
// learned (MCP method and tool, A2A method and task, LLM model and tokens). Policies and backends write
// their facts there once; CEL expressions, the access log and telemetry read them.
//
// # Intercepting responses
//
// A policy that edits, holds or observes a response wraps the writer in a [HookedWriter], embedded in
// a struct of its own that implements the hooks ([HeaderHook], [BodyHook]). It keeps net/http's
// behaviour (1xx responses, an implicit 200, Flush, Hijack, http.ResponseController through any stack
// of wrappers) and adds no allocation of its own; the built-in policies and backends all use it.
//
// # Errors
//
// No matching route is a 404 with a small JSON body; an unreachable upstream is a 502 (503 when every
// endpoint is ejected); an upstream timeout is a 504, and by default an upstream that sends no response
// header within 60s times out (WithDefaultBackendTimeout; a route's timeout policy replaces it; streams
// that have begun are never cut by it); a malformed client body is a 400. Each request produces one
// structured access-log line through log/slog.
//
// The CEL variables policies read (request.*, jwt.*, mcp.*, a2a.*, ...) are documented in package cel.
package agentgateway
