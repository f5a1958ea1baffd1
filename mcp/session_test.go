package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/cel"
	"github.com/agentgw/agentgateway/mcp"
)

const pingBody = `{"jsonrpc":"2.0","id":1,"method":"ping"}`

// initWith initializes a session with the given clientInfo and capabilities (raw JSON).
func initWith(t testing.TB, url, clientInfo, caps string) rawResp {
	t.Helper()
	return do(t, http.MethodPost, url, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":`+caps+`,"clientInfo":`+clientInfo+`}}`)
}

// The session id carries only what resuming needs, so a client's large clientInfo neither grows the
// id (and the session's memory) nor breaks resumption; oversized params are refused with an error.
func TestSessionIDIsBounded(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	srv := demoServer("local")
	f1 := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", srv)}, SessionKey: key})
	gw1 := newServer(t, f1, f1)

	small := initWith(t, gw1.URL, `{"name":"c","version":"1"}`, `{}`)
	require.Equal(t, http.StatusOK, small.status, "%s", small.body)
	bigName := strings.Repeat("n", 1000)
	big := initWith(t, gw1.URL, `{"name":"`+bigName+`","version":"1","description":"`+strings.Repeat("d", 48<<10)+`","icons":[{"src":"data:image/png;base64,`+strings.Repeat("A", 8<<10)+`"}]}`, `{"sampling":{},"roots":{"listChanged":true}}`)
	require.Equal(t, http.StatusOK, big.status, "%s", big.body)
	sid := big.header.Get("Mcp-Session-Id")
	require.NotEmpty(t, sid)
	assert.Less(t, len(sid), len(small.header.Get("Mcp-Session-Id"))+500, "the id does not grow with clientInfo")

	// The target saw the cut-down params: name cut to 256 bytes, capabilities kept.
	var seen []*sdk.InitializeParams
	for ss := range srv.Sessions() {
		seen = append(seen, ss.InitializeParams())
	}
	var got *sdk.InitializeParams
	for _, p := range seen {
		if strings.HasPrefix(p.ClientInfo.Name, "nnn") {
			got = p
		}
	}
	require.NotNil(t, got)
	assert.Equal(t, bigName[:256], got.ClientInfo.Name)
	assert.NotNil(t, got.Capabilities.Sampling)

	// Another federation with the key (a reload, another replica) resumes the id.
	f2 := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", demoServer("local"))}, SessionKey: key})
	gw2 := newServer(t, f2, f2)
	r := do(t, http.MethodPost, gw2.URL, sid, pingBody)
	assert.Equal(t, http.StatusOK, r.status, "%s", r.body)

	t.Run("oversized params are refused", func(t *testing.T) {
		r := initWith(t, gw1.URL, `{"name":"c","version":"1","description":"`+strings.Repeat("x", 2<<20)+`"}`, `{}`)
		code, msg := r.rpcError(t)
		assert.Equal(t, -32602, code)
		assert.Contains(t, msg, "initialize params too large")
		assert.Empty(t, r.header.Get("Mcp-Session-Id"))
	})
	t.Run("oversized capabilities are refused", func(t *testing.T) {
		r := initWith(t, gw1.URL, `{"name":"c","version":"1"}`, `{"experimental":{"x":"`+strings.Repeat("x", 4<<10)+`"}}`)
		code, msg := r.rpcError(t)
		assert.Equal(t, -32602, code)
		assert.Contains(t, msg, "capabilities are")
		assert.Empty(t, r.header.Get("Mcp-Session-Id"))
	})
	t.Run("capabilities must be an object", func(t *testing.T) {
		r := initWith(t, gw1.URL, `{"name":"c","version":"1"}`, `[1]`)
		code, _ := r.rpcError(t)
		assert.Equal(t, -32602, code)
	})
}

// DELETE lasts: the id is refused by the federation a reload builds (stdio and in-process targets
// would otherwise be initialized again), and by replicas that share a SessionStore.
func TestDeletedSessionStaysDeleted(t *testing.T) {
	t.Run("across a reload", func(t *testing.T) {
		// No SessionKey: the process key, as a reload of a config without one.
		f1 := mcp.Federate(mcp.ServerTarget("local", demoServer("local")))
		gw1 := newServer(t, f1, f1)
		sid := initSession(t, gw1.URL)
		assert.Equal(t, http.StatusNoContent, do(t, http.MethodDelete, gw1.URL, sid, "").status)
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodPost, gw1.URL, sid, pingBody).status)
		require.NoError(t, f1.Close())

		f2 := mcp.Federate(mcp.ServerTarget("local", demoServer("local")))
		gw2 := newServer(t, f2, f2)
		r := do(t, http.MethodPost, gw2.URL, sid, pingBody)
		assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, gw2.URL, sid, "").status)
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodDelete, gw2.URL, sid, "").status)
	})
	t.Run("across replicas sharing a store", func(t *testing.T) {
		key := []byte("fedcba9876543210")
		shared := &mapStore{}
		replica := func(store mcp.SessionStore) string {
			f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", demoServer("local"))}, SessionKey: key, SessionStore: store})
			return newServer(t, f, f).URL
		}
		a, b, loner := replica(shared), replica(shared), replica(&mapStore{})
		sid := initSession(t, a)
		sid2 := initSession(t, a)
		assert.Equal(t, http.StatusOK, do(t, http.MethodPost, b, sid, pingBody).status, "b resumes a's session")
		assert.Equal(t, http.StatusNoContent, do(t, http.MethodDelete, a, sid, "").status)
		assert.Equal(t, http.StatusNotFound, do(t, http.MethodPost, b, sid, pingBody).status, "ended in the shared store, though live on b")
		// A replica with a store of its own does not know: it resumes until the id expires.
		assert.Equal(t, http.StatusOK, do(t, http.MethodPost, loner, sid, pingBody).status)
		assert.Equal(t, http.StatusOK, do(t, http.MethodPost, b, sid2, pingBody).status, "other sessions are unaffected")
	})
}

