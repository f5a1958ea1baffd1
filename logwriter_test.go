package agentgateway_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agw "github.com/agentgw/agentgateway"
)

// lwDest is a destination that records writes and can be held (a slow disk or pipe).
type lwDest struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	hold   chan struct{} // while open, writes block
	err    error
}

func (d *lwDest) Write(p []byte) (int, error) {
	if d.hold != nil {
		<-d.hold
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writes++
	d.buf.Write(p)
	return len(p), d.err
}

func (d *lwDest) lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Split(strings.TrimSuffix(d.buf.String(), "\n"), "\n")
}

// Concurrent writers: after Close every line is there exactly once, each writer's lines in order,
// and far fewer destination writes than lines were made.
func TestLogWriterKeepsEveryLineInOrder(t *testing.T) {
	d := &lwDest{}
	w := agw.NewLogWriter(d, agw.LogWriterConfig{BufferSize: 4096})
	const writers, per = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range per {
				_, err := fmt.Fprintf(w, "w%d %d\n", g, i)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close())
	lines := d.lines()
	require.Len(t, lines, writers*per)
	next := make([]int, writers)
	for _, l := range lines {
		var g, i int
		_, err := fmt.Sscanf(l, "w%d %d", &g, &i)
		require.NoError(t, err, "a torn or interleaved line: %q", l)
		require.Equal(t, next[g], i, "writer %d out of order", g)
		next[g]++
	}
	assert.Less(t, d.writes, writers*per/10, "lines must be batched")

	_, err := w.Write([]byte("late\n"))
	assert.ErrorIs(t, err, agw.ErrLogWriterClosed)
}

// A line reaches the destination within the flush interval without Close or Flush.
func TestLogWriterFlushesOnInterval(t *testing.T) {
	d := &lwDest{}
	w := agw.NewLogWriter(d, agw.LogWriterConfig{FlushInterval: 20 * time.Millisecond})
	defer w.Close()
	_, _ = w.Write([]byte("hello\n"))
	assert.Eventually(t, func() bool { return d.lines()[0] == "hello" }, 5*time.Second, 5*time.Millisecond)
}

// With a destination that stalls, writers wait once both buffers are full (no line is lost), or,
// with DropWhenFull, carry on and count the lines they dropped.
func TestLogWriterBackPressureAndDrop(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("drop=%v", drop), func(t *testing.T) {
			d := &lwDest{hold: make(chan struct{})}
			w := agw.NewLogWriter(d, agw.LogWriterConfig{BufferSize: 64, DropWhenFull: drop})
			const total = 100
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range total {
					_, _ = fmt.Fprintf(w, "line %03d\n", i) // 9 bytes: 7 lines per buffer
				}
			}()
			if drop {
				<-done // never blocked
				assert.Positive(t, w.Dropped())
			} else {
				select {
				case <-done:
					t.Fatal("a writer went on while the destination held both buffers")
				case <-time.After(100 * time.Millisecond):
				}
			}
			close(d.hold)
			<-done
			require.NoError(t, w.Close())
			got := len(d.lines())
			if drop {
				assert.Equal(t, total, got+int(w.Dropped()))
			} else {
				assert.Equal(t, total, got)
				assert.Zero(t, w.Dropped())
			}
		})
	}
}

// A line longer than a buffer is written through, after the lines before it.
func TestLogWriterLongLine(t *testing.T) {
	d := &lwDest{}
	w := agw.NewLogWriter(d, agw.LogWriterConfig{BufferSize: 16})
	_, _ = w.Write([]byte("short\n"))
	long := strings.Repeat("x", 100) + "\n"
	_, _ = w.Write([]byte(long))
	_, _ = w.Write([]byte("after\n"))
	require.NoError(t, w.Close())
	assert.Equal(t, []string{"short", strings.TrimSpace(long), "after"}, d.lines())
}

// The destination's write error is reported by Flush and Close.
func TestLogWriterReportsDestinationErrors(t *testing.T) {
	boom := errors.New("disk full")
	d := &lwDest{err: boom}
	w := agw.NewLogWriter(d, agw.LogWriterConfig{})
	_, _ = w.Write([]byte("x\n"))
	assert.ErrorIs(t, w.Flush(), boom)
	assert.ErrorIs(t, w.Close(), boom)
}

// BenchmarkAccessLogLine is one slog access-log-like record written to a file: directly (one write
// system call per line, as before) and through a LogWriter.
func BenchmarkAccessLogLine(b *testing.B) {
	for _, buffered := range []bool{false, true} {
		b.Run(fmt.Sprintf("buffered=%v", buffered), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
			require.NoError(b, err)
			defer f.Close()
			var dst interface {
				Write([]byte) (int, error)
			} = f
			var lw *agw.LogWriter
			if buffered {
				lw = agw.NewLogWriter(f, agw.LogWriterConfig{})
				dst = lw
			}
			l := slog.New(slog.NewTextHandler(dst, nil))
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(b.Context(), slog.LevelInfo, "request", slog.String("route", "api"),
					slog.String("method", "GET"), slog.String("path", "/api/items"), slog.Int("status", 200),
					slog.Duration("duration", 1234*time.Microsecond))
			}
			if lw != nil {
				require.NoError(b, lw.Close())
			}
		})
	}
}
