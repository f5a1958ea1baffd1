package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWatchPollsAMomentApartDoNotApply: when the poller was delayed its ticks bunch up, and two reads
// a moment apart can both see a file its writer has truncated but not yet written. The empty file is a
// valid config that closes every port; it must not be applied until it has been stable for an interval.
func TestWatchPollsAMomentApartDoNotApply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte("binds: [{port: 1, listeners: [{routes: [{policies: {directResponse: {status: 200}}}]}]}]"), 0o600))
	var applied []int // listener counts
	w, err := WatchFile(path, WatchOptions{Interval: 50 * time.Millisecond, Drain: time.Millisecond}, func(rt *Runtime) error {
		applied = append(applied, len(rt.Config.Listeners))
		return nil
	})
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, os.WriteFile(path, nil, 0o600)) // truncated, the rest not yet written
	w.poll()
	w.poll()
	require.Equal(t, []int{1}, applied, "two back-to-back reads of a truncated file are not a stable change")
	time.Sleep(60 * time.Millisecond)
	w.poll()
	require.Equal(t, []int{1}, applied, "an empty file stable for one interval is still not believed")

	require.NoError(t, os.WriteFile(path, []byte("binds: []"), 0o600))
	w.poll()
	time.Sleep(60 * time.Millisecond)
	w.poll()
	require.Equal(t, []int{1, 0}, applied, "content stable for an interval is applied")
}

// An emptied file is what a writer leaves between truncating and writing, and on a loaded machine that
// can outlast a poll; it is applied only once it has stayed empty for much longer.
func TestWatchEmptyFileMustSettle(t *testing.T) {
	defer func(d time.Duration) { emptyFileSettle = d }(emptyFileSettle)
	emptyFileSettle = 300 * time.Millisecond
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte("binds: [{port: 1, listeners: [{routes: [{policies: {directResponse: {status: 200}}}]}]}]"), 0o600))
	var applied []int
	w, err := WatchFile(path, WatchOptions{Interval: 20 * time.Millisecond, Drain: time.Millisecond}, func(rt *Runtime) error {
		applied = append(applied, len(rt.Config.Listeners))
		return nil
	})
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, os.WriteFile(path, []byte("\n"), 0o600))
	w.poll()
	time.Sleep(100 * time.Millisecond) // five intervals: a stalled writer
	w.poll()
	require.Equal(t, []int{1}, applied)
	time.Sleep(250 * time.Millisecond)
	w.poll()
	require.Equal(t, []int{1, 0}, applied, "a file that stays empty is applied in the end")
}
