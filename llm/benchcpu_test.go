package llm_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the process has used (user and system, every thread: GC included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU starts counting the process's CPU time and returns the function that reports it per
// operation ("cpu-ns/op") at the end of the benchmark: on a loaded machine wall time per operation
// measures the other processes too, CPU time mostly does not.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