// mapStore is a SessionStore as replicas would share one (Redis, say).
type mapStore struct{ m sync.Map }

func (s *mapStore) End(digest string, expires time.Time) { s.m.Store(digest, expires) }
func (s *mapStore) Ended(digest string) bool {
	exp, ok := s.m.Load(digest)
	return ok && time.Now().Before(exp.(time.Time))
}

// Ids expire: a session older than its lifetime is answered 404 (the client initializes again),
// whether it is live, or resumed by a federation with a longer limit (the expiry is in the id).
func TestSessionIDsExpire(t *testing.T) {
	key := []byte("0123456789abcdef")
	const lifetime = 300 * time.Millisecond
	f1 := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", demoServer("local"))}, SessionKey: key, SessionMaxLifetime: lifetime})
	gw1 := newServer(t, f1, f1)
	live, other := initSession(t, gw1.URL), initSession(t, gw1.URL)
	time.Sleep(2 * lifetime)
	assert.Equal(t, http.StatusNotFound, do(t, http.MethodPost, gw1.URL, live, pingBody).status)

	f2 := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", demoServer("local"))}, SessionKey: key})
	gw2 := newServer(t, f2, f2)
	assert.Equal(t, http.StatusNotFound, do(t, http.MethodPost, gw2.URL, other, pingBody).status, "the id's own expiry holds on a federation with the default lifetime")
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, gw2.URL, initSession(t, gw2.URL), pingBody).status)
}

