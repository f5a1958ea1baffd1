// Command quickstart runs a gateway on 127.0.0.1:8080 with embedded demo backends — an HTTP echo
// service, an MCP federation of two in-process servers, an A2A agent and an LLM route to an
// in-process demo model — and prints curl lines to try. It needs no API keys and no external service:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	agentgateway "github.com/agentgw/agentgateway"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve the gateway on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run builds the demo gateway, prints what to try, and serves until ctx is done.
func run(ctx context.Context, addr string, out *os.File) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	gw, lines, cleanup, err := newGateway(logger)
	if err != nil {
		return err
	}
	defer cleanup()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "agentgateway quickstart listening on %s\n\nTry:\n", base)
	for _, line := range lines {
		fmt.Fprintf(out, "  %s\n", strings.ReplaceAll(line, "{base}", base))
	}
	fmt.Fprintln(out)
	return gw.ServeListener(ctx, ln)
}

// newGateway assembles the demo: every route is built with the same fluent API a user would use.
// It returns the curl lines to try, with {base} standing for the gateway's address.
func newGateway(logger *slog.Logger) (*agentgateway.Gateway, []string, func(), error) {
	gw := agentgateway.New(agentgateway.WithLogger(logger))

	// An HTTP upstream on its own loopback port, so the gateway really proxies.
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"service": "echo", "method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
			"x-forwarded-for": r.Header.Get("X-Forwarded-For"), "x-demo": r.Header.Get("X-Demo"),
		})
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	go func() { _ = upstream.Serve(ln) }()

	if err := gw.Route("echo").PathPrefix("/echo").
		RewritePrefix("/").
		RequestHeaders(agentgateway.HeaderModifier{Set: map[string]string{"X-Demo": "set-by-gateway"}}).
		To(agentgateway.HTTP(ln.Addr().String())); err != nil {
		return nil, nil, nil, err
	}
	if err := gw.Route("hello").Path("/hello").Respond(http.StatusOK, "hello from agentgateway\n").Done(); err != nil {
		return nil, nil, nil, err
	}
	lines := []string{
		"curl -s {base}/hello",
		"curl -s '{base}/echo/anything?x=1'",
	}
	lines = append(lines, addMCPDemo(gw)...)
	lines = append(lines, addA2ADemo(gw)...)
	lines = append(lines, addLLMDemo(gw)...)
	if err := gw.Err(); err != nil {
		return nil, nil, nil, err
	}
	cleanup := func() {
		_ = upstream.Close()
		_ = gw.Close()
	}
	return gw, lines, cleanup, nil
}
