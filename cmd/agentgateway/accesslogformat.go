package main

import (
	"io"
	"log/slog"
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
