package h1server

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Requests sent while a handler runs are served after it, in order, whether the handler returns
// before the watch read starts (watchDelay) or after it: the next request is read by the watch or
// by the connection's goroutine, never lost or read twice.
func TestNextRequestWhileHandlerRuns(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		fmt.Fprint(w, r.URL.RawQuery)
	})
	_, addr := start(t, h, nil, nil)
	c, br := dial(t, addr)
	sleeps := []string{"0s", "5ms", "0s", "20ms", "0s", "0s", "3ms", "0s"}
	for i, d := range sleeps {
		// Each request goes out while the one before may still be served (in a round of two).
		send(t, c, fmt.Sprintf("GET /?sleep=%s&n=%d HTTP/1.1\r\nHost: a\r\n\r\n", d, i))
		if i%2 == 1 {
			for j := i - 1; j <= i; j++ {
				_, body := read(t, br, "GET")
				assert.Equal(t, fmt.Sprintf("sleep=%s&n=%d", sleeps[j], j), body)
			}
		}
	}
	// And one at a time, slow then fast, so that the watch read is the one that brings the next.
	for i, d := range []string{"5ms", "0s", "5ms", "0s"} {
		send(t, c, fmt.Sprintf("GET /?sleep=%s&n=%d HTTP/1.1\r\nHost: a\r\n\r\n", d, i))
		_, body := read(t, br, "GET")
		assert.Equal(t, fmt.Sprintf("sleep=%s&n=%d", d, i), body)
	}
}
