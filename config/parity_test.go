package config_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parityUpstream counts requests and answers 503 for /fail, "ok" otherwise.
func parityUpstream(t *testing.T, calls *atomic.Int32) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func do(t *testing.T, ctx context.Context, method, url string, hdr ...string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// retry without attempts makes the original request only: the schema's default is 1 attempt.
func TestRetryDefaultsToOneAttempt(t *testing.T) {
	var calls atomic.Int32
	url := serveConfig(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        retry: {codes: [503]}
      backends: [{host: $UP}]
`, map[string]string{"UP": parityUpstream(t, &calls)})
	resp, err := do(t, context.Background(), "GET", url+"/fail")
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	assert.Equal(t, int32(1), calls.Load())
}

// csrf refuses state-changing cross-site browser requests and lets everything else through.
func TestCSRFFromYAML(t *testing.T) {
	var calls atomic.Int32
	url := serveConfig(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        csrf: {additionalOrigins: ["https://app.example.com"]}
      backends: [{host: $UP}]
`, map[string]string{"UP": parityUpstream(t, &calls)})
	ctx := context.Background()
	cases := []struct {
		method string
		hdr    []string
		want   int
	}{
		{"POST", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"DELETE", []string{"Origin", "https://evil.example"}, 403},
		{"POST", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://app.example.com"}, 200},
		{"POST", []string{"Sec-Fetch-Site", "same-origin"}, 200},
		{"POST", nil, 200}, // not a browser
		{"GET", []string{"Sec-Fetch-Site", "cross-site"}, 200},
	}
	for _, c := range cases {
		resp, err := do(t, ctx, c.method, url+"/x", c.hdr...)
		require.NoError(t, err)
		assert.Equal(t, c.want, resp.StatusCode, "%s %v", c.method, c.hdr)
	}
	assert.Equal(t, int32(4), calls.Load(), "refused requests never reach the backend")

	_, err := policyErr(t, `
csrf: {additionalOrigins: ["not a url"]}
`)
	assert.ErrorContains(t, err, "policies.csrf.additionalOrigins[0]")
}

// delay holds requests (a fixed time or a CEL expression per request); a client that gives up first
// never reaches the backend.
func TestDelayFromYAML(t *testing.T) {
	var calls atomic.Int32
	url := serveConfig(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - name: slow
      matches: [{path: {pathPrefix: /slow}}]
      policies:
        delay: {duration: 1h}
      backends: [{host: $UP}]
    - name: maybe
      policies:
        delay: {duration: 'request.headers["x-delay"] == "1" ? 3600000 : 0'}
      backends: [{host: $UP}]
`, map[string]string{"UP": parityUpstream(t, &calls)})
	held := func(path string, hdr ...string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := do(t, ctx, "GET", url+path, hdr...)
		return err != nil && ctx.Err() != nil
	}
	assert.True(t, held("/slow"))
	assert.True(t, held("/x", "X-Delay", "1"))
	assert.False(t, held("/x"))
	assert.Equal(t, int32(1), calls.Load(), "only the undelayed request was forwarded")

	_, err := policyErr(t, `
delay: {duration: 'nosuch('}
`)
	assert.ErrorContains(t, err, "policies.delay.duration")
}

// A conditional directResponse answers the first matching entry, or forwards when none matches.
func TestConditionalDirectResponseFromYAML(t *testing.T) {
	var calls atomic.Int32
	url := serveConfig(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - policies:
        directResponse:
          conditional:
          - condition: request.headers["x-fault"] == "abort"
            status: 503
            body: injected
          - condition: request.headers["x-fault"] == "teapot"
            status: 418
      backends: [{host: $UP}]
`, map[string]string{"UP": parityUpstream(t, &calls)})
	ctx := context.Background()
	resp, err := do(t, ctx, "GET", url+"/x", "X-Fault", "abort")
	require.NoError(t, err)
	assert.Equal(t, 503, resp.StatusCode)
	resp, err = do(t, ctx, "GET", url+"/x", "X-Fault", "teapot")
	require.NoError(t, err)
	assert.Equal(t, 418, resp.StatusCode)
	resp, err = do(t, ctx, "GET", url+"/x")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int32(1), calls.Load())

	_, err = policyErr(t, `
directResponse:
  conditional:
  - status: 500
  - condition: "true"
    status: 418
`)
	assert.ErrorContains(t, err, "conditional[0].condition")
}

// policyErr builds a route with the given policies (YAML indented as under `policies:`) and returns
// the error.
func policyErr(t *testing.T, policies string) (any, error) {
	t.Helper()
	var b strings.Builder
	b.WriteString("binds:\n- port: 3000\n  listeners:\n  - routes:\n    - policies:\n")
	for line := range strings.Lines(strings.TrimPrefix(policies, "\n")) {
		b.WriteString("        " + line)
	}
	b.WriteString("      backends: [{host: \"127.0.0.1:1\"}]\n")
	rt, err := build(t, b.String(), nil)
	if rt != nil {
		_ = rt.Close()
	}
	return rt, err
}

// buffer: the request reaches the backend whole with a Content-Length; a response is held until
// complete; bodies over the limit are refused (fail closed) or streamed (fail open).
func TestBufferFromYAML(t *testing.T) {
	type seen struct {
		length int64
		te     []string
	}
	got := make(chan seen, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- seen{r.ContentLength, r.TransferEncoding}
		if r.URL.Path == "/big" {
			_, _ = io.WriteString(w, strings.Repeat("z", 2048))
			return
		}
		w.(http.Flusher).Flush() // a streamed answer: the buffer still sends it whole
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	url := serveConfig(t, `
binds:
- port: 3000
  listeners:
  - routes:
    - name: closed
      matches: [{path: {pathPrefix: /closed}}]
      policies:
        urlRewrite: {path: {prefix: /}}
        buffer: {request: {maxBytes: 1024}, response: {maxBytes: 1024}}
      backends: [{host: $UP}]
    - name: open
      policies:
        buffer: {request: {maxBytes: 1024, failureMode: failOpen}}
      backends: [{host: $UP}]
`, map[string]string{"UP": strings.TrimPrefix(up.URL, "http://")})
	post := func(path string, body io.Reader) *http.Response {
		req, err := http.NewRequest("POST", url+path, body)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	// A chunked upload arrives with its length.
	pr, pw := io.Pipe()
	go func() { _, _ = io.WriteString(pw, "hello"); _ = pw.Close() }()
	resp := post("/closed/x", pr)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok", string(b))
	assert.Equal(t, "2", resp.Header.Get("Content-Length"), "the buffered response has its length")
	assert.Equal(t, seen{length: 5}, <-got)

	resp = post("/closed/x", strings.NewReader(strings.Repeat("a", 2000)))
	resp.Body.Close()
	assert.Equal(t, 413, resp.StatusCode, "fail closed")
	resp = post("/closed/big", strings.NewReader("x"))
	resp.Body.Close()
	<-got
	assert.Equal(t, 502, resp.StatusCode, "a response over the limit is refused whole")

	resp = post("/x", strings.NewReader(strings.Repeat("a", 2000)))
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "fail open streams it")
	assert.Equal(t, int64(2000), (<-got).length)
}
