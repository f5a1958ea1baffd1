package llm

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWithDefaultModel: the default model is written into a body that names none (absent, null,
// "") and nowhere else; bodies the scanner refuses are left for Peek to report.
func TestWithDefaultModel(t *testing.T) {
	for in, want := range map[string]string{
		`{}`:                       `{"model":"m"}`,
		` { } `:                    ` {"model":"m" } `,
		`{"messages":[]}`:          `{"model":"m","messages":[]}`,
		`{"model":null,"x":1}`:     `{"model":"m","x":1}`,
		`{"x":1,"model":""}`:       `{"x":1,"model":"m"}`,
		`{"model":"given"}`:        `{"model":"given"}`,
		`[1]`:                      `[1]`,
		`{"model":1,"model":null}`: `{"model":1,"model":null}`,
		`not json`:                 `not json`,
	} {
		assert.Equal(t, want, string(withDefaultModel([]byte(in), "m")), in)
	}
}

// FuzzWithDefaultModel: whatever the body, a body the scanner accepts comes out as valid JSON that
// names a model.
func FuzzWithDefaultModel(f *testing.F) {
	for _, s := range []string{`{}`, `{"model":null}`, `{"a":{"model":null}}`, `{"model":""}`, ` {"x":[{}]}`, `{"\u006dodel":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := scanTop(body); err != nil {
			return
		}
		out := withDefaultModel(body, "m\"x")
		var doc map[string]any
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("%q -> %q: %v", body, out, err)
		}
		if m, _ := doc["model"].(string); m == "" {
			t.Fatalf("%q -> %q names no model", body, out)
		}
	})
}
