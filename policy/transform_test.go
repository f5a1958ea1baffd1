package policy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/policy"
)

func TestTransformations(t *testing.T) {
	p, err := policy.NewTransformation(policy.TransformationConfig{
		Request: &policy.Transform{
			Set:        map[string]string{"x-user": `identity`, "x-path": `request.path`},
			Add:        map[string]string{"x-tag": `"gw"`},
			Remove:     []string{"x-secret"},
			JSONSet:    map[string]string{"metadata.user": `identity`, "model": `json.model + "-mini"`},
			JSONRemove: []string{"debug"},
		},
		Response: &policy.Transform{
			Set:    map[string]string{"x-status": `string(response.code)`},
			Remove: []string{"server"},
			Body:   `{"wrapped": json, "len": size(body)}`,
		},
	})
	require.NoError(t, err)
	var s seen
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Req = r
		b, _ := io.ReadAll(r.Body)
		s.Body = string(b)
		w.Header().Set("Server", "upstream")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	st := &agentgateway.State{}
	st.Identity.Subject = "alice"
	r := reqBody("POST", "/v1/chat", `{"model":"gpt","debug":true}`, "X-Secret", "s", "X-Tag", "client")
	r = r.WithContext(agentgateway.WithState(r.Context(), st))
	w := httptest.NewRecorder()
	p.Wrap(backend).ServeHTTP(w, r)

	assert.Equal(t, "alice", s.Req.Header.Get("X-User"))
	assert.Equal(t, "/v1/chat", s.Req.Header.Get("X-Path"))
	assert.Equal(t, []string{"client", "gw"}, s.Req.Header.Values("X-Tag"))
	assert.Empty(t, s.Req.Header.Get("X-Secret"))
	assert.JSONEq(t, `{"model":"gpt-mini","metadata":{"user":"alice"}}`, s.Body)

	assert.Equal(t, "200", w.Header().Get("X-Status"))
	assert.Empty(t, w.Header().Get("Server"))
	assert.JSONEq(t, `{"wrapped":{"ok":true},"len":11}`, w.Body.String())
	assert.Equal(t, strconv.Itoa(w.Body.Len()), w.Header().Get("Content-Length"))

	_, err = policy.NewTransformation(policy.TransformationConfig{Request: &policy.Transform{Set: map[string]string{"x": "nope("}}})
	var ce *agentgateway.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "request.set.x", ce.Path)
	_, err = policy.NewTransformation(policy.TransformationConfig{Response: &policy.Transform{Remove: []string{"bad header"}}})
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "response.remove[0]", ce.Path)
}

func TestTransformReplace(t *testing.T) {
	p, err := policy.NewTransformation(policy.TransformationConfig{Request: &policy.Transform{
		Replace: `{"x-only": "1", "x-list": ["a", "b"], ":path": "/ignored"}`,
		Set:     map[string]string{"x-after": `"set"`},
	}})
	require.NoError(t, err)
	var s seen
	do(p, s.Handler(200, ""), req("GET", "/", "X-Old", "gone"))
	assert.Equal(t, http.Header{"X-Only": {"1"}, "X-List": {"a", "b"}, "X-After": {"set"}}, s.Req.Header)

	_, err = policy.NewTransformation(policy.TransformationConfig{Response: &policy.Transform{Remove: []string{"x-ok", "bad name"}}})
	var ce *agentgateway.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "response.remove[1]", ce.Path)
}

func TestTransformHeadersOnlyStreams(t *testing.T) {
	p, err := policy.NewTransformation(policy.TransformationConfig{Response: &policy.Transform{Add: map[string]string{"x-route": `"r1"`}}})
	require.NoError(t, err)
	srv := httptest.NewServer(p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "chunk")
		w.(http.Flusher).Flush()
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, "chunk", string(b))
	assert.Equal(t, "r1", resp.Header.Get("X-Route"))
	assert.True(t, strings.Contains(resp.TransferEncoding[0], "chunked"))
}

// A response transform that edits the body still edits the headers of responses that have no body
// (HEAD, 304, 204). A HEAD response keeps its Content-Length: it describes the body a GET would get,
// which the gateway never saw (it used to become 0).
func TestTransformBodilessResponses(t *testing.T) {
	p, err := policy.NewTransformation(policy.TransformationConfig{Response: &policy.Transform{
		Set:     map[string]string{"x-status": `string(response.code)`},
		JSONSet: map[string]string{"added": `true`},
	}})
	require.NoError(t, err)
	for _, tc := range []struct {
		method string
		status int
	}{{http.MethodHead, 200}, {http.MethodGet, http.StatusNotModified}, {http.MethodGet, http.StatusNoContent}} {
		t.Run(tc.method+" "+strconv.Itoa(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("ETag", `"v1"`)
				if tc.status != http.StatusNoContent {
					w.Header().Set("Content-Length", "11")
				}
				w.WriteHeader(tc.status)
			})))
			defer srv.Close()
			rq, err := http.NewRequest(tc.method, srv.URL, nil)
			require.NoError(t, err)
			resp, err := srv.Client().Do(rq)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, strconv.Itoa(tc.status), resp.Header.Get("X-Status"))
			assert.Equal(t, `"v1"`, resp.Header.Get("ETag"))
			if tc.method == http.MethodHead {
				assert.Equal(t, "11", resp.Header.Get("Content-Length"))
			}
		})
	}
}
