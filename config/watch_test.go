package config_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/agentgw/agentgateway/internal/logbuf"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/config"
)

type logBuffer = logbuf.Buffer

// count reports how often s was logged.
func count(l *logBuffer, s string) int { return strings.Count(l.String(), s) }

func bodyConfig(body string) string {
	return fmt.Sprintf("binds:\n- port: 1\n  listeners:\n  - routes:\n    - policies:\n        directResponse: {status: 200, body: %q}\n", body)
}

// watchedFile writes a config, starts a watcher whose apply records the body it served (or fails while
// *failing is set), and runs it until the test ends.
type watched struct {
	path    string
	w       *config.Watcher
	logs    *logBuffer
	applied atomic.Int32
	failing atomic.Bool
	served  atomic.Value // the body of the config last applied
}

func watch(t *testing.T, initial string) *watched {
	t.Helper()
	wt := &watched{path: filepath.Join(t.TempDir(), "config.yaml"), logs: &logBuffer{}}
	require.NoError(t, os.WriteFile(wt.path, []byte(bodyConfig(initial)), 0o600))
	w, err := config.WatchFile(wt.path, config.WatchOptions{
		Interval: 10 * time.Millisecond, MaxRetryInterval: 80 * time.Millisecond, Drain: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(wt.logs, nil)),
	}, func(rt *config.Runtime) error {
		wt.applied.Add(1)
		if wt.failing.Load() {
			return fmt.Errorf("binding port 1: %w", syscall.EADDRINUSE)
		}
		wt.served.Store(rt.Config.Listeners[0].Name + ":" + bodyOf(t, rt))
		return nil
	})
	require.NoError(t, err)
	wt.w = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		require.NoError(t, w.Close())
	})
	return wt
}

// bodyOf serves the runtime's only route and returns its body.
func bodyOf(t *testing.T, rt *config.Runtime) string {
	t.Helper()
	for _, l := range rt.Config.Listeners {
		for _, r := range l.Routes {
			rec := httptest.NewRecorder()
			r.Policies[0].Wrap(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			return rec.Body.String()
		}
	}
	return ""
}

// write replaces the file atomically, as careful tools do; half-written files are another test's subject.
func (wt *watched) write(t *testing.T, content string) {
	t.Helper()
	tmp := wt.path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, wt.path))
}

func (wt *watched) eventuallyServes(t *testing.T, body string) {
	t.Helper()
	require.Eventually(t, func() bool { return wt.served.Load() == "bind1:"+body }, 10*time.Second, 5*time.Millisecond,
		"never served %q; logs:\n%s", body, wt.logs.String())
}

func TestWatchFileRetriesAChangeThatFailedToApply(t *testing.T) {
	wt := watch(t, "v1")
	wt.eventuallyServes(t, "v1")
	wt.failing.Store(true)
	wt.write(t, bodyConfig("v2"))
	// The change is retried without the file changing again, and v1 keeps serving meanwhile.
	require.Eventually(t, func() bool { return count(wt.logs, "will retry") >= 3 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, "bind1:v1", wt.served.Load())
	require.Contains(t, wt.logs.String(), "address already in use")
	// One log line per attempt (the latest may be in flight), not per poll: attempts are spaced by the
	// back-off.
	require.InDelta(t, int(wt.applied.Load())-1, count(wt.logs, "will retry"), 1)
	wt.failing.Store(false) // the port is free now
	wt.eventuallyServes(t, "v2")
	// The log line follows the apply that made v2 served.
	require.Eventually(t, func() bool { return count(wt.logs, "config reloaded") == 1 }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // five polls: the applied change is not applied again
	require.Equal(t, 1, count(wt.logs, "config reloaded"))
}

func TestWatchFileReportsAnInvalidChangeOnceAndRetriesOnTheNextChange(t *testing.T) {
	wt := watch(t, "v1")
	applied := wt.applied.Load()
	wt.write(t, "binds: [{port: nope}]")
	require.Eventually(t, func() bool { return count(wt.logs, "config reload rejected") == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, wt.logs.String(), "binds[0].port")
	time.Sleep(100 * time.Millisecond) // many more polls of the same bad content
	require.Equal(t, 1, count(wt.logs, "config reload rejected"), "reported once")
	require.Equal(t, applied, wt.applied.Load(), "an invalid file is never applied")
	require.Equal(t, "bind1:v1", wt.served.Load())
	wt.write(t, bodyConfig("v3"))
	wt.eventuallyServes(t, "v3")
	dump, err := wt.w.File().Dump()
	require.NoError(t, err)
	require.Contains(t, string(dump), `"v3"`, "File is the file being served")
}

func TestWatchFileInitialErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := config.WatchFile(filepath.Join(dir, "missing.yaml"), config.WatchOptions{}, func(*config.Runtime) error { return nil })
	require.ErrorIs(t, err, os.ErrNotExist)
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("binds: [{port: nope}]"), 0o600))
	_, err = config.WatchFile(bad, config.WatchOptions{}, func(*config.Runtime) error { return nil })
	require.ErrorContains(t, err, "binds[0].port")
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte(bodyConfig("x")), 0o600))
	busy := errors.New("busy")
	_, err = config.WatchFile(good, config.WatchOptions{}, func(*config.Runtime) error { return busy })
	require.ErrorIs(t, err, busy)
}
