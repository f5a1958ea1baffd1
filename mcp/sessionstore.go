package mcp

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// SessionStore records sessions that ended — deleted by the client, idle past Config.SessionTimeout,
// forgotten by a target — so that their ids, which still decrypt, are answered 404 instead of being
// resumed. Sessions are named by a digest of their id (32 hex characters), never by the id itself.
//
// The default store lives in the process and is shared by every federation with the same session
// key, so an ended session stays ended when a config reload rebuilds the federation. Replicas that
// share a session key and should refuse each other's ended sessions need a store they share (backed by
// Redis, say); without one an id ended on one replica keeps resuming on the others until it expires
// (Config.SessionMaxLifetime).
type SessionStore interface {
	// End records that the session with this id digest ended. The record may be dropped once expires
	// has passed: the id is refused from then on anyway.
	End(digest string, expires time.Time)
	// Ended reports whether End was recorded for the digest (and has not expired). It is called on
	// every request that names a session, so it should answer from memory or a local cache.
	Ended(digest string) bool
}

// maxStoreEntries bounds each in-process set of session records. At the bound, expired records are
// swept, and if that frees nothing an arbitrary eighth is forgotten: an attacker opening and deleting
// sessions in bulk can push out other records (those ids then resume until they expire) but cannot
// grow memory (about 100 bytes a record).
const maxStoreEntries = 1 << 16

// stampSet is a bounded map from id digest to a value, each entry forgotten after its expiry.
type stampSet struct {
	mu sync.RWMutex
	m  map[string]stamp
}

type stamp struct {
	val int64
	exp int64 // unix milliseconds
}

func (s *stampSet) put(key string, val int64, exp time.Time) {
	now, e := time.Now().UnixMilli(), exp.UnixMilli()
	if e <= now {
		return // already refused by its expiry
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]stamp{}
	}
	if _, ok := s.m[key]; !ok && len(s.m) >= maxStoreEntries {
		s.sweepLocked(now)
		if len(s.m) >= maxStoreEntries {
			n := maxStoreEntries / 8
			for k := range s.m {
				delete(s.m, k)
				if n--; n == 0 {
					break
				}
			}
		}
	}
	s.m[key] = stamp{val: val, exp: e}
}

func (s *stampSet) get(key string) (int64, bool) {
	s.mu.RLock()
	st, ok := s.m[key]
	s.mu.RUnlock()
	return st.val, ok && time.Now().UnixMilli() < st.exp
}

// take returns and removes the entry.
func (s *stampSet) take(key string) (int64, bool) {
	s.mu.Lock()
	st, ok := s.m[key]
	delete(s.m, key)
	s.mu.Unlock()
	return st.val, ok && time.Now().UnixMilli() < st.exp
}

func (s *stampSet) sweep() {
	s.mu.Lock()
	s.sweepLocked(time.Now().UnixMilli())
	s.mu.Unlock()
}

func (s *stampSet) sweepLocked(now int64) {
	for k, st := range s.m {
		if st.exp <= now {
			delete(s.m, k)
		}
	}
}

func (s *stampSet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// memStore is the default SessionStore.
type memStore struct{ set stampSet }

func (m *memStore) End(digest string, expires time.Time) { m.set.put(digest, 0, expires) }

func (m *memStore) Ended(digest string) bool {
	_, ok := m.set.get(digest)
	return ok
}

// keyState is what the federations of this process that share a session key share: the default
// store of ended sessions, and the sessions a closed federation released, with their last activity
// (unix nanoseconds), for the federation that replaced it.
type keyState struct {
	ended     memStore
	parked    stampSet
	lastSweep atomic.Int64 // unix nanoseconds
}

// sweep drops expired records; the janitors of all federations sharing the key call it, and at most
// one call in 30 seconds does the work.
func (k *keyState) sweep() {
	now, last := time.Now().UnixNano(), k.lastSweep.Load()
	if now-last < int64(30*time.Second) || !k.lastSweep.CompareAndSwap(last, now) {
		return
	}
	k.ended.set.sweep()
	k.parked.sweep()
}

// keyStates maps a digest of each session key in use to its keyState. Entries are never removed: there
// is one per distinct key the process was configured with.
var keyStates sync.Map

func sharedState(key []byte) *keyState {
	h := sha256.New()
	h.Write([]byte("agentgateway mcp session store\x00"))
	h.Write(key)
	k := string(h.Sum(nil))
	if v, ok := keyStates.Load(k); ok {
		return v.(*keyState)
	}
	v, _ := keyStates.LoadOrStore(k, &keyState{})
	return v.(*keyState)
}
