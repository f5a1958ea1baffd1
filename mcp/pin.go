package mcp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	agentgateway "github.com/agentgw/agentgateway"
)

// PinMode is what a federation does when a target's tool no longer matches its pin (see [PinStore]).
type PinMode uint8

// The pin modes, per target ([Target.OnToolChange]).
const (
	// PinAllow logs and counts the change and serves the tool as it now is (the zero value).
	PinAllow PinMode = iota
	// PinHide hides the changed tool: it is left out of lists and a call to it is answered as a call
	// to an unknown tool, until an operator accepts the new definition.
	PinHide
	// PinFail fails the whole target: its tools, prompts and resources disappear and calls routed to
	// it get an error, until an operator accepts (or removes) every pending change of the target.
	PinFail
)

// String returns the mode as the YAML spells it ("allow", "hide", "fail").
func (m PinMode) String() string {
	switch m {
	case PinAllow:
		return "allow"
	case PinHide:
		return "hide"
	case PinFail:
		return "fail"
	}
	return fmt.Sprintf("pinMode(%d)", uint8(m))
}

// ParsePinMode parses "allow", "hide" or "fail" ("" is allow).
func ParsePinMode(s string) (PinMode, error) {
	switch s {
	case "", "allow":
		return PinAllow, nil
	case "hide":
		return PinHide, nil
	case "fail":
		return PinFail, nil
	}
	return 0, fmt.Errorf("unknown pin mode %q (allow, hide, fail)", s)
}

var (
	// ErrPinFile reports a pin file that cannot be parsed or fails validation.
	ErrPinFile = errors.New("mcp: invalid pin file")
	// ErrToolChanged is the cause of the error a call to a target failed by pinning ([PinFail]) gets.
	ErrToolChanged = errors.New("mcp: tool changed since it was pinned")
)

// pinFileVersion is the only format version written and accepted.
const pinFileVersion = 1

// pinDoc is the pin file: version and, per target, per tool (the target's own name), the pin.
type pinDoc struct {
	Version int                            `json:"version"`
	Targets map[string]map[string]*ToolPin `json:"targets"`
}

// ToolPin is one tool's entry in the pin file.
type ToolPin struct {
	// Fingerprint is "sha256:" and the hex SHA-256 of the canonical JSON of the tool's name,
	// description, input schema and annotations (Tool).
	Fingerprint string `json:"fingerprint"`
	// PinnedAt is when the fingerprint was pinned (first seen, or accepted).
	PinnedAt time.Time `json:"pinnedAt"`
	// Tool is the pinned definition, for review.
	Tool json.RawMessage `json:"tool,omitempty"`
	// Changed is a definition seen since that differs from the pin and awaits an operator.
	Changed *ToolChange `json:"changed,omitempty"`
}

// ToolChange is a tool definition that differs from its pin.
type ToolChange struct {
	Fingerprint string          `json:"fingerprint"`
	SeenAt      time.Time       `json:"seenAt"`
	Tool        json.RawMessage `json:"tool,omitempty"`
	// Accepted, set by an operator editing the file, accepts the change: it becomes the pin.
	Accepted bool `json:"accepted,omitempty"`
}

var fingerprintRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// parsePins parses and validates a pin file. An empty file is an empty set of pins. Changes marked
// accepted are applied, so the result holds only pending changes.
func parsePins(b []byte) (*pinDoc, error) {
	doc := &pinDoc{Version: pinFileVersion, Targets: map[string]map[string]*ToolPin{}}
	if len(bytes.TrimSpace(b)) == 0 {
		return doc, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in pinDoc
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPinFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrPinFile)
	}
	if in.Version != pinFileVersion {
		return nil, fmt.Errorf("%w: version %d (want %d)", ErrPinFile, in.Version, pinFileVersion)
	}
	for target, tools := range in.Targets {
		if target == "" {
			return nil, fmt.Errorf("%w: empty target name", ErrPinFile)
		}
		for name, p := range tools {
			at := fmt.Sprintf("targets.%s.%s", target, name)
			switch {
			case name == "":
				return nil, fmt.Errorf("%w: target %q: empty tool name", ErrPinFile, target)
			case p == nil:
				return nil, fmt.Errorf("%w: %s: null entry", ErrPinFile, at)
			case !fingerprintRE.MatchString(p.Fingerprint):
				return nil, fmt.Errorf("%w: %s.fingerprint: %q is not sha256:<64 hex digits>", ErrPinFile, at, p.Fingerprint)
			case p.Changed != nil && !fingerprintRE.MatchString(p.Changed.Fingerprint):
				return nil, fmt.Errorf("%w: %s.changed.fingerprint: %q is not sha256:<64 hex digits>", ErrPinFile, at, p.Changed.Fingerprint)
			}
			if c := p.Changed; c != nil && c.Accepted {
				p.Fingerprint, p.Tool, p.PinnedAt, p.Changed = c.Fingerprint, c.Tool, c.SeenAt, nil
			}
		}
		if tools == nil {
			tools = map[string]*ToolPin{}
		}
		doc.Targets[target] = tools
	}
	return doc, nil
}

// marshal writes the document with sorted keys (encoding/json sorts map keys), one field a line.
func (d *pinDoc) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func (d *pinDoc) pin(target, tool string) *ToolPin {
	return d.Targets[target][tool]
}

// toolDef is one listed tool's fingerprint and canonical definition.
type toolDef struct {
	name  string
	fp    string
	canon json.RawMessage
}

// fingerprintTool canonicalizes what a tool tells a model (name, description, input schema,
// annotations): JSON with sorted keys and no insignificant space, hashed with SHA-256.
func fingerprintTool(t *sdk.Tool) toolDef {
	v := map[string]any{"name": t.Name, "description": t.Description}
	switch s := t.InputSchema.(type) {
	case nil:
	case map[string]any:
		v["inputSchema"] = s // as decoded from a list: encoding/json writes its keys sorted
	default:
		v["inputSchema"] = canonical(s)
	}
	if t.Annotations != nil {
		v["annotations"] = t.Annotations // a struct: its fields always come in one order
	}
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return toolDef{name: t.Name, fp: "sha256:" + hex.EncodeToString(sum[:]), canon: b}
}

// canonical turns any JSON-encodable value into plain maps, slices and json.Numbers, which
// encoding/json writes with sorted keys.
func canonical(x any) any {
	b, err := json.Marshal(x)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// PinStore holds tool pins: the fingerprint of every target's tools as first seen (trust on first
// use), and the changes seen since. Give it to federations with [Config.Pins]; what a federation does
// about a change is its target's [Target.OnToolChange].
//
// A store opened on a file ([OpenPins]) keeps the pins there, as JSON with sorted keys an operator can
// review and edit: targets → tool → {fingerprint, pinnedAt, tool, changed}. The file is re-read when
// it changes on disk, and every write re-reads it under a lock file (<path>.lock) and merges, then
// replaces it atomically (temporary file and rename), so gateways sharing the file (replicas) keep
// each other's pins. A change is accepted by making it the pin: set "accepted": true in its "changed"
// object, or copy its fingerprint and tool over the entry's and delete "changed", or call
// [PinStore.Accept] (or POST to [PinStore.Handler], which the binary serves on its admin listener). Deleting a
// tool's entry pins the tool afresh the next time it is listed; deleting "changed" alone rejects the
// change (it is recorded again while the tool stays changed).
//
// Pins are keyed by target name: federations that share a store should give different servers
// different target names.
type PinStore struct {
	path string // "" in memory only

	mu      sync.Mutex
	doc     *pinDoc
	stamp   os.FileInfo // the file as last read (nil: absent)
	lastErr string      // the last read error reported, to report each only once
	changes atomic.Uint64
}

// OpenPins returns a store kept in the file at path, which is created at the first pin. An empty
// path is a store in memory only. The error wraps [ErrPinFile] when the file exists but is not a valid
// pin file. Stores opened on one file, in one process or in several, see each other's pins.
func OpenPins(path string) (*PinStore, error) {
	s := &PinStore{}
	if path == "" {
		s.doc, _ = parsePins(nil)
		return s, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("mcp: pins: %w", err)
	}
	if di, err := os.Stat(filepath.Dir(abs)); err != nil || !di.IsDir() {
		return nil, fmt.Errorf("mcp: pins %s: the directory must exist", abs)
	}
	doc, fi, err := readPins(abs)
	if err != nil {
		return nil, fmt.Errorf("mcp: pins %s: %w", abs, err)
	}
	s.path, s.doc, s.stamp = abs, doc, fi
	return s, nil
}

// Path is the file the pins are kept in ("" in memory).
func (s *PinStore) Path() string { return s.path }

// Changes counts the tool changes the federations using the store detected since it was opened: each
// new definition of a tool counts once per federation.
func (s *PinStore) Changes() uint64 { return s.changes.Load() }

// readPins reads and parses the file; an absent file is an empty set of pins.
func readPins(path string) (*pinDoc, os.FileInfo, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		doc, _ := parsePins(nil)
		return doc, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	doc, err := parsePins(b)
	if err != nil {
		return nil, nil, err
	}
	fi, _ := os.Stat(path)
	return doc, fi, nil
}

// refreshLocked re-reads the file when it changed on disk (an operator's edit, another replica's
// write). A file that does not parse is reported once and the pins in memory stay in force.
func (s *PinStore) refreshLocked() error {
	if s.path == "" {
		return nil
	}
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if s.stamp == nil {
			return nil
		}
	case err != nil:
		return s.reportOnce(err)
	case s.stamp != nil && os.SameFile(fi, s.stamp) && fi.ModTime().Equal(s.stamp.ModTime()) && fi.Size() == s.stamp.Size():
		return nil
	}
	doc, stamp, err := readPins(s.path)
	if err != nil {
		return s.reportOnce(err)
	}
	s.doc, s.stamp, s.lastErr = doc, stamp, ""
	return nil
}

