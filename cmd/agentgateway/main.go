// Command agentgateway serves an agentgateway standalone config file.
//
//	agentgateway -f config.yaml              serve, hot-reloading the file when it changes
//	agentgateway -f config.yaml --validate   check the file and exit (non-zero, with the field path, when bad)
//
// A reload is all or nothing: an invalid edit is reported once and the last good config keeps serving;
// an edit whose new ports cannot be bound yet is retried with back-off until it applies or the file
// changes again. Ports bind on all interfaces, as agentgateway does; --bind-address binds one address
// instead. An admin listener (default 127.0.0.1:15000) serves /config_dump (the effective config as
// JSON, secrets redacted, with the data-plane defaults under "gatewayDefaults": the backend timeout
// that bounds the wait for a response header on routes without a timeout policy, --backend-timeout,
// default 60s, 0 for none; and the response header limits), /healthz/ready and /healthz/live. SIGINT or
// SIGTERM drains in-flight requests and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agentgw/agentgateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type flags struct {
	file       string
	validate   bool
	bindAddr   string
	adminAddr  string
	logFormat  string
	logLevel   string
	drain      time.Duration
	pollPeriod time.Duration
	// backendTimeout is the gateway's default backend timeout (agentgateway.WithDefaultBackendTimeout).
	backendTimeout time.Duration
	// logDrop drops log lines instead of slowing requests when the log destination falls behind.
	logDrop bool
	// workers is GOMAXPROCS (0: the Go runtime's default, which follows the CPU quota).
	workers int
	// memoryTrim is how often freed heap is returned to the OS after a burst (0: never).
	memoryTrim time.Duration
	// pins is the tool pin file of MCP backends that name none (config.File.SetMCPPins).
	pins string
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("agentgateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.file, "f", "", "config file (agentgateway standalone schema, YAML or JSON)")
	fs.StringVar(&f.file, "file", "", "config file (same as -f)")
	fs.BoolVar(&f.validate, "validate", false, "validate the config file and exit")
	fs.StringVar(&f.bindAddr, "bind-address", "", "address to bind the config's ports on (default: all interfaces)")
	fs.StringVar(&f.adminAddr, "admin-addr", "", "admin listener address (default: config.adminAddr or 127.0.0.1:15000; \"off\" disables)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "how long shutdown waits for in-flight requests and streams")
	fs.DurationVar(&f.backendTimeout, "backend-timeout", agentgateway.DefaultBackendTimeout,
		"how long a backend waits for the upstream's response header on routes without a timeout policy (0: forever); streams are not cut")
	fs.BoolVar(&f.logDrop, "log-drop-when-full", false,
		"when the log destination falls behind, drop (and count) log lines instead of slowing requests down")
	fs.IntVar(&f.workers, "workers", 0, "how many OS threads run Go code at once (GOMAXPROCS); 0: the CPU quota of the container or machine")
	fs.DurationVar(&f.memoryTrim, "memory-trim-interval", 30*time.Second,
		"how often heap freed after a burst is returned to the OS when over 32 MiB (0: leave it to the runtime)")
	fs.DurationVar(&f.pollPeriod, "watch-interval", time.Second, "how often the config file is checked for changes")
	fs.StringVar(&f.pins, "pins", "", "tool pin `file` of MCP backends that name none (rug-pull protection: review and accept changes in the file or at the admin listener's /mcp/pins)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if f.file == "" {
		return f, fmt.Errorf("-f config.yaml is required")
	}
	return f, nil
}

func newLogger(f flags, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", f.logFormat)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "agentgateway:", err)
		}
		return 2
	}
	// Logs, the access log above all, go through a buffer flushed by a goroutine of its own: a write
	// system call per request line was a tenth of the gateway's CPU. Close flushes it on exit.
	lw := agentgateway.NewLogWriter(stderr, agentgateway.LogWriterConfig{DropWhenFull: f.logDrop})
	defer func() {
		if err := lw.Close(); err != nil {
			fmt.Fprintln(stderr, "agentgateway: writing logs:", err)
		}
		if n := lw.Dropped(); n > 0 {
			fmt.Fprintf(stderr, "agentgateway: %d log lines dropped (--log-drop-when-full)\n", n)
		}
	}()
	logger, err := newLogger(f, lw)
	if err != nil {
		fmt.Fprintln(stderr, "agentgateway:", err)
		return 2
	}
	if f.validate {
		if err := validate(f.file, f.pins); err != nil {
			fmt.Fprintf(stderr, "%s: invalid:\n%v\n", f.file, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: valid\n", f.file)
		return 0
	}
	if err := serve(ctx, f, logger); err != nil {
		logger.Error("starting", "error", err)
		return 1
	}
	return 0
}
