package main

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var sink [][]byte

// After a burst frees a lot of heap, a trim hands it back to the OS; below the threshold nothing
// happens (no forced GC on a quiet process).
func TestMemoryTrimmerReleasesAfterBurst(t *testing.T) {
	m := newMemoryTrimmer(0, 32<<20, slog.New(slog.DiscardHandler))
	for range 128 { // 128 MiB in 1 MiB pieces, then dropped: the burst
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	runtime.GC()
	free, releasedBefore := m.read()
	require.GreaterOrEqual(t, free, uint64(32<<20), "the burst left free heap behind")
	require.True(t, m.trim())
	freeAfter, releasedAfter := m.read()
	assert.Less(t, freeAfter, uint64(32<<20), "the free heap is returned")
	assert.Greater(t, releasedAfter, releasedBefore)
	assert.Equal(t, uint64(1), m.trims)

	assert.False(t, m.trim(), "nothing to trim: no forced GC")
	assert.Equal(t, uint64(1), m.trims)
}

// What start-up left free goes back to the OS when the trimmer starts, below the threshold too:
// the garbage of initialisation and of the first config build would otherwise stay resident in an
// idle process for minutes. With trimming off (interval 0), nothing is forced.
func TestMemoryTrimmerReleasesStartupGarbage(t *testing.T) {
	for range 8 { // 8 MiB of start-up garbage: under the 32 MiB threshold of the bursts
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	runtime.GC()
	m := newMemoryTrimmer(time.Hour, 32<<20, slog.New(slog.DiscardHandler))
	_, releasedBefore := m.read()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.run(ctx); close(done) }()
	require.Eventually(t, func() bool { return m.stats()["memoryTrims"] == uint64(1) }, 10*time.Second, 5*time.Millisecond)
	cancel()
	<-done
	_, releasedAfter := m.read()
	assert.Greater(t, releasedAfter, releasedBefore, "the free heap is returned at start")

	off := newMemoryTrimmer(0, 32<<20, slog.New(slog.DiscardHandler))
	off.run(context.Background())
	assert.Equal(t, uint64(0), off.stats()["memoryTrims"], "trimming off: no forced GC")
}
