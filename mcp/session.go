package mcp

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Session ids are self-contained: the client-facing Mcp-Session-Id is the AES-GCM sealed form of a
// small record holding, per HTTP target, the upstream session id and its protocol version, plus the
// client's initialize parameters. Any replica holding the key can therefore rebuild a session it has
// never seen: HTTP upstream sessions continue where they were; stdio and in-process targets, whose
// sessions live in a process or in memory, are re-initialized on that replica (a stdio session is
// pinned to its process).

// ErrSessionKey is returned for a session key of the wrong size.
var ErrSessionKey = errors.New("mcp: session key must be 16, 24 or 32 bytes")

func newAEAD(key []byte) (cipher.AEAD, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, ErrSessionKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSessionKey, err)
	}
	return cipher.NewGCM(block)
}

// token is the sealed content of a session id.
type token struct {
	// Version is the protocol version negotiated with the client.
	Version string `json:"v"`
	// Init is the initialize params sent to targets (client capabilities and info).
	Init json.RawMessage `json:"i,omitempty"`
	// Targets holds [name, upstream session id, protocol version] for HTTP targets.
	Targets [][3]string `json:"t,omitempty"`
	// Created makes every id unique even for identical content.
	Created int64 `json:"c"`
}

func (f *Federation) seal(t *token) (string, error) {
	plain, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, f.aead.NonceSize(), f.aead.NonceSize()+len(plain)+f.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := f.aead.Seal(nonce, nonce, plain, nil)
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (f *Federation) open(id string) (*token, bool) {
	if len(id) > 8192 || f.aead == nil {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) < f.aead.NonceSize()+f.aead.Overhead() {
		return nil, false
	}
	ns := f.aead.NonceSize()
	plain, err := f.aead.Open(nil, raw[:ns], raw[ns:], nil)
	if err != nil {
		return nil, false
	}
	var t token
	if json.Unmarshal(plain, &t) != nil {
		return nil, false
	}
	return &t, true
}

// session is one client session: an upstream session slot per target.
type session struct {
	f       *Federation
	id      string
	version string
	init    json.RawMessage // initialize params sent upstream
	slots   []slot
	last    atomic.Int64 // unix nanos of the last request
	streams atomic.Int32 // open GET streams: a listening client is not idle
	ctx     context.Context
	cancel  context.CancelFunc
	closed  atomic.Bool

	mu    sync.Mutex
	names map[string]int // PrefixNever: exposed name → target index

	// legacy is the SSE stream of a legacy (HTTP+SSE) client session (guarded by mu; nil once
	// closed); isLegacy is fixed at creation.
	legacy   chan []byte
	isLegacy bool
}

// slot holds the upstream session of one target.
type slot struct {
	mu       sync.Mutex
	up       upstream
	failures int       // consecutive failed starts, for restart back-off
	started  time.Time // when the current upstream was opened
	down     bool      // failOpen: this target failed at set-up
}

func (f *Federation) newSession(version string, init json.RawMessage) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{f: f, version: version, init: init, slots: make([]slot, len(f.targets)), ctx: ctx, cancel: cancel}
	s.touch()
	return s
}

func (s *session) touch() { s.last.Store(time.Now().UnixNano()) }

// token returns the session's sealable record.
func (s *session) token() *token {
	t := &token{Version: s.version, Init: s.init, Created: time.Now().UnixNano()}
	for i := range s.slots {
		sl := &s.slots[i]
		sl.mu.Lock()
		if h, ok := sl.up.(*httpUpstream); ok && h.sid != "" {
			t.Targets = append(t.Targets, [3]string{s.f.targets[i].Name, h.sid, h.ver})
		}
		sl.mu.Unlock()
	}
	return t
}

// resume rebuilds a session from its token on a replica that does not hold it.
func (f *Federation) resume(id string, t *token) *session {
	s := f.newSession(t.Version, t.Init)
	s.id = id
	for _, ts := range t.Targets {
		if tg, ok := f.byName[ts[0]]; ok && tg.Transport == TransportHTTP {
			s.slots[tg.idx].up = &httpUpstream{t: tg, sid: ts[1], ver: ts[2]}
			s.slots[tg.idx].started = time.Now()
		}
	}
	return s
}

// close ends every upstream session; it is idempotent.
func (s *session) close() { s.shut(func(u upstream) { u.close() }) }

// release lets go of the session locally, leaving resumable upstream sessions alive (see
// upstream.release); Federation.Close uses it so that sessions survive config reloads and restarts
// of one replica.
func (s *session) release() { s.shut(func(u upstream) { u.release() }) }

func (s *session) shut(end func(upstream)) {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	s.cancel()
	var wg sync.WaitGroup
	for i := range s.slots {
		sl := &s.slots[i]
		sl.mu.Lock()
		up := sl.up
		sl.up = nil
		sl.mu.Unlock()
		if up != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				end(up)
			}()
		}
	}
	wg.Wait()
	if s.legacy != nil {
		s.mu.Lock()
		close(s.legacy)
		s.legacy = nil
		s.mu.Unlock()
	}
}

// sessionTable is the replica's view of live sessions, plus the ids it closed (so that a deleted
// session answers 404 even though its id still decrypts).
type sessionTable struct {
	mu      sync.RWMutex
	live    map[string]*session
	deleted map[string]time.Time
}

func (t *sessionTable) init() {
	t.live = map[string]*session{}
	t.deleted = map[string]time.Time{}
}

func (t *sessionTable) get(id string) (*session, bool) {
	t.mu.RLock()
	s, ok := t.live[id]
	_, gone := t.deleted[id]
	t.mu.RUnlock()
	return s, ok || gone
}

// put stores s unless another request stored the same id first; it returns the stored session.
func (t *sessionTable) put(s *session) (*session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.live[s.id]; ok {
		return prev, false
	}
	t.live[s.id] = s
	return s, true
}

func (t *sessionTable) remove(id string) *session {
	t.mu.Lock()
	s := t.live[id]
	delete(t.live, id)
	t.deleted[id] = time.Now()
	t.mu.Unlock()
	return s
}

func (t *sessionTable) idle(before time.Time) []*session {
	cut := before.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*session
	for id, s := range t.live {
		if s.last.Load() < cut && s.streams.Load() == 0 {
			out = append(out, s)
			delete(t.live, id)
			t.deleted[id] = time.Now()
		}
	}
	for id, at := range t.deleted {
		if at.Before(before) {
			delete(t.deleted, id)
		}
	}
	return out
}

func (t *sessionTable) drain() []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*session, 0, len(t.live))
	for id, s := range t.live {
		out = append(out, s)
		delete(t.live, id)
	}
	return out
}

// lookup finds or resumes the session named by a client's Mcp-Session-Id.
func (f *Federation) lookup(id string) (*session, bool) {
	if s, known := f.sessions.get(id); known {
		return s, s != nil
	}
	t, ok := f.open(id)
	if !ok {
		return nil, false
	}
	s, _ := f.sessions.put(f.resume(id, t))
	return s, true
}
