package main

import (
	"log/slog"
	"runtime"
	"testing"

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
