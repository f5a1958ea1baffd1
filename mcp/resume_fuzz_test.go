package mcp

import (
	"slices"
	"testing"
)

// FuzzEventID feeds Last-Event-ID values to the parser: it never panics, and what it accepts names
// the same target ids once issued again.
func FuzzEventID(f *testing.F) {
	fed := New(Config{Targets: []Target{HTTPTarget("alpha", "http://127.0.0.1:1/mcp"), HTTPTarget("beta", "http://127.0.0.1:1/mcp")}})
	defer fed.Close()
	for _, s := range []string{"alpha/XzA", "+alpha/XzA+beta/MV8z", "+beta/MV8z", "alpha/YQo", "alpha/", "+", "++", "alpha/XzA+beta/MV8z", "ghost/XzA", "/", "alpha//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, get, err := fed.parseEventID(s)
		if err != nil {
			return
		}
		var again string
		if get {
			again = getEventID(fed.targets, ids)
		} else {
			for i, id := range ids {
				if id != "" {
					again = postEventID(fed.targets[i], id)
				}
			}
		}
		ids2, get2, err := fed.parseEventID(again)
		if err != nil || get2 != get || !slices.Equal(ids, ids2) {
			t.Fatalf("%q parsed to %q, issued again as %q: %q %v", s, ids, again, ids2, err)
		}
	})
}