func (s *PinStore) reportOnce(err error) error {
	if err.Error() == s.lastErr {
		return nil
	}
	s.lastErr = err.Error()
	return fmt.Errorf("mcp: pins %s: %w", s.path, err)
}

// update applies mut to the pins on disk, read afresh under the lock, and writes the result. mut
// reports whether it changed anything. An unreadable file is not overwritten: an operator's broken
// edit stays for the operator to fix, and the change is applied in memory only.
func (s *PinStore) update(mut func(*pinDoc) bool) error {
	if s.path == "" {
		mut(s.doc)
		return nil
	}
	unlock, err := lockFile(s.path + ".lock")
	if err != nil {
		mut(s.doc)
		return fmt.Errorf("mcp: pins %s: locking: %w", s.path, err)
	}
	defer unlock()
	doc, _, err := readPins(s.path)
	if err != nil {
		mut(s.doc)
		return s.reportOnce(err)
	}
	if !mut(doc) {
		s.doc = doc
		return nil
	}
	b, err := doc.marshal()
	if err == nil {
		err = writeAtomic(s.path, b)
	}
	if err != nil {
		mut(s.doc)
		return fmt.Errorf("mcp: pins %s: writing: %w", s.path, err)
	}
	s.doc = doc
	s.stamp, _ = os.Stat(s.path)
	return nil
}

// writeAtomic replaces path with b: a temporary file in the same directory, synced, then renamed, so
// a reader sees the old file or the new one, never a part.
func writeAtomic(path string, b []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(name, 0o644) // pins are not secret; the operator reviews them
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
	}
	return err
}

