package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// memoryTrimmer returns the heap a burst left free to the OS. After thousands of connections close,
// the Go runtime keeps their pages (buffers, goroutine stacks) and gives them back only gradually, so
// the process's RSS stays at its peak for minutes; an operator watching RSS, or a container memory
// limit, sees a leak that is not one. Every interval, when more than threshold bytes of heap are free
// but still held, the trimmer asks the runtime to release them (debug.FreeOSMemory: one GC, a few
// milliseconds, and only after a burst).
type memoryTrimmer struct {
	interval  time.Duration
	threshold uint64
	logger    *slog.Logger
	mu        sync.Mutex // trim runs on the ticker goroutine, stats on admin requests
	samples   []metrics.Sample
	trims     uint64 // how many times memory was released
	released  uint64 // bytes released by the last trim
	dropped   uint64 // bytes of start-up code mappings unmapped once at start
}

const (
	metricHeapFree     = "/memory/classes/heap/free:bytes"     // free and held by the process
	metricHeapReleased = "/memory/classes/heap/released:bytes" // free and returned to the OS
)

func newMemoryTrimmer(interval time.Duration, threshold uint64, logger *slog.Logger) *memoryTrimmer {
	return &memoryTrimmer{interval: interval, threshold: threshold, logger: logger,
		samples: []metrics.Sample{{Name: metricHeapFree}, {Name: metricHeapReleased}}}
}

// run trims every interval until ctx is done. It first returns what start-up left free: package
// initialisation and the first config build allocate several times the heap that stays live (the
// garbage of parsing and compiling), and the runtime would otherwise keep those pages for minutes.
func (m *memoryTrimmer) run(ctx context.Context) {
	if m.interval <= 0 {
		return
	}
	m.release()
	m.dropStartup()
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.trim()
		}
	}
}

// trim releases the free heap when it is over the threshold and reports whether it did.
func (m *memoryTrimmer) trim() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	free, _ := m.read()
	if free < m.threshold {
		return false
	}
	m.releaseLocked(free)
	return true
}

// dropStartup unmaps the code and constant data only start-up ran (see dropStartupPages).
func (m *memoryTrimmer) dropStartup() {
	n, err := dropStartupPages()
	if err != nil {
		m.logger.Debug("start-up pages kept", "error", err)
	}
	m.mu.Lock()
	m.dropped = n
	m.mu.Unlock()
}

// release returns the free heap to the OS whatever its size.
func (m *memoryTrimmer) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	free, _ := m.read()
	m.releaseLocked(free)
}

func (m *memoryTrimmer) releaseLocked(free uint64) {
	debug.FreeOSMemory()
	after, _ := m.read()
	m.trims++
	m.released = free - min(after, free)
	m.logger.Debug("returned free memory to the OS", "bytes", m.released)
}

// stats is the process's memory and worker figures for /stats.
func (m *memoryTrimmer) stats() map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	free, released := m.read()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{
		"workers":           runtime.GOMAXPROCS(0),
		"goroutines":        runtime.NumGoroutine(),
		"heapInUseBytes":    ms.HeapInuse,
		"heapFreeBytes":     free,
		"heapReleasedBytes": released,
		"memoryTrims":       m.trims,
		"lastTrimBytes":     m.released,
		"startupPagesBytes": m.dropped,
	}
}

func (m *memoryTrimmer) read() (free, released uint64) {
	metrics.Read(m.samples)
	return m.samples[0].Value.Uint64(), m.samples[1].Value.Uint64()
}
