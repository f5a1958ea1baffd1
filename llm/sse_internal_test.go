package llm

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

type sseEvent struct{ name, data string }

func readAll(t testing.TB, in []byte) ([]sseEvent, error) {
	r := newSSEReader(bytes.NewReader(in), true)
	var out []sseEvent
	for {
		name, data, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, sseEvent{string(name), string(data)})
	}
}

func TestSSEReader(t *testing.T) {
	in := ": comment\n\nevent: a\ndata: 1\ndata:2\r\n\r\nid: 7\nretry: 10\ndata: {\"x\":\"y\"}\n\n\n\ndata: last"
	got, err := readAll(t, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []sseEvent{{"a", "1\n2"}, {"", `{"x":"y"}`}, {"", "last"}}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// An event larger than MaxSSEEvent fails instead of growing memory.
func TestSSEReaderBound(t *testing.T) {
	in := "data: " + strings.Repeat("x", MaxSSEEvent+1) + "\n\n"
	if _, err := readAll(t, []byte(in)); err != ErrSSETooLarge {
		t.Fatalf("err %v, want ErrSSETooLarge", err)
	}
}

// FuzzSSE: LF and CRLF line ends read the same events; nothing panics.
func FuzzSSE(f *testing.F) {
	f.Add([]byte("event: a\ndata: 1\n\ndata: 2\ndata: 3\n\n"))
	f.Add([]byte(":c\n\ndata\n\ndata:\n\nevent:\n\n"))
	f.Add([]byte("data: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.IndexByte(in, '\r') >= 0 {
			_, _ = readAll(t, in)
			return
		}
		lf, err1 := readAll(t, in)
		crlf, err2 := readAll(t, bytes.ReplaceAll(in, []byte("\n"), []byte("\r\n")))
		if (err1 == nil) != (err2 == nil) || len(lf) != len(crlf) {
			t.Fatalf("LF %q (%v) vs CRLF %q (%v)", lf, err1, crlf, err2)
		}
		for i := range lf {
			if lf[i] != crlf[i] {
				t.Fatalf("event %d: %q vs %q", i, lf[i], crlf[i])
			}
		}
	})
}
