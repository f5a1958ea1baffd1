package mcp

import "time"

// SetDrainWait sets how long the drain after an SSE response may wait, for tests that count
// connections on a machine too loaded for the default; it returns the restore.
func SetDrainWait(d time.Duration) (restore func()) {
	old := drainWait.Swap(int64(d))
	return func() { drainWait.Store(old) }
}
