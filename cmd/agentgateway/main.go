// Command agentgateway serves an agentgateway standalone config file.
//
//	agentgateway -f config.yaml              serve, hot-reloading the file when it changes
//	agentgateway -f config.yaml --validate   check the file and exit (non-zero, with the field path, when bad)
//	agentgateway -f config.yaml --xds-serve :15010   serve the file's routing config to data planes over xDS
//
// With config.xdsAddress (and config.gateway) in the file, the routing config comes from that xDS
// control plane instead: the file keeps only the process settings, /healthz/ready answers 503 until
// the first config arrived, and an update the gateway cannot build is NACKed while the last good one
// keeps serving.
//
// A reload is all or nothing: an invalid edit is reported once and the last good config keeps serving;
// an edit whose new ports cannot be bound yet is retried with back-off until it applies or the file
// changes again. Ports bind on all interfaces, as agentgateway does; --bind-address binds one address
// instead.
//
// The file's `config` section sets up the process: the admin listener (config.adminAddr, default
// 127.0.0.1:15000) serves /config_dump (the effective config as JSON, secrets and sensitive headers
// redacted, with the data-plane defaults under "gatewayDefaults": the backend timeout that bounds the
// wait for a response header on routes without a timeout policy, --backend-timeout, default 60s, 0 for
// none; and the response header limits), /logging (GET shows the level, POST/PUT ?level=debug sets it),
// /stats (a JSON summary), /debug/pprof/ and /healthz/ready and /healthz/live; config.statsAddr
// (127.0.0.1:15020) serves Prometheus /metrics; config.readinessAddr (127.0.0.1:15021) serves
// /healthz/ready. config.tracing (or frontendPolicies.tracing) exports spans over OTLP; config.logging
// and frontendPolicies.accessLog shape the log and the access log. Flags given on the command line win
// over the file. The config section and frontendPolicies.tracing/http are read at start; a reload
// applies the access log's filter and fields and the log level. SIGINT or SIGTERM drains in-flight
// requests (config.connectionTerminationDeadline or --drain-timeout) and exits.
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
	"github.com/agentgw/agentgateway/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type flags struct {
	logOut     io.Writer // where the process log goes (the access log's own format writes there too)
	file       string
	validate   bool
	bindAddr   string
	adminAddr  string
	statsAddr  string
	readyAddr  string
	logFormat  string
	logLevel   string
	drain      time.Duration
	http1      bool
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
	// xdsServe, when set, runs an xDS control plane on this address serving the file.
	xdsServe string
	// set records the flags given on the command line: they win over the config file's settings.
	set map[string]bool
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
	fs.StringVar(&f.statsAddr, "stats-addr", "", "Prometheus /metrics address (default: config.statsAddr or 127.0.0.1:15020; \"off\" disables)")
	fs.StringVar(&f.readyAddr, "readiness-addr", "", "/healthz/ready address (default: config.readinessAddr or 127.0.0.1:15021; \"off\" disables)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json (default: config.logging.format)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error (default: config.logging.level)")
	fs.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "how long shutdown waits for in-flight requests and streams (default: config.connectionTerminationDeadline)")
	fs.DurationVar(&f.backendTimeout, "backend-timeout", agentgateway.DefaultBackendTimeout,
		"how long a backend waits for the upstream's response header on routes without a timeout policy (0: forever); streams are not cut")
	fs.BoolVar(&f.http1, "http1-server", true,
		"serve cleartext HTTP/1.1 with the gateway's lean server loop (less CPU per request); other protocols and unusual requests stay on net/http (false: net/http serves everything)")
	fs.BoolVar(&f.logDrop, "log-drop-when-full", false,
		"when the log destination falls behind, drop (and count) log lines instead of slowing requests down")
	fs.IntVar(&f.workers, "workers", 0, "how many OS threads run Go code at once (GOMAXPROCS); 0: the CPU quota of the container or machine")
	fs.DurationVar(&f.memoryTrim, "memory-trim-interval", 30*time.Second,
		"how often heap freed after a burst is returned to the OS when over 32 MiB; once at start it also returns what start-up left free and unmaps the code only start-up ran (0: leave it all to the runtime and the kernel)")
	fs.DurationVar(&f.pollPeriod, "watch-interval", time.Second, "how often the config file is checked for changes")
	fs.StringVar(&f.xdsServe, "xds-serve", "", "run an xDS control plane on this `address` that serves the config file to data planes (and pushes its changes) instead of serving it")
	fs.StringVar(&f.pins, "pins", "", "tool pin `file` of MCP backends that name none (rug-pull protection: review and accept changes in the file or at the admin listener's /mcp/pins)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if f.file == "" {
		return f, fmt.Errorf("-f config.yaml is required")
	}
	return f, nil
}

// newLogger makes the process logger: format and level from the flags when given, else from
// config.logging, else text and info. The level is a LevelVar so that /logging can change it.
func newLogger(f flags, s config.Settings, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	level := new(slog.LevelVar)
	format := f.logFormat
	if l := s.Logging; l != nil && !f.set["log-format"] && l.Format != "" {
		format = l.Format
	}
	switch {
	case f.set["log-level"] || s.Logging == nil || !s.Logging.Level.Set:
		lv, err := config.ParseLogLevel(f.logLevel)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-level: %w", err)
		}
		level.Set(lv)
	default:
		level.Set(s.Logging.Level.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), level, nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), level, nil
	}
	return nil, nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "agentgateway:", err)
		}
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
	// The settings that shape the process (logging, telemetry, listeners) are read at start; an
	// unreadable or invalid file is reported by serve, with the logger the flags describe.
	var settings config.Settings
	if file, err := config.LoadFile(f.file); err == nil {
		settings = file.Settings
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
	logger, level, err := newLogger(f, settings, lw)
	if err != nil {
		fmt.Fprintln(stderr, "agentgateway:", err)
		return 2
	}
	f.logOut = lw
	serveFn := serve
	if f.xdsServe != "" {
		serveFn = func(ctx context.Context, f flags, logger *slog.Logger, _ *slog.LevelVar) error {
			return serveControlPlane(ctx, f, logger)
		}
	}
	if err := serveFn(ctx, f, logger, level); err != nil {
		logger.Error("starting", "error", err)
		return 1
	}
	return 0
}
