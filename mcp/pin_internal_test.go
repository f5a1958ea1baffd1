package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func defsOf(names ...string) []toolDef {
	var out []toolDef
	for _, n := range names {
		out = append(out, fingerprintTool(&sdk.Tool{Name: n, Description: "d " + n, InputSchema: map[string]any{"type": "object"}}))
	}
	return out
}

// TestPinStoreMergesOnWrite: a store whose view of the file is stale (another replica wrote since it
// last read) re-reads under the lock before writing, so the other replica's pins are kept.
func TestPinStoreMergesOnWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pins.json")
	a, err := OpenPins(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenPins(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.observe("a", defsOf("x")); err != nil {
		t.Fatal(err)
	}
	// b writes without refreshing first: only the re-read under the lock can keep a's pin.
	d := defsOf("y")[0]
	err = b.update(func(doc *pinDoc) bool {
		doc.Targets["b"] = map[string]*ToolPin{"y": {Fingerprint: d.fp, Tool: d.canon}}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenPins(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.pinned("a", "x") == "" || c.pinned("b", "y") == "" {
		t.Fatalf("a write lost the other replica's pin:\n%s", must(os.ReadFile(path)))
	}
}

// TestPinStoreConcurrentReplicas: many stores on one file pin their own targets at once; no pin is
// lost and the file stays valid.
func TestPinStoreConcurrentReplicas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pins.json")
	const replicas, targets = 6, 10
	var wg sync.WaitGroup
	for r := range replicas {
		s, err := OpenPins(path)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := range targets {
				if _, err := s.observe(fmt.Sprintf("r%d-t%d", r, i), defsOf("x", "y")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	s, err := OpenPins(path)
	if err != nil {
		t.Fatal(err)
	}
	for r := range replicas {
		for i := range targets {
			if s.pinned(fmt.Sprintf("r%d-t%d", r, i), "y") == "" {
				t.Fatalf("pin of r%d-t%d lost", r, i)
			}
		}
	}
}

// TestFingerprintCanonical: the fingerprint does not depend on key order or spacing in the schema,
// and does change with the description, the schema or an annotation.
func TestFingerprintCanonical(t *testing.T) {
	tool := func(desc, schema string, destructive bool) *sdk.Tool {
		var s any
		if err := json.Unmarshal([]byte(schema), &s); err != nil {
			t.Fatal(err)
		}
		return &sdk.Tool{Name: "t", Description: desc, InputSchema: s, Annotations: &sdk.ToolAnnotations{DestructiveHint: &destructive}}
	}
	base := fingerprintTool(tool("d", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}`, false)).fp
	same := fingerprintTool(tool("d", `{ "properties": {"b":{"type":"number"}, "a":{"type":"string"}}, "type":"object" }`, false)).fp
	if base != same {
		t.Fatal("key order changed the fingerprint")
	}
	for name, other := range map[string]*sdk.Tool{
		"description": tool("d2", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}`, false),
		"schema":      tool("d", `{"type":"object","properties":{"a":{"type":"string"}}}`, false),
		"annotation":  tool("d", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}`, true),
	} {
		if fingerprintTool(other).fp == base {
			t.Errorf("a change of %s kept the fingerprint", name)
		}
	}
}

// FuzzPinFile: any bytes either fail to parse with ErrPinFile or parse into pins that write out and
// read back the same.
func FuzzPinFile(f *testing.F) {
	fp := defsOf("x")[0].fp
	for _, s := range []string{
		``,
		`{"version":1,"targets":{}}`,
		`{"version":1,"targets":{"a":{"x":{"fingerprint":"` + fp + `","pinnedAt":"2026-01-01T00:00:00Z","tool":{"name":"x"}}}}}`,
		`{"version":1,"targets":{"a":{"x":{"fingerprint":"` + fp + `","pinnedAt":"2026-01-01T00:00:00Z","changed":{"fingerprint":"` + fp + `","seenAt":"2026-01-02T00:00:00Z","accepted":true}}}}}`,
		`{"version":1,"targets":{"a":null}}`,
		`{"version":1,"targets":{"":{}}}`,
		`{"version":1,"targets":{"a":{"":{"fingerprint":"` + fp + `"}}}}`,
		`{"version":1,"targets":{"a":{"x":null}}}`,
		`{"version":1,"targets":{"a":{"x":{"fingerprint":"sha256:zz"}}}}`,
		`{"version":1,"targets":{"a":{"x":{"fingerprint":"` + fp + `","tool":"not an object"}}}}`,
		`{"version":1,"version":2}`,
		`{"version":1e400}`,
		`[]`,
		`null`,
		`{"version":1,"targets":{}}garbage`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := parsePins(b)
		if err != nil {
			if !errors.Is(err, ErrPinFile) {
				t.Fatalf("error does not match ErrPinFile: %v", err)
			}
			return
		}
		out, err := doc.marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := parsePins(out)
		if err != nil {
			t.Fatalf("written pins do not parse: %v\n%s", err, out)
		}
		out2, err := again.marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the pins:\n%s\n%s", out, out2)
		}
	})
}

func must(b []byte, _ error) []byte { return b }
