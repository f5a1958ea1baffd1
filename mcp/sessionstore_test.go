package mcp

import (
	"strconv"
	"testing"
	"time"
)

// The in-process store of ended sessions stays bounded however many sessions are ended, and forgets
// a record once the id has expired anyway.
func TestSessionStoreIsBounded(t *testing.T) {
	var m memStore
	later := time.Now().Add(time.Hour)
	for i := range maxStoreEntries + 1000 {
		m.End(strconv.Itoa(i), later)
	}
	if n := m.set.len(); n > maxStoreEntries {
		t.Fatalf("%d records, bound %d", n, maxStoreEntries)
	}
	if !m.Ended(strconv.Itoa(maxStoreEntries + 999)) {
		t.Fatal("the newest record is kept")
	}

	var s memStore
	s.End("gone", time.Now().Add(-time.Second))
	if s.Ended("gone") || s.set.len() != 0 {
		t.Fatal("a record for an expired id is not kept")
	}
	s.End("soon", time.Now().Add(20*time.Millisecond))
	if !s.Ended("soon") {
		t.Fatal("recorded")
	}
	time.Sleep(40 * time.Millisecond)
	if s.Ended("soon") {
		t.Fatal("expired record still reported")
	}
	s.set.sweep()
	if s.set.len() != 0 {
		t.Fatal("sweep drops expired records")
	}
}
