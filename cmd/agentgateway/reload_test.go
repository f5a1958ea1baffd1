package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// twoPorts serves /internal on the internal port and /public on the public one. The internal listener
// comes first: the old code fell back to the first listener on a port no listener named.
const twoPorts = `
binds:
- port: %d
  listeners:
  - name: internal
    routes:
    - matches: [{path: {pathPrefix: /internal}}]
      policies: {directResponse: {status: 200, body: internal}}
- port: %d
  listeners:
  - name: public
    routes:
    - matches: [{path: {pathPrefix: /public}}]
      policies: {directResponse: {status: 200, body: public}}
`

func hold(t *testing.T) (port int, release func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port, func() { ln.Close() }
}

// replace writes the config file atomically.
func (g *gateway) replace(content string) {
	tmp := g.file + ".tmp"
	require.NoError(g.t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(g.t, os.Rename(tmp, g.file))
}

// TestReloadOntoABusyPortChangesNothingUntilItApplies: a reload that moves the public listener to a
// port in use is rejected as a whole, retried until the port is free, and meanwhile every port serves
// exactly what it served before. The old binary applied the new routes first, kept the old public port
// open with no listener naming it, and served the internal listener's /internal there.
func TestReloadOntoABusyPortChangesNothingUntilItApplies(t *testing.T) {
	internal, public := freePort(t), freePort(t)
	busy, release := hold(t)
	g := start(t, fmt.Sprintf(twoPorts, internal, public), public)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	at := func(port int, path string) (int, string) {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	servesOld := func() {
		t.Helper()
		code, body := at(public, "/public")
		require.Equal(t, 200, code, body)
		require.Equal(t, "public", body)
		code, body = at(public, "/internal")
		require.Equal(t, 404, code, "/internal on the public port: %s", body)
		code, body = at(internal, "/internal")
		require.Equal(t, 200, code, body)
		require.Equal(t, "internal", body)
	}
	servesOld()

	g.replace(fmt.Sprintf(twoPorts, internal, busy))
	require.Eventually(t, func() bool { return strings.Count(g.stderr.String(), "config reload failed; will retry") >= 2 },
		10*time.Second, 10*time.Millisecond, "retried without a file change: %s", g.stderr)
	require.Contains(t, g.stderr.String(), "address already in use")
	servesOld()
	_, dump := get(t, http.DefaultClient, "http://"+g.admin+"/config_dump")
	require.Contains(t, dump, fmt.Sprintf(`"port": %d`, public), "config_dump shows the config being served")

	release()
	require.Eventually(t, func() bool { code, body := at(busy, "/public"); return code == 200 && body == "public" },
		10*time.Second, 10*time.Millisecond, "applied once the port is free: %s", g.stderr)
	code, _ := at(public, "/public")
	require.Zero(t, code, "the dropped port is closed")
	code, body := at(internal, "/internal")
	require.Equal(t, 200, code, body)

	// A change onto another busy port is retried until the file changes again, to a port that is free.
	busy2, _ := hold(t)
	free := freePort(t)
	g.replace(fmt.Sprintf(twoPorts, internal, busy2))
	require.Eventually(t, func() bool { return strings.Contains(g.stderr.String(), fmt.Sprintf("binding port %d", busy2)) },
		10*time.Second, 10*time.Millisecond)
	code, body = at(busy, "/public")
	require.Equal(t, 200, code, body)
	g.replace(fmt.Sprintf(twoPorts, internal, free))
	require.Eventually(t, func() bool { code, body := at(free, "/public"); return code == 200 && body == "public" },
		10*time.Second, 10*time.Millisecond, g.stderr)
}
