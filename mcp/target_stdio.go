package mcp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// dialStdio starts a target process for one session. Its stderr goes to the log, line by line.
// The process is not tied to ctx (a request context): it lives until the session closes it.
func (f *Federation) dialStdio(_ context.Context, t *target) (upstream, error) {
	cmd := exec.Command(t.Command, t.Args...)
	if !t.ClearEnv {
		cmd.Env = os.Environ()
	}
	for k, v := range t.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stderr = &logWriter{log: f.logger().With("target", t.Name)}
	conn, err := (&sdk.CommandTransport{Command: cmd, TerminateDuration: 2 * defaultCloseTimeout / 5}).Connect(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: starting %s: %v", ErrTargetUnavailable, t.Name, t.Command, err)
	}
	f.logger().Debug("mcp: started stdio target", "target", t.Name, "pid", cmd.Process.Pid)
	return newConnUpstream(t, conn, nil), nil
}

// logWriter turns a process's stderr into log records, one per line.
type logWriter struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimSpace(w.buf[:i]); len(line) > 0 {
			w.log.Info("mcp: target stderr", "line", string(line))
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a line without end: log what we have
		w.log.Info("mcp: target stderr", "line", string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
