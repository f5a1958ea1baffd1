package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// WatchOptions tunes [WatchFile].
type WatchOptions struct {
	// Interval is how often the file is read (default 1s).
	Interval time.Duration
	// Drain is how long a replaced Runtime stays open for the requests still using its policies
	// (default 30s); use the Gateway's drain timeout.
	Drain time.Duration
	// MaxRetryInterval caps the back-off between retries of a change that failed to apply for a
	// reason other than the file's content, such as a port in use (default 30s).
	MaxRetryInterval time.Duration
	// Logger receives the reload reports and is passed to Build (default slog.Default()).
	Logger *slog.Logger
	// MCPPins is the pin file of MCP backends that name none (see File.SetMCPPins).
	MCPPins string
}

// Watcher keeps a config file applied: see [WatchFile].
type Watcher struct {
	path  string
	opts  WatchOptions
	apply func(*Runtime) error

	mu       sync.Mutex
	file     *File
	rt       *Runtime
	retiring map[*Runtime]*time.Timer
	closed   bool

	// Poll state, used by Run's goroutine only.
	served    [32]byte  // the content being served
	pending   [32]byte  // a change seen once; applied when a poll an interval later reads it again
	pendingAt time.Time // when pending was first read
	rejected  [32]byte  // a change its content makes invalid: reported once, retried when the file changes
	failed    [32]byte  // a change that failed to apply (a port in use): retried with back-off
	retryAt   time.Time
	backoff   time.Duration
	attempts  int
	readErr   string
}

// WatchFile loads and builds the config file at path and passes the Runtime to apply (typically
// func(rt) error { return gw.Apply(rt.Config) }). An error from any step is returned and nothing is
// applied. [Watcher.Run] then re-applies the file whenever it changes:
//
//   - A change is applied only once two polls at least an interval apart read the same content, so a
//     file caught half written is never served (not even when it happens to be valid, as an empty
//     file is).
//   - A change that is invalid (Load, Build, or an apply error matching
//     [agentgateway.ErrInvalidConfig]) is reported once and tried again when the file changes again.
//   - A change that failed to apply for another reason (Gateway.Apply could not bind a new port) is
//     retried on later polls with exponential back-off, one log line per attempt.
//
// Until a change applies the last good configuration keeps serving. A replaced Runtime is closed once
// the drain time has passed; [Watcher.Close] closes the current one.
func WatchFile(path string, opts WatchOptions, apply func(*Runtime) error) (*Watcher, error) {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Drain <= 0 {
		opts.Drain = 30 * time.Second
	}
	if opts.MaxRetryInterval <= 0 {
		opts.MaxRetryInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &Watcher{path: path, opts: opts, apply: apply, retiring: map[*Runtime]*time.Timer{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	f, rt, err := w.build(data)
	if err != nil {
		return nil, err
	}
	if err := apply(rt); err != nil {
		_ = rt.Close()
		return nil, err
	}
	w.file, w.rt, w.served = f, rt, sha256.Sum256(data)
	return w, nil
}

func (w *Watcher) build(data []byte) (*File, *Runtime, error) {
	f, err := Load(data, nil)
	if err != nil {
		return nil, nil, err
	}
	f.SetMCPPins(w.opts.MCPPins)
	rt, err := f.Build(w.opts.Logger)
	if err != nil {
		return nil, nil, err
	}
	return f, rt, nil
}

// File returns the file being served.
func (w *Watcher) File() *File {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.file
}

// Run polls the file until ctx is cancelled, applying changes as [WatchFile] describes.
func (w *Watcher) Run(ctx context.Context) {
	tick := time.NewTicker(w.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.poll()
		}
	}
}

func (w *Watcher) poll() {
	log := w.opts.Logger
	data, err := os.ReadFile(w.path)
	now := time.Now()
	if err != nil {
		if err.Error() != w.readErr {
			log.Error("config reload: reading file; still serving the last good config", "error", err)
			w.readErr = err.Error()
		}
		return
	}
	w.readErr = ""
	sum := sha256.Sum256(data)
	switch {
	case sum == w.served:
		w.pending, w.failed = [32]byte{}, [32]byte{} // back to what is served: nothing to retry
		return
	case sum != w.pending:
		w.pending, w.pendingAt = sum, now
		return
	case now.Sub(w.pendingAt) < w.opts.Interval:
		// Ticks bunch up when the poller was delayed: two reads a moment apart may both see a file
		// that its writer has truncated but not yet written.
		return
	case len(bytes.TrimSpace(data)) == 0 && now.Sub(w.pendingAt) < max(10*w.opts.Interval, emptyFileSettle):
		// An empty file is what every writer leaves between truncating and writing; on a loaded
		// machine that moment can outlast a poll. Applying it would close every port, so it must
		// stay empty for longer before it is believed.
		return
	case sum == w.rejected:
		return
	case sum == w.failed && now.Before(w.retryAt):
		return
	}
	f, rt, err := w.build(data)
	if err == nil {
		if err = w.apply(rt); err != nil {
			_ = rt.Close()
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, agentgateway.ErrInvalidConfig) || f == nil:
		w.rejected = sum
		log.Error("config reload rejected; still serving the last good config", "config", w.path, "error", err)
		return
	default:
		if sum != w.failed {
			w.failed, w.backoff, w.attempts = sum, w.opts.Interval, 0
		} else {
			w.backoff = min(2*w.backoff, w.opts.MaxRetryInterval)
		}
		w.attempts++
		w.retryAt = now.Add(w.backoff)
		log.Error("config reload failed; will retry; still serving the last good config",
			"config", w.path, "error", err, "attempt", w.attempts, "retry_in", w.backoff)
		return
	}
	w.mu.Lock()
	old := w.rt
	w.file, w.rt = f, rt
	w.retire(old)
	w.mu.Unlock()
	w.served, w.failed, w.rejected = sum, [32]byte{}, [32]byte{}
	log.Info("config reloaded", "config", w.path)
}

// emptyFileSettle is the least time an emptied config file must stay empty before it is applied (a
// variable for tests).
var emptyFileSettle = 2 * time.Second

// retire closes a replaced Runtime once the requests that may still use its policies have drained
// (w.mu held).
func (w *Watcher) retire(rt *Runtime) {
	if rt == nil || w.closed {
		return
	}
	w.retiring[rt] = time.AfterFunc(w.opts.Drain, func() {
		w.mu.Lock()
		_, mine := w.retiring[rt]
		delete(w.retiring, rt)
		w.mu.Unlock()
		if mine {
			_ = rt.Close()
		}
	})
}

// Close releases the current Runtime and those still waiting out their drain. Call it after the
// Gateway stopped serving.
func (w *Watcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	var errs []error
	for rt, t := range w.retiring {
		t.Stop()
		errs = append(errs, rt.Close())
	}
	clear(w.retiring)
	if w.rt != nil {
		errs = append(errs, w.rt.Close())
	}
	return errors.Join(errs...)
}
