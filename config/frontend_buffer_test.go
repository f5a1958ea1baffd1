package config_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFrontendMaxBufferSizeFromYAML: frontendPolicies.http.maxBufferSize bounds what a retry buffers
// for replay when the retry sets no bound of its own: a body within it is replayed on a 503, a larger
// one is sent once and not retried.
func TestFrontendMaxBufferSizeFromYAML(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if calls.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // every first attempt fails
			return
		}
		_, _ = io.WriteString(w, "got "+string(b))
	}))
	t.Cleanup(srv.Close)
	up := strings.TrimPrefix(srv.URL, "http://")
	url := servePorts(t, `
frontendPolicies:
  http: {maxBufferSize: 16}
binds:
- port: 3000
  listeners:
  - routes:
    - policies: {retry: {attempts: 2, codes: [503]}}
      backends: [{host: $UP}]
`, map[string]string{"UP": up})[3000]
	post := func(body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
		require.NoError(t, err)
		return send(t, req)
	}
	code, body := post("small")
	assert.Equal(t, 200, code, "a body within maxBufferSize is replayed")
	assert.Equal(t, "got small", body)
	calls.Store(0)
	code, _ = post(strings.Repeat("x", 64))
	assert.Equal(t, 503, code, "a body over maxBufferSize is sent once")
	assert.Equal(t, int32(1), calls.Load())
}
