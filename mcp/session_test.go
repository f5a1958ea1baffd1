package mcp_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