// observe compares a target's listed tools with their pins: tools never seen are pinned, and a tool
// whose definition differs from its pin is recorded as changed (unless that definition is already
// recorded). It returns the tools whose definition differs from the pin, and an error when the pins
// could not be read or written (the comparison then used the pins in memory).
func (s *PinStore) observe(target string, defs []toolDef) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rerr := s.refreshLocked()
	needs := false
	for _, d := range defs {
		p := s.doc.pin(target, d.name)
		if p == nil || (p.Fingerprint != d.fp && (p.Changed == nil || p.Changed.Fingerprint != d.fp)) {
			needs = true
			break
		}
	}
	var werr error
	if needs {
		now := time.Now().UTC().Truncate(time.Second)
		werr = s.update(func(doc *pinDoc) bool {
			changed := false
			tools := doc.Targets[target]
			if tools == nil {
				tools = map[string]*ToolPin{}
				doc.Targets[target] = tools
			}
			for _, d := range defs {
				p := tools[d.name]
				switch {
				case p == nil:
					tools[d.name] = &ToolPin{Fingerprint: d.fp, PinnedAt: now, Tool: d.canon}
					changed = true
				case p.Fingerprint != d.fp && (p.Changed == nil || p.Changed.Fingerprint != d.fp):
					p.Changed = &ToolChange{Fingerprint: d.fp, SeenAt: now, Tool: d.canon}
					changed = true
				}
			}
			return changed
		})
	}
	differs := map[string]bool{}
	for _, d := range defs {
		if p := s.doc.pin(target, d.name); p != nil && p.Fingerprint != d.fp {
			differs[d.name] = true
		}
	}
	return differs, errors.Join(rerr, werr)
}

// pinned returns a tool's pinned fingerprint ("" when it has none).
func (s *PinStore) pinned(target, tool string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked() // reported by observe
	if p := s.doc.pin(target, tool); p != nil {
		return p.Fingerprint
	}
	return ""
}

// pending reports whether a target has a change awaiting an operator.
func (s *PinStore) pending(target string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	for _, p := range s.doc.Targets[target] {
		if p.Changed != nil {
			return true
		}
	}
	return false
}

