// Package agentgateway embeds a production-grade gateway for AI-agent traffic in any Go program.
//
// Everything is an [net/http.Handler]. A [Gateway] is a handler that matches each request to a route;
// a route runs composable policies — plain func(http.Handler) http.Handler middlewares for auth, rate
// limits, CORS, retries, header filters — in front of a backend that understands its protocol: MCP
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
//
// # Routing
//
// Routes match on hostnames (exact or "*.example.com"), path (exact, segment-wise prefix, or RE2
// regex), method, headers and query parameters. Precedence follows Gateway API HTTPRoute rules: an exact
// path beats a regex, which beats the longest prefix; then a method match, more header matches, more
// query matches, and finally definition order. Routes naming the request's host are tried before routes
// for any host. Listeners ([Gateway.Listener]) group routes by port and hostname.
//
// The table is compiled once per change ([Gateway.Apply], or each fluent To) and swapped atomically:
// requests in flight finish on the table they started with, and backends the new table dropped are
// closed once they are idle. Invalid routes are reported when they are added, with a field path
// ([ConfigError]), never at request time.
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
// endpoint is ejected); an upstream timeout is a 504. Each request produces one structured access-log
// line through log/slog.
package agentgateway
