package mcp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/mcp"
)

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

type rawResp struct {
	status int
	header http.Header
	body   []byte
}

// rpcError is the error object of a JSON-RPC response (or of an SSE-framed one).
func (r rawResp) rpcError(t testing.TB) (int, string) {
	t.Helper()
	b := r.body
	if i := bytes.Index(b, []byte("data: ")); i >= 0 && strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		b = b[i+6:]
	}
	var m struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.NewDecoder(bytes.NewReader(b)).Decode(&m), "%s", r.body)
	require.NotNil(t, m.Error, "%s", r.body)
	return m.Error.Code, m.Error.Message
}

// rawClient bounds a raw request, so that a stream opened where an error was expected fails the
// test instead of hanging it.
var rawClient = &http.Client{Timeout: 30 * time.Second}

func do(t testing.TB, method, url, sid, body string, hdr ...string) rawResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := rawClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return rawResp{resp.StatusCode, resp.Header, b}
}

func initSession(t testing.TB, url string) string {
	t.Helper()
	r := do(t, http.MethodPost, url, "", initBody)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	sid := r.header.Get("Mcp-Session-Id")
	require.NotEmpty(t, sid)
	return sid
}

func TestBadInput(t *testing.T) {
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", demoServer("local"))}, MaxBodyBytes: 1024})
	gw := gateway(t, f)
	url := gw.URL + "/mcp"
	sid := initSession(t, url)

	cases := []struct {
		name, sid, body string
		hdr             []string
		status, code    int
	}{
		{"malformed JSON", sid, `{"jsonrpc":"2.0","id":1,"method":`, nil, 400, -32700},
		{"not an object", sid, `[1,2,3]`, nil, 400, -32600},
		{"wrong jsonrpc version", sid, `{"jsonrpc":"1.0","id":1,"method":"ping"}`, nil, 400, -32600},
		{"no method, no result", sid, `{"jsonrpc":"2.0","id":1}`, nil, 400, -32600},
		{"bad id type", sid, `{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}`, nil, 400, -32600},
		{"oversized body", sid, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 2048) + `"}}`, nil, 413, -32600},
		{"unknown method", sid, `{"jsonrpc":"2.0","id":7,"method":"no/such"}`, nil, 200, -32601},
		{"unknown session", "bm90LWEtc2Vzc2lvbg", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil, 404, -32600},
		{"missing session", "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil, 400, -32600},
		{"unsupported protocol version", sid, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, []string{"Mcp-Protocol-Version", "1999-01-01"}, 400, -32600},
		{"tool without name", sid, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, nil, 200, -32602},
		{"bad cursor", sid, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"!!"}}`, nil, 200, -32602},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, http.MethodPost, url, c.sid, c.body, c.hdr...)
			assert.Equal(t, c.status, r.status, "%s", r.body)
			code, _ := r.rpcError(t)
			assert.Equal(t, c.code, code)
		})
	}

	t.Run("missing protocol version header is 2025-03-26, accepted", func(t *testing.T) {
		r := do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
		assert.Equal(t, http.StatusOK, r.status)
		assert.JSONEq(t, `{"jsonrpc":"2.0","id":1,"result":{}}`, string(r.body))
	})
	t.Run("wrong content type", func(t *testing.T) {
		r := do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "Content-Type", "text/plain")
		assert.Equal(t, http.StatusUnsupportedMediaType, r.status)
	})
	t.Run("DNS rebinding: foreign Host and Origin are refused", func(t *testing.T) {
		port := gw.URL[strings.LastIndex(gw.URL, ":")+1:]
		assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody, "Host", "evil.example.com").status)
		assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody, "Origin", "http://evil.example.com").status)
		// The gateway's own origin, under any loopback name on its port, is a browser UI it serves.
		assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody, "Origin", gw.URL).status)
		assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody, "Origin", "http://localhost:"+port).status)
		// Another local server (any page a browser opened on localhost) is not the gateway.
		assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody, "Origin", "http://localhost:3000").status)
		assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody, "Origin", "https://127.0.0.1:"+port).status, "another scheme is another origin")
		assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody, "Origin", "null").status)
	})
	t.Run("GET and DELETE on unknown sessions are 404", func(t *testing.T) {
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, url, "bm9wZQ", "").status)
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodDelete, url, "bm9wZQ", "").status)
		assert.Equal(t, http.StatusMethodNotAllowed, do(t, http.MethodPut, url, sid, "").status)
	})
	t.Run("a deleted session is gone", func(t *testing.T) {
		s2 := initSession(t, url)
		assert.Equal(t, http.StatusNoContent, do(t, http.MethodDelete, url, s2, "").status)
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodPost, url, s2, `{"jsonrpc":"2.0","id":1,"method":"ping"}`).status)
	})
	t.Run("notifications and stray responses are accepted", func(t *testing.T) {
		assert.Equal(t, http.StatusAccepted, do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`).status)
		assert.Equal(t, http.StatusAccepted, do(t, http.MethodPost, url, sid, `{"jsonrpc":"2.0","id":"nobody/1","result":{}}`).status)
	})
}

