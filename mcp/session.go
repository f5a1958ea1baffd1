package mcp

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Session ids are self-contained: the client-facing Mcp-Session-Id is the AES-GCM sealed form of a
// small record holding, per HTTP target, the upstream session id and its protocol version, the
// client's initialize parameters cut down to what re-initializing a target needs (protocol version,
// capabilities, clientInfo name/version/title), and the id's issue and expiry times. Any replica
// holding the key can therefore rebuild a session it has never seen: HTTP upstream sessions continue
// where they were; stdio and in-process targets, whose sessions live in a process or in memory, are
// re-initialized on that replica (a stdio session is pinned to its process).
//
// An id stops working when it expires (Config.SessionMaxLifetime after initialize), when the session
// is idle longer than Config.SessionTimeout, and when it ends (DELETE, idle expiry, the target
// forgot it). Ended ids are recorded in a SessionStore, which by default lives in the process and is
// shared by every federation with the same session key, so a federation rebuilt by a config reload
// refuses them too; sessions a closed federation released are parked there with their last activity,
// so idle time counts across a reload. Across replicas, an ended id is refused by the others only if
// they share a SessionStore; otherwise it resumes on them until it expires, and idleness is judged by
// each replica from the requests it saw.

// ErrSessionKey is returned for a session key of the wrong size.
var ErrSessionKey = errors.New("mcp: session key must be 16, 24 or 32 bytes")

// Errors of initialize; the client gets them as JSON-RPC errors.
var (
	// ErrInitializeTooLarge is returned for initialize params (or client capabilities) over the limits
	// below: they are replayed to targets from the session id, which must stay small.
	ErrInitializeTooLarge = errors.New("mcp: initialize params too large")
	// ErrSessionIDTooLong is returned when a session's sealed id would exceed maxSessionIDLen (too many
	// HTTP targets, or targets handing out very long session ids).
	ErrSessionIDTooLong = errors.New("mcp: session id too long")
)

// Bounds of what a session id carries.
const (
	// maxSessionIDLen is the longest id issued or accepted.
	maxSessionIDLen = 8192
	// maxInitParamsBytes is the largest initialize params accepted.
	maxInitParamsBytes = 64 << 10
	// maxCapabilitiesBytes is the largest client capabilities object kept (compacted).
	maxCapabilitiesBytes = 2 << 10
	// maxClientInfoField is the longest clientInfo name, version or title kept; longer ones are cut.
	maxClientInfoField = 256
)

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
	// Init is the initialize params sent to targets (see compactInit).
	Init json.RawMessage `json:"i,omitempty"`
	// Targets holds [name, upstream session id, protocol version] for HTTP targets.
	Targets [][3]string `json:"t,omitempty"`
	// Issued and Expires are unix milliseconds; an id without Expires (issued before ids expired) is
	// refused.
	Issued  int64 `json:"c"`
	Expires int64 `json:"e"`
}

// compactInit returns the initialize params kept for a session: protocolVersion (set to ver),
// capabilities as sent, and clientInfo's name, version and title, each cut to maxClientInfoField
// bytes. Everything else (icons, descriptions, _meta) is dropped: it is not needed to re-initialize a
// target, and the params travel in every session id.
func compactInit(params []byte, ver string) ([]byte, error) {
	if len(params) > maxInitParamsBytes {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrInitializeTooLarge, len(params), maxInitParamsBytes)
	}
	var p struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ClientInfo      struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Title   string `json:"title,omitempty"`
		} `json:"clientInfo"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, fmt.Errorf("invalid initialize params: %w", err)
	}
	caps := []byte("{}")
	switch {
	case len(p.Capabilities) == 0 || string(p.Capabilities) == "null":
	case p.Capabilities[0] != '{':
		return nil, errors.New("invalid initialize params: capabilities must be an object")
	default:
		var b bytes.Buffer
		if err := json.Compact(&b, p.Capabilities); err != nil {
			return nil, fmt.Errorf("invalid initialize params: %w", err)
		}
		if b.Len() > maxCapabilitiesBytes {
			return nil, fmt.Errorf("%w: capabilities are %d bytes (limit %d)", ErrInitializeTooLarge, b.Len(), maxCapabilitiesBytes)
		}
		// Kept as sent (capabilities this SDK does not know reach the targets), but they must decode.
		var c sdk.ClientCapabilities
		if err := json.Unmarshal(b.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("invalid initialize params: capabilities: %w", err)
		}
		caps = b.Bytes()
	}
	ci := p.ClientInfo
	ci.Name, ci.Version, ci.Title = cut(ci.Name), cut(ci.Version), cut(ci.Title)
	info, err := json.Marshal(ci)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"protocolVersion":`), quoted(ver)...)
	out = append(append(out, `,"capabilities":`...), caps...)
	out = append(append(out, `,"clientInfo":`...), info...)
	return append(out, '}'), nil
}

// cut shortens s to at most maxClientInfoField bytes, on a rune boundary.
func cut(s string) string {
	if len(s) <= maxClientInfoField {
		return s
	}
	s = s[:maxClientInfoField]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
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
	id := base64.RawURLEncoding.EncodeToString(sealed)
	if len(id) > maxSessionIDLen {
		return "", fmt.Errorf("%w: %d bytes (limit %d)", ErrSessionIDTooLong, len(id), maxSessionIDLen)
	}
	return id, nil
}

