package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// scanTokens feeds raw to a hopScanner in pieces of size step (0: all at once) and returns the
// header names the final header's Connection field nominates, lowercased and sorted.
func scanTokens(raw []byte, step int) []string {
	var s hopScanner
	s.reset()
	for len(raw) > 0 {
		n := len(raw)
		if step > 0 {
			n = min(step, n)
		}
		s.feed(raw[:n])
		raw = raw[n:]
	}
	return tokens(s.connection())
}

// tokens splits header values into their valid field-name tokens, lowercased and sorted.
func tokens(vals []string) []string {
	var out []string
	for _, v := range vals {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); validToken(item) {
				out = append(out, strings.ToLower(item))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestHopScanner(t *testing.T) {
	tests := []struct {
		name, raw string
		want      []string
	}{
		{"close and a field", "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nContent-Length: 2\r\n\r\nok", []string{"close", "x-secret"}},
		{"no connection field", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", nil},
		{"lower case, no space, several lines", "HTTP/1.1 200 OK\r\nconnection:close\r\nX-A: 1\r\nCONNECTION: x-a , X-B\r\n\r\n", []string{"close", "x-a", "x-b"}},
		{"obs-fold continues the field", "HTTP/1.1 200 OK\r\nConnection: close,\r\n X-Folded\r\nX-Other: 1\r\n\r\n", []string{"close", "x-folded"}},
		{"fold of another field is not it", "HTTP/1.1 200 OK\r\nX-Other: 1\r\n Connection: X-No\r\nConnection: close\r\n\r\n", []string{"close"}},
		{"bare LF", "HTTP/1.1 200 OK\nConnection: close, X-Lf\n\nbody", []string{"close", "x-lf"}},
		{"informational responses are skipped", "HTTP/1.1 100 Continue\r\nConnection: X-Early\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close, X-Final\r\n\r\n", []string{"close", "x-final"}},
		{"101 is final", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nHTTP/1.1 200 OK\r\nConnection: X-Tunnel\r\n\r\n", []string{"upgrade"}},
		{"body lines are not header lines", "HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\nConnection: X-In-Body\r\n\r\n", nil},
		{"a longer field name", "HTTP/1.1 200 OK\r\nConnectionX: X-No\r\nConnection-Foo: X-No\r\n\r\n", nil},
		{"spaces before the status code", "HTTP/1.1   103 Early\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", []string{"close"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for step := range 20 {
				assert.Equal(t, tt.want, scanTokens([]byte(tt.raw), step), "pieces of %d bytes", step)
			}
			if ref, ok := refConnection([]byte(tt.raw)); ok {
				assert.Equal(t, tokens(ref), tt.want, "what textproto reads")
			}
		})
	}
}

// refConnection reads raw as the Transport does (informational responses other than 101 skipped) and
// returns the final header's Connection values as net/textproto reads them, before http.ReadResponse
// drops them; ok is false when net/http rejects the stream.
func refConnection(raw []byte) (vals []string, ok bool) {
	hr := bufio.NewReader(bytes.NewReader(raw)) // http.ReadResponse's view, for validity and the status
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	for range 10 {
		resp, err := http.ReadResponse(hr, nil)
		if err != nil {
			return nil, false
		}
		if _, err := tp.ReadLine(); err != nil {
			return nil, false
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return nil, false
		}
		if c := resp.StatusCode; c < 100 || c >= 200 || c == http.StatusSwitchingProtocols {
			return h["Connection"], true
		}
	}
	return nil, false
}

// FuzzHopScanner checks that the scanner finds the Connection tokens net/http's parser reads, however
// the stream is cut into reads.
func FuzzHopScanner(f *testing.F) {
	seeds := []string{
		"HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nconnection:close\r\nX-A: 1\r\nCONNECTION: x-a , X-B\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close,\r\n X-Folded\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close, X-Final\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
		"HTTP/1.1 200 OK\nConnection: keep-alive, X-Lf\n\n",
		"HTTP/1.1  204 No Content\r\nConnection: close, Keep-Alive, X-Up\r\n\r\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i))
	}
	f.Fuzz(func(t *testing.T, raw []byte, step uint8) {
		got := scanTokens(raw, int(step))
		assert.Equal(t, scanTokens(raw, 0), got, "depends on how the stream is cut")
		ref, ok := refConnection(raw)
		if !ok || len(strings.Join(ref, ",")) >= maxHopValues {
			return
		}
		assert.Equal(t, tokens(ref), got, "%q", raw)
	})
}
