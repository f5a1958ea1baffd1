package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dropStartupPages unmaps the pages of the executable's read-only segments (code and constant data)
// from the process, once, after start-up. Package initialisation of a binary this size runs through
// most of its text and rodata once and never again; the kernel keeps every page it touched (and 64 KB
// around it) mapped, so that code made up most of the idle RSS. The pages stay in the page cache,
// shared and clean: code that runs again is mapped back by a minor fault, and what never runs again
// leaves the process's resident set (and becomes reclaimable memory for the kernel).
//
// Only clean private mappings of the executable file are touched: a mapping with any anonymous
// (copied-on-write) page, such as relocated read-only data of a position-independent build, is left
// alone, since dropping it would lose the writes. It returns the bytes of mappings advised.
func dropStartupPages() (uint64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("executable path: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("reading mappings: %w", err)
	}
	var dropped uint64
	for _, m := range droppable(parseSmaps(smaps), exe) {
		// The raw call: the range is not Go memory, so there is no slice to hand unix.Madvise.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); e != 0 {
			return dropped, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, e)
		}
		dropped += uint64(m.end - m.start)
	}
	return dropped, nil
}

// droppable is the mappings of the executable whose pages all equal the file's: private, read-only
// and with no copied-on-write page.
func droppable(maps []mapping, exe string) []mapping {
	var out []mapping
	for _, m := range maps {
		if m.path == exe && m.private && !m.writable && m.anonymousKB == 0 {
			out = append(out, m)
		}
	}
	return out
}

// mapping is one entry of /proc/self/smaps.
type mapping struct {
	start, end        uintptr
	writable, private bool
	path              string
	anonymousKB       uint64
	rssKB             uint64
}

// parseSmaps reads the entries of /proc/<pid>/smaps: a header line per mapping
// ("start-end perms offset dev inode path") followed by "Key: value kB" lines.
func parseSmaps(b []byte) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if k, ok := strings.CutSuffix(fs[0], ":"); ok {
			if len(out) > 0 && len(fs) >= 2 {
				n, _ := strconv.ParseUint(fs[1], 10, 64)
				switch k {
				case "Anonymous":
					out[len(out)-1].anonymousKB = n
				case "Rss":
					out[len(out)-1].rssKB = n
				}
			}
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		if !ok || len(fs) < 5 {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start || len(fs[1]) < 4 {
			continue
		}
		m := mapping{start: uintptr(start), end: uintptr(end), writable: fs[1][1] == 'w', private: fs[1][3] == 'p'}
		if len(fs) >= 6 {
			m.path = strings.Join(fs[5:], " ")
		}
		out = append(out, m)
	}
	return out
}