// Accept makes a tool's pending change its pin. It is an error when the tool has no pending change.
func (s *PinStore) Accept(target, tool string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	found := false
	err := s.update(func(doc *pinDoc) bool {
		p := doc.pin(target, tool)
		if p == nil || p.Changed == nil {
			return false
		}
		found = true
		p.Fingerprint, p.Tool, p.Changed = p.Changed.Fingerprint, p.Changed.Tool, nil
		p.PinnedAt = time.Now().UTC().Truncate(time.Second)
		return true
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("mcp: pins: %s/%s has no pending change", target, tool)
	}
	return nil
}

// PendingChange names a tool whose definition changed since it was pinned.
type PendingChange struct {
	Target, Tool string
	// Pinned and Changed are the fingerprints of the pin and of the definition seen since.
	Pinned, Changed string
	SeenAt          time.Time
}

// Pending lists the changes awaiting an operator, sorted by target and tool.
func (s *PinStore) Pending() []PendingChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refreshLocked()
	var out []PendingChange
	for target, tools := range s.doc.Targets {
		for name, p := range tools {
			if p.Changed != nil {
				out = append(out, PendingChange{Target: target, Tool: name, Pinned: p.Fingerprint, Changed: p.Changed.Fingerprint, SeenAt: p.Changed.SeenAt})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Target != out[j].Target {
			return out[i].Target < out[j].Target
		}
		return out[i].Tool < out[j].Tool
	})
	return out
}

// pinState is a federation's side of pinning: what it saw and reported, and the tools' latest
// definitions (their annotations are what approval rules read).
type pinState struct {
	changes atomic.Uint64
	mu      sync.Mutex
	seen    map[string]string    // target\x00tool → fingerprint of the latest listed definition
	defs    map[string]*sdk.Tool // target\x00tool → latest listed definition
}

func pinKey(target, tool string) string { return target + "\x00" + tool }

// ToolChanges counts the tool changes this federation detected: each new definition of a pinned tool
// counts once.
func (f *Federation) ToolChanges() uint64 { return f.pin.changes.Load() }

// afterToolList runs on every complete tools list a target gave (any session, any reason, after
// list_changed too): it records the definitions, compares them with the pins, reports changes and
// applies the target's pin mode to the list.
func (f *Federation) afterToolList(t *target, into *listPage) {
	if f.cfg.Pins == nil && f.approval == nil {
		return
	}
	defs := make([]toolDef, 0, len(into.Tools))
	f.pin.mu.Lock()
	if f.pin.seen == nil {
		f.pin.seen, f.pin.defs = map[string]string{}, map[string]*sdk.Tool{}
	}
	for _, tool := range into.Tools {
		if tool == nil {
			continue
		}
		cp := *tool // the merge renames the listed tool in place
		f.pin.defs[pinKey(t.Name, tool.Name)] = &cp
		if f.cfg.Pins != nil {
			defs = append(defs, fingerprintTool(tool))
		}
	}
	f.pin.mu.Unlock()
	if f.cfg.Pins == nil {
		return
	}
	differs, err := f.cfg.Pins.observe(t.Name, defs)
	if err != nil {
		f.logger().Error("mcp: tool pins", "error", err)
	}
	f.pin.mu.Lock()
	for _, d := range defs {
		k := pinKey(t.Name, d.name)
		prev := f.pin.seen[k]
		f.pin.seen[k] = d.fp
		if differs[d.name] && prev != d.fp {
			f.pin.changes.Add(1)
			f.cfg.Pins.changes.Add(1)
			// Names and fingerprints only: the definition itself is in the pin file for review.
			f.logger().Warn("mcp: tool changed since it was pinned", "target", t.Name, "tool", d.name,
				"pinned", f.cfg.Pins.pinned(t.Name, d.name), "seen", d.fp, "mode", t.OnToolChange.String())
		}
	}
	f.pin.mu.Unlock()
	switch t.OnToolChange {
	case PinHide:
		kept := into.Tools[:0]
		for _, tool := range into.Tools {
			if tool != nil && !differs[tool.Name] {
				kept = append(kept, tool)
			}
		}
		into.Tools = kept
	case PinFail:
		if len(differs) > 0 {
			into.Tools = nil
		}
	}
}

// pinFailed returns the error of a target failed by pinning, or nil.
func (f *Federation) pinFailed(t *target) error {
	if f.cfg.Pins == nil || t.OnToolChange != PinFail || !f.cfg.Pins.pending(t.Name) {
		return nil
	}
	return fmt.Errorf("target %s is failed: %w; an operator must accept the change in the pin file", t.Name, ErrToolChanged)
}

// pinHidden reports whether a call to a target's tool must be answered as unknown: the target hides
// changed tools and the definition last listed differs from the pin.
func (f *Federation) pinHidden(t *target, tool string) bool {
	if f.cfg.Pins == nil || t.OnToolChange != PinHide {
		return false
	}
	f.pin.mu.Lock()
	seen := f.pin.seen[pinKey(t.Name, tool)]
	f.pin.mu.Unlock()
	if seen == "" {
		return false
	}
	p := f.cfg.Pins.pinned(t.Name, tool)
	return p != "" && p != seen
}

// toolDef returns the target's tool as last listed, or nil.
func (f *Federation) toolDef(t *target, tool string) *sdk.Tool {
	f.pin.mu.Lock()
	defer f.pin.mu.Unlock()
	return f.pin.defs[pinKey(t.Name, tool)]
}

// Handler serves the store for operators (the binary mounts it on its admin listener at /mcp/pins):
// GET lists the pending changes as JSON ([PendingChange]s); POST with the JSON body
// {"target": ..., "tool": ...} accepts one (Accept). A POST must say Content-Type: application/json,
// which a browser cannot send cross-site without a CORS preflight, so a web page cannot accept a
// change through an operator's browser.
func (s *PinStore) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			pending := s.Pending()
			if pending == nil {
				pending = []PendingChange{}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(pending)
		case http.MethodPost:
			if !isJSONType(r.Header.Get("Content-Type")) {
				agentgateway.WriteError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
				return
			}
			var in struct{ Target, Tool string }
			if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil || in.Target == "" || in.Tool == "" {
				agentgateway.WriteError(w, http.StatusBadRequest, `want {"target": "...", "tool": "..."}`)
				return
			}
			if err := s.Accept(in.Target, in.Tool); err != nil {
				agentgateway.WriteError(w, http.StatusConflict, err.Error())
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "GET, POST")
			agentgateway.WriteError(w, http.StatusMethodNotAllowed, "method not allowed")
		}
	})
}