// A session idle past SessionTimeout does not come back through the federation a reload builds: the
// retired federation hands over the sessions' last activity.
func TestIdleSessionDoesNotResumeAfterReload(t *testing.T) {
	key := []byte("0123456789abcdeX")
	f1 := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", demoServer("local"))}, SessionKey: key, SessionTimeout: time.Hour})
	gw1 := newServer(t, f1, f1)
	idle, kept := initSession(t, gw1.URL), initSession(t, gw1.URL)
	require.NoError(t, f1.Close()) // the reload retires f1; its sessions are released, not ended

	const timeout = 300 * time.Millisecond
	time.Sleep(2 * timeout)
	short := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", demoServer("local"))}, SessionKey: key, SessionTimeout: timeout})
	gw2 := newServer(t, short, short)
	assert.Equal(t, http.StatusNotFound, do(t, http.MethodPost, gw2.URL, idle, pingBody).status, "idle longer than the timeout")
	long := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.ServerTarget("local", demoServer("local"))}, SessionKey: key, SessionTimeout: time.Hour})
	gw3 := newServer(t, long, long)
	assert.Equal(t, http.StatusOK, do(t, http.MethodPost, gw3.URL, kept, pingBody).status, "idle less than the timeout")
}

// batchReq posts a JSON-RPC batch at protocol version ver.
func batchReq(t testing.TB, url, sid, ver, body string, hdr ...string) rawResp {
	t.Helper()
	return do(t, http.MethodPost, url, sid, body, append([]string{"Mcp-Protocol-Version", ver}, hdr...)...)
}

type rpcAnswer struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func answersByID(t testing.TB, body []byte) map[string]rpcAnswer {
	t.Helper()
	var arr []rpcAnswer
	require.NoError(t, json.Unmarshal(body, &arr), "%s", body)
	out := map[string]rpcAnswer{}
	for _, a := range arr {
		out[string(a.ID)] = a
	}
	require.Len(t, out, len(arr), "one answer per id: %s", body)
	return out
}

