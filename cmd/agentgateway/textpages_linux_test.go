package main

import (
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exeRSS is the resident kB of this test binary's own mappings that dropStartupPages may drop.
func exeRSS(t *testing.T) (kb uint64, n int) {
	exe, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	b, err := os.ReadFile("/proc/self/smaps")
	require.NoError(t, err)
	for _, m := range droppable(parseSmaps(b), exe) {
		kb += m.rssKB
		n++
	}
	return kb, n
}

// After start-up the code and constant data only initialisation touched leave the resident set, and
// the process keeps running the code it needs (mapped back on use).
func TestDropStartupPagesShrinksResidentCode(t *testing.T) {
	before, n := exeRSS(t)
	require.NotZero(t, n, "the executable's read-only mappings are found")
	require.Greater(t, before, uint64(1024), "init touched more than 1 MB of code and data")
	dropped, err := dropStartupPages()
	require.NoError(t, err)
	assert.NotZero(t, dropped)
	after, _ := exeRSS(t) // this very call runs code that was just unmapped
	assert.Less(t, after, before/2, "resident code after the drop: %d kB, before: %d kB", after, before)
	// Code and constant data still read right once mapped back.
	f, err := parseFlags([]string{"-f", "x.yaml", "--workers", "3"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 3, f.workers)
}

// Only clean read-only private mappings of the executable are dropped: writable data, shared
// mappings, other files and a read-only mapping with copied-on-write pages (relocated data of a
// position-independent build) keep their pages.
func TestDroppableMappings(t *testing.T) {
	const smaps = `00400000-00a00000 r-xp 00000000 08:01 123 /usr/bin/agw
Rss:                2048 kB
Anonymous:             0 kB
00a00000-00c00000 r--p 00600000 08:01 123 /usr/bin/agw
Rss:                 512 kB
Anonymous:            64 kB
00c00000-00d00000 r--p 00800000 08:01 123 /usr/bin/agw
Rss:                 256 kB
Anonymous:             0 kB
00d00000-00e00000 rw-p 00900000 08:01 123 /usr/bin/agw
Anonymous:           128 kB
7f0000000000-7f0000100000 r-xs 00000000 08:01 9 /usr/bin/agw
Anonymous:             0 kB
7f0000200000-7f0000300000 r-xp 00000000 08:01 7 /usr/lib/libc.so.6
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
Anonymous:           132 kB
`
	got := droppable(parseSmaps([]byte(smaps)), "/usr/bin/agw")
	require.Len(t, got, 2)
	assert.Equal(t, mapping{start: 0x400000, end: 0xa00000, private: true, path: "/usr/bin/agw", rssKB: 2048}, got[0])
	assert.Equal(t, uintptr(0xc00000), got[1].start)
}

func FuzzParseSmaps(f *testing.F) {
	f.Add([]byte("00400000-00a00000 r-xp 00000000 08:01 123 /a b\nRss: 4 kB\nAnonymous: 0 kB\n"))
	f.Add([]byte("zz-yy r\nRss:\n-\n00400000-00300000 r-xp 0 0 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range parseSmaps(b) {
			if m.end <= m.start {
				t.Fatalf("empty or inverted range %x-%x", m.start, m.end)
			}
		}
	})
}
