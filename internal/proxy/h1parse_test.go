package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkParse runs parseSimpleResponse on raw and, when it accepts, checks that http.ReadResponse
// reads the same response from the same bytes, and that what follows the header is left unread.
func checkParse(t *testing.T, raw []byte, method string) bool {
	br := bufio.NewReaderSize(bytes.NewReader(raw), 4<<10)
	_, _ = br.Peek(1)
	var got http.Response
	if !parseSimpleResponse(br, method, &got) {
		rest, _ := io.ReadAll(br)
		require.Equal(t, raw, rest, "nothing consumed when declined")
		return false
	}
	want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), &http.Request{Method: method})
	require.NoError(t, err, "accepted what net/http rejects: %q", raw)
	assert.Equal(t, want.Status, got.Status)
	assert.Equal(t, want.StatusCode, got.StatusCode)
	assert.Equal(t, want.Proto, got.Proto)
	assert.Equal(t, want.ProtoMajor, got.ProtoMajor)
	assert.Equal(t, want.ProtoMinor, got.ProtoMinor)
	assert.Equal(t, want.Header, got.Header)
	assert.Equal(t, want.ContentLength, got.ContentLength)
	assert.Equal(t, want.Close, got.Close)
	assert.Nil(t, want.Trailer)
	assert.Empty(t, want.TransferEncoding)
	// The body is the next ContentLength bytes of what is left.
	wantBody, wantErr := io.ReadAll(want.Body)
	rest, _ := io.ReadAll(br)
	if wantErr == nil {
		require.GreaterOrEqual(t, len(rest), len(wantBody))
		assert.Equal(t, wantBody, rest[:len(wantBody)])
	} else {
		assert.Less(t, int64(len(rest)), got.ContentLength, "net/http saw a short body")
	}
	return true
}

func TestParseSimpleResponse(t *testing.T) {
	accepted := []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nx-lower: a\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n",
		"HTTP/1.1 500\r\nContent-Length: 3\r\nConnection: close\r\n\r\nerr",
		"HTTP/1.1 200 OK\r\nContent-Length:  5 \r\nX-Empty:\r\nX-Sp: \t a b \t\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nContent-Length: 1\r\n\r\nx",
	}
	for _, raw := range accepted {
		assert.True(t, checkParse(t, []byte(raw), "GET"), "%q", raw)
	}
	declined := []string{
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited",
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Fold: a\r\n b\r\n\r\nx",
		"HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Bad\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX Bad: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Ctl: a\x00b\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Utf8: \xc3\xa9\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTrailer: X-T\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nPragma: no-cache\r\n\r\nx",
		"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", // header not complete yet
	}
	for _, raw := range declined {
		assert.False(t, checkParse(t, []byte(raw), "GET"), "%q", raw)
	}
	assert.False(t, checkParse(t, []byte(accepted[0]), "HEAD"), "HEAD responses: net/http")
}

func FuzzParseSimpleResponse(f *testing.F) {
	seeds := []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nx-lower: a\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n",
		"HTTP/1.1 500\r\nContent-Length: 3\r\nConnection: close\r\n\r\nerr",
		"HTTP/1.1 200 OK\r\nContent-Length:  5 \r\nX-Empty:\r\nX-Sp: \t a b \t\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Fold: a\r\n b\r\n\r\nx",
		"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nContent-Length: 4\r\nconnection: Close\r\n\r\nmove",
		"HTTP/1.1 200 OK\r\nContent-Length: 007\r\nx-_-y: 1\r\n\r\n1234567",
		// The Connection field that lists close is dropped, and with it what it nominates.
		"HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nContent-Length: 2\r\n\r\nok",
		// Over the field count limit (MaxResponseHeaders), repeated and distinct fields.
		"HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\nX-B: 3\r\nX-C: 4\r\nContent-Length: 0\r\n\r\n",
		// An unsolicited second response after the first (a desync attempt).
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(seeds[0]), true)
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		checkParse(t, raw, method)
		// The field count limit agrees with a plain count of the parsed header's lines.
		if resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil); err == nil {
			lines := 0
			for _, vv := range resp.Header {
				lines += len(vv)
			}
			for n := range 6 {
				if got := TooManyFields(resp.Header, n); got != (lines > n) {
					t.Fatalf("TooManyFields(%d) = %v with %d lines", n, got, lines)
				}
			}
		}
	})
}

func TestParseLength(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "12": 12, "007": 7, "": -1, "+1": -1, "-1": -1, "1 2": -1,
		strings.Repeat("9", 18): 999999999999999999, strings.Repeat("9", 19): -1} {
		assert.Equal(t, want, parseLength(in), in)
	}
}
