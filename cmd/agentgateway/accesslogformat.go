package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/agentgw/agentgateway/config"
)

// accessLogLogger is the logger of the access log lines: the process logger, or, when
// frontendPolicies.accessLog.format asks for a format of its own, a logger of that format writing to
// the same (buffered) output at the same level.
func accessLogLogger(format string, w io.Writer, logger *slog.Logger, level slog.Leveler) *slog.Logger {
	if w == nil {
		return logger
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts))
	case "text":
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return logger
}

// accessLogOutput is the logger of the access log: accessLogLogger's, teed to an OTLP log exporter
// when config.logging.otlp or frontendPolicies.accessLog.otlp asks for one. stop flushes the
// exporter's queue; call it once the gateway has drained.
func accessLogOutput(ctx context.Context, file *config.File, w io.Writer, logger *slog.Logger, level slog.Leveler) (*slog.Logger, func(), error) {
	l := accessLogLogger(file.AccessLogFormat(), w, logger, level)
	lp, err := file.LoggerProvider(ctx)
	if err != nil || lp == nil {
		return l, func() {}, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := lp.Shutdown(ctx); err != nil {
			logger.Warn("logging: flushing OTLP log records on shutdown", "error", err)
		}
	}
	h := config.TeeHandler(l.Handler(), config.OTLPLogHandler(lp.Logger("agentgateway/accesslog")))
	return slog.New(h), stop, nil
}