func TestAllowedHostsAndOrigins(t *testing.T) {
	f := mcp.New(mcp.Config{
		Targets:        []mcp.Target{mcp.ServerTarget("local", demoServer("local"))},
		AllowedHosts:   []string{"mcp.example.com", "*.internal.example"},
		AllowedOrigins: []string{"https://app.example.com"},
	})
	gw := gateway(t, f)
	url := gw.URL + "/mcp"
	assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody).status, "127.0.0.1 is not on the list")
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody, "Host", "mcp.example.com").status)
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody, "Host", "a.internal.example:8080").status)
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody, "Host", "mcp.example.com", "Origin", "https://app.example.com").status)
	assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody, "Host", "mcp.example.com", "Origin", "https://evil.example.com").status)
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody, "Host", "mcp.example.com", "Origin", "https://APP.example.com:443").status, "origins compare normalized")
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody, "Host", "mcp.example.com:8443", "Origin", "http://mcp.example.com:8443").status, "the gateway's own origin")
	assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody, "Host", "mcp.example.com", "Origin", "http://mcp.example.com:9999").status, "own host, other port")
}

// With an origin list, a loopback page on another port is not let through because it is loopback.
func TestConfiguredOriginsRefuseOtherLoopbackPorts(t *testing.T) {
	f := mcp.New(mcp.Config{
		Targets:        []mcp.Target{mcp.ServerTarget("local", demoServer("local"))},
		AllowedOrigins: []string{"https://app.example.com"},
	})
	gw := gateway(t, f)
	url := gw.URL + "/mcp"
	require.NotContains(t, gw.URL, ":9999")
	assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody, "Origin", "http://localhost:9999").status)
	assert.Equal(t, http.StatusForbidden, do(t, http.MethodPost, url, "", initBody, "Origin", "http://127.0.0.1:9999").status)
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody, "Origin", "https://app.example.com").status)
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody, "Origin", gw.URL).status, "the gateway's own origin")
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, url, "", initBody).status, "no Origin: not a browser")
}

func TestConfigErrors(t *testing.T) {
	for name, f := range map[string]*mcp.Federation{
		"underscore":  mcp.Federate(mcp.HTTPTarget("my_target", "http://127.0.0.1:1/mcp")),
		"duplicate":   mcp.Federate(mcp.HTTPTarget("a", "http://127.0.0.1:1/mcp"), mcp.HTTPTarget("a", "http://127.0.0.1:2/mcp")),
		"bad URL":     mcp.Federate(mcp.HTTPTarget("a", "ftp://x")),
		"no targets":  mcp.Federate(),
		"no command":  mcp.Federate(mcp.StdioTarget("a", "")),
		"bad prefix":  mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("a", "http://127.0.0.1:1")}, Prefix: mcp.PrefixMode(9)}),
		"bad key":     mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("a", "http://127.0.0.1:1")}, SessionKey: []byte("short")}),
		"bad pattern": mcp.New(mcp.Config{Targets: []mcp.Target{{Name: "a", Transport: mcp.TransportHTTP, URL: "http://127.0.0.1:1", Tools: mcp.ToolFilter{Include: []string{"["}}}}}),
	} {
		t.Run(name, func(t *testing.T) {
			err := f.Validate()
			require.Error(t, err)
			assert.True(t, errors.Is(err, agentgateway.ErrInvalidConfig), "%v", err)
			gw := agentgateway.New()
			assert.Error(t, gw.Route("mcp").PathPrefix("/mcp").To(f), "applying the route fails")
			require.NoError(t, f.Close())
		})
	}
}
