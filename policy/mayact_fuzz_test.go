package policy

import (
	"errors"
	"testing"
)

// FuzzCheckMayAct: any pair of tokens gets nil or an error wrapping ErrMayAct, never a panic; nil
// only when the subject names the actor.
func FuzzCheckMayAct(f *testing.F) {
	f.Add("e30.eyJtYXlfYWN0Ijp7InN1YiI6ImEifX0.s", "e30.eyJzdWIiOiJhIn0.s")       // allowed
	f.Add("e30.eyJtYXlfYWN0Ijp7fX0.s", "e30.eyJzdWIiOiJhIn0.s")                   // empty may_act
	f.Add("e30.eyJtYXlfYWN0IjoiYSJ9.s", "e30.e30.s")                              // may_act not an object
	f.Add("a.b.c.d", "..")                                                        // not JWTs
	f.Add("e30.eyJtYXlfYWN0Ijp7InN1YiI6WzEsMl19fQ.s", "e30.eyJzdWIiOlsxLDJdfQ.s") // array claim values
	f.Fuzz(func(t *testing.T, subject, actor string) {
		err := checkMayAct(subject, actor)
		if err != nil && !errors.Is(err, ErrMayAct) {
			t.Fatalf("error %v does not wrap ErrMayAct", err)
		}
	})
}