func (f *Federation) open(id string) (*token, bool) {
	if len(id) > maxSessionIDLen || f.aead == nil {
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

// digestID is the short digest that keys sessions in memory and in the SessionStore: the table holds
// 32 bytes per session whatever the id's length, and a store never sees a resumable id.
func digestID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// session is one client session: an upstream session slot per target.
type session struct {
	f       *Federation
	key     string // digestID of the client-facing id ("" until issued)
	version string
	expires int64           // unix milliseconds; 0: never (legacy SSE sessions end with their stream)
	init    json.RawMessage // initialize params sent upstream
	slots   []slot
	last    atomic.Int64 // unix nanos of the last request
	streams atomic.Int32 // open GET streams: a listening client is not idle
	ctx     context.Context
	cancel  context.CancelFunc
	closed  atomic.Bool

	mu    sync.Mutex
	names map[string]int // PrefixNever: exposed name → target index
	// known is each target's list of each kind (knows), refreshed by a client's list and by the
	// target's list_changed.
	known map[string]*knownSet
	// tasks are the tasks this session created (tasks.go).
	tasks taskTable

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

// token returns the session's sealable record, issued now; it sets the session's expiry.
func (s *session) token() *token {
	now := time.Now()
	s.expires = now.Add(s.f.cfg.SessionMaxLifetime).UnixMilli()
	t := &token{Version: s.version, Init: s.init, Issued: now.UnixMilli(), Expires: s.expires}
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
func (f *Federation) resume(key string, t *token, expires int64) *session {
	s := f.newSession(t.Version, t.Init)
	s.key, s.expires = key, expires
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

// sessionTable is the federation's live sessions, by id digest.
type sessionTable struct {
	mu   sync.RWMutex
	live map[string]*session
}

func (t *sessionTable) init() { t.live = map[string]*session{} }

func (t *sessionTable) get(key string) *session {
	t.mu.RLock()
	s := t.live[key]
	t.mu.RUnlock()
	return s
}

// put stores s unless another request stored the same id first; it returns the stored session.
func (t *sessionTable) put(s *session) (*session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.live[s.key]; ok {
		return prev, false
	}
	t.live[s.key] = s
	return s, true
}

// remove takes s out of the table (if it is still the session stored under its key) and reports
// whether it did, so that exactly one caller ends it.
func (t *sessionTable) remove(s *session) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live[s.key] != s {
		return false
	}
	delete(t.live, s.key)
	return true
}

// stale returns the sessions that are idle since before cut (and have no open stream) or expired at
// now.
func (t *sessionTable) stale(cut time.Time, now time.Time) []*session {
	c, n := cut.UnixNano(), now.UnixMilli()
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []*session
	for _, s := range t.live {
		if (s.last.Load() < c && s.streams.Load() == 0) || (s.expires != 0 && n >= s.expires) {
			out = append(out, s)
		}
	}
	return out
}

func (t *sessionTable) drain() []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*session, 0, len(t.live))
	for key, s := range t.live {
		out = append(out, s)
		delete(t.live, key)
	}
	return out
}

// lookup finds or resumes the session named by a client's Mcp-Session-Id. It refuses ids that expired,
// ended (in this federation, another one sharing the store, or before a reload) or idled out.
func (f *Federation) lookup(id string) (*session, bool) {
	if len(id) > maxSessionIDLen {
		return nil, false
	}
	key := digestID(id)
	now := time.Now()
	if s := f.sessions.get(key); s != nil {
		if s.isLegacy {
			return nil, false // legacy ids are not Mcp-Session-Ids
		}
		if (s.expires != 0 && now.UnixMilli() >= s.expires) ||
			(now.UnixNano()-s.last.Load() > int64(f.cfg.SessionTimeout) && s.streams.Load() == 0) ||
			f.store.Ended(key) {
			if f.endSession(s) {
				go s.close()
			}
			return nil, false
		}
		return s, true
	}
	t, ok := f.open(id)
	if !ok {
		return nil, false
	}
	// The id's own expiry, and this federation's lifetime limit counted from issue.
	expires := min(t.Expires, t.Issued+f.cfg.SessionMaxLifetime.Milliseconds())
	if t.Expires == 0 || now.UnixMilli() >= expires || f.store.Ended(key) {
		return nil, false
	}
	last := now.UnixNano()
	if at, ok := f.shared.parked.take(key); ok {
		// Released by a federation this one replaced: idle time counts from its last request.
		if now.UnixNano()-at > int64(f.cfg.SessionTimeout) {
			f.store.End(key, time.UnixMilli(expires))
			return nil, false
		}
		last = at
	}
	s := f.resume(key, t, expires)
	s.last.Store(last)
	s, _ = f.sessions.put(s)
	return s, true
}

// endSession ends a session for good: recorded as ended, so that its id does not resume here, after a
// reload, or on replicas sharing the store, then out of the table (in that order, so a request in
// between finds it ended rather than resuming it). It reports whether this call removed it; the caller
// then closes it (deleting upstream sessions, stopping processes).
func (f *Federation) endSession(s *session) bool {
	f.recordEnd(s)
	return f.sessions.remove(s)
}

func (f *Federation) recordEnd(s *session) {
	if s.key != "" && !s.isLegacy {
		f.store.End(s.key, time.UnixMilli(s.expires))
	}
}