// JSON-RPC batches: supported in sessions at 2025-03-26 (each message handled as alone, authorization
// included), refused with the spec's error at later versions.
func TestBatches(t *testing.T) {
	up := serveHTTP(t, demoServer("alpha"), nil) // SSE answers: progress is streamed
	f := mcp.New(mcp.Config{
		Targets:       []mcp.Target{mcp.HTTPTarget("alpha", up.URL)},
		Authorization: cel.MustCompileRules(cel.Deny(`mcp.tool.name == "secret"`)),
	})
	gw := gateway(t, f)
	url := gw.URL + "/mcp"
	init := do(t, http.MethodPost, url, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	require.Equal(t, http.StatusOK, init.status, "%s", init.body)
	assert.Contains(t, string(init.body), `"protocolVersion":"2025-03-26"`)
	sid := init.header.Get("Mcp-Session-Id")
	const v = "2025-03-26"

	t.Run("requests answered as an array", func(t *testing.T) {
		r := batchReq(t, url, sid, v, `[
			{"jsonrpc":"2.0","id":"p","method":"ping"},
			{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}},
			{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}},
			{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"secret","arguments":{}}},
			{"jsonrpc":"2.0","id":4,"method":"tools/list"},
			{"jsonrpc":"2.0","id":5,"method":"initialize","params":{}},
			17
		]`, "Accept", "application/json")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, "application/json", r.header.Get("Content-Type"))
		a := answersByID(t, r.body)
		require.Len(t, a, 6, "%s", r.body)
		assert.JSONEq(t, `{}`, string(a[`"p"`].Result))
		assert.Contains(t, string(a["2"].Result), "alpha:hi")
		require.NotNil(t, a["3"].Error, "authorization applies to each message")
		assert.Contains(t, a["3"].Error.Message, `unknown tool "secret"`)
		assert.NotContains(t, string(a["4"].Result), `"secret"`, "lists are filtered too")
		assert.Contains(t, string(a["4"].Result), `"echo"`)
		require.NotNil(t, a["5"].Error)
		assert.Equal(t, -32600, a["5"].Error.Code)
		require.NotNil(t, a["null"].Error, "an invalid member gets an error with a null id")
		assert.Equal(t, -32600, a["null"].Error.Code)
	})
	t.Run("over SSE", func(t *testing.T) {
		r := batchReq(t, url, sid, v, `[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"tok"}}}]`, "Accept", "text/event-stream")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, "text/event-stream", r.header.Get("Content-Type"))
		events := strings.Split(strings.TrimSpace(string(r.body)), "\n\n")
		assert.Contains(t, events[0], "notifications/progress", "progress is streamed first")
		last := strings.TrimPrefix(events[len(events)-1], "event: message\ndata: ")
		a := answersByID(t, []byte(last))
		assert.Contains(t, string(a["2"].Result), "done")
	})
	t.Run("only notifications and responses: 202", func(t *testing.T) {
		r := batchReq(t, url, sid, v, `[{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}},{"jsonrpc":"2.0","id":"nobody/1","result":{}}]`)
		assert.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	})
	t.Run("empty batch", func(t *testing.T) {
		r := batchReq(t, url, sid, v, `[]`)
		assert.Equal(t, http.StatusBadRequest, r.status)
		code, _ := r.rpcError(t)
		assert.Equal(t, -32600, code)
	})
	t.Run("unknown session", func(t *testing.T) {
		assert.Equal(t, http.StatusNotFound, batchReq(t, url, "bm9wZQ", v, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`).status)
	})
	t.Run("refused after 2025-03-26", func(t *testing.T) {
		sid := initSession(t, url) // 2025-06-18
		r := batchReq(t, url, sid, "2025-06-18", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`)
		assert.Equal(t, http.StatusBadRequest, r.status)
		code, msg := r.rpcError(t)
		assert.Equal(t, -32600, code)
		assert.Equal(t, "batch not supported in protocol version 2025-06-18", msg)
	})
	t.Run("stateless", func(t *testing.T) {
		sf := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("alpha", up.URL)}, Stateless: true})
		sgw := newServer(t, sf, sf)
		r := batchReq(t, sgw.URL, "", v, `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"s"}}}]`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Contains(t, string(answersByID(t, r.body)["1"].Result), "alpha:s")
		assert.Equal(t, http.StatusBadRequest, batchReq(t, sgw.URL, "", "2025-11-25", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`).status)
	})
}

// A batch of many slow calls is worked off with bounded concurrency and answers every request.
func TestLargeBatch(t *testing.T) {
	s := sdk.NewServer(&sdk.Implementation{Name: "slow", Version: "1"}, nil)
	var mu sync.Mutex
	running, peak := 0, 0
	sdk.AddTool(s, &sdk.Tool{Name: "wait"}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "ok"}}}, nil, nil
	})
	up := serveHTTP(t, s, &sdk.StreamableHTTPOptions{JSONResponse: true})
	f := mcp.New(mcp.Config{Targets: []mcp.Target{mcp.HTTPTarget("slow", up.URL)}})
	gw := gateway(t, f)
	init := do(t, http.MethodPost, gw.URL+"/mcp", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	sid := init.header.Get("Mcp-Session-Id")
	var msgs []string
	for i := range 100 {
		msgs = append(msgs, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"wait"}}`, i))
	}
	r := batchReq(t, gw.URL+"/mcp", sid, "2025-03-26", "["+strings.Join(msgs, ",")+"]", "Accept", "application/json")
	require.Equal(t, http.StatusOK, r.status)
	assert.Len(t, answersByID(t, r.body), 100)
	assert.LessOrEqual(t, peak, 8, "bounded concurrency")

	over := "[" + strings.Repeat(`{"jsonrpc":"2.0","method":"notifications/x"},`, 1000) + `{"jsonrpc":"2.0","method":"notifications/x"}]`
	r = batchReq(t, gw.URL+"/mcp", sid, "2025-03-26", over)
	assert.Equal(t, http.StatusBadRequest, r.status)
	_, msg := r.rpcError(t)
	assert.Contains(t, msg, "limit 1000")
}
