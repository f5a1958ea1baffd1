package agentgateway

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// LogWriterConfig configures a [LogWriter].
type LogWriterConfig struct {
	// BufferSize is the size of each of the writer's two buffers (default 256 KiB). A line longer
	// than it is written through directly, in order.
	BufferSize int
	// FlushInterval bounds how long a line waits in the buffer (default 200ms).
	FlushInterval time.Duration
	// DropWhenFull makes Write discard a line, and count it (see [LogWriter.Dropped]), when both
	// buffers are full because the destination is slower than the traffic. By default Write waits
	// instead (back-pressure: no line is lost, requests slow down with the log).
	DropWhenFull bool
}

// LogWriter is an io.Writer for access logs and other line-oriented logs that takes each line into a
// buffer and writes the buffer to its destination from a goroutine of its own: at FlushInterval, or
// as soon as a buffer fills. Serving a request then costs a memory copy instead of a write system
// call per line, and a slow destination (a pipe, a full disk) does not stall requests until both
// buffers are full.
//
// Each Write must be one whole line or record (log/slog's handlers write one Write per record), so
// that lines are never interleaved. Close flushes everything and stops the goroutine; call it at
// shutdown (after the gateway has drained) so that no line is lost on a clean exit. A crash loses at
// most the lines of the last FlushInterval.
type LogWriter struct {
	dst      io.Writer
	size     int
	interval time.Duration
	drop     bool

	mu      sync.Mutex
	cur     []byte    // lines being gathered
	pending []byte    // a full buffer handed to the flusher
	spare   []byte    // the other buffer, when the flusher is not writing it
	room    sync.Cond // signalled when spare comes back (writers waiting for space)
	closed  bool
	err     error // the destination's last write error
	kick    chan struct{}
	done    chan struct{}
	dropped atomic.Uint64
}

// ErrLogWriterClosed is returned by Write after Close.
var ErrLogWriterClosed = errors.New("log writer closed")

// NewLogWriter starts a LogWriter over dst.
func NewLogWriter(dst io.Writer, cfg LogWriterConfig) *LogWriter {
	w := &LogWriter{dst: dst, size: cfg.BufferSize, interval: cfg.FlushInterval, drop: cfg.DropWhenFull,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	if w.size <= 0 {
		w.size = 256 << 10
	}
	if w.interval <= 0 {
		w.interval = 200 * time.Millisecond
	}
	w.cur = make([]byte, 0, w.size)
	w.spare = make([]byte, 0, w.size)
	w.room.L = &w.mu
	go w.loop()
	return w
}

// Write takes a copy of p (one whole line) into the buffer.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	for {
		if w.closed {
			w.mu.Unlock()
			return 0, ErrLogWriterClosed
		}
		if len(w.cur)+len(p) <= w.size {
			break
		}
		if len(w.cur) == 0 && w.spare != nil {
			// Longer than a buffer, and nothing buffered or being written: straight through, in order.
			defer w.mu.Unlock()
			return w.dst.Write(p)
		}
		if w.spare != nil && len(w.cur) > 0 { // swap now and let the flusher write the full buffer
			w.handOver()
			select {
			case w.kick <- struct{}{}: // not closed: Close sets closed under mu before closing kick
			default:
			}
			continue
		}
		if w.drop {
			w.mu.Unlock()
			w.dropped.Add(1)
			return len(p), nil
		}
		w.room.Wait() // both buffers busy: back-pressure
	}
	w.cur = append(w.cur, p...)
	w.mu.Unlock()
	return len(p), nil
}

// handOver queues cur for the flusher and makes spare the current buffer. Called with mu held and
// spare available.
func (w *LogWriter) handOver() {
	w.pending = w.cur
	w.cur, w.spare = w.spare, nil
}

// Flush writes everything buffered so far and returns the destination's last error.
func (w *LogWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.spare == nil { // the flusher is writing: let it finish
		w.room.Wait()
	}
	if len(w.cur) > 0 {
		w.write(w.cur)
		w.cur = w.cur[:0]
	}
	return w.err
}

// write writes b to the destination, recording an error. Called with mu held or by the flusher.
func (w *LogWriter) write(b []byte) {
	if _, err := w.dst.Write(b); err != nil {
		w.err = err
	}
}

// Dropped is how many lines were discarded because the buffers were full (DropWhenFull only).
func (w *LogWriter) Dropped() uint64 { return w.dropped.Load() }

// Close flushes the buffers and stops the writer; later Writes fail. It returns the destination's
// last write error, if any.
func (w *LogWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.kick)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.cur) > 0 {
		w.write(w.cur)
		w.cur = w.cur[:0]
	}
	w.room.Broadcast()
	return w.err
}

// loop is the flusher: it writes a handed-over buffer at once, and the current one at every tick.
func (w *LogWriter) loop() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case _, ok := <-w.kick:
			if !ok {
				w.flushPending()
				return
			}
		case <-t.C:
			w.mu.Lock()
			if w.pending == nil && len(w.cur) > 0 && w.spare != nil {
				w.handOver()
			}
			w.mu.Unlock()
		}
		w.flushPending()
	}
}

// flushPending writes the handed-over buffer outside the lock, then returns it as the spare.
func (w *LogWriter) flushPending() {
	w.mu.Lock()
	b := w.pending
	w.pending = nil
	w.mu.Unlock()
	if b == nil {
		return
	}
	_, err := w.dst.Write(b)
	w.mu.Lock()
	if err != nil {
		w.err = err
	}
	w.spare = b[:0]
	w.room.Broadcast()
	w.mu.Unlock()
}
