package agentgateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// rawGet sends one request line verbatim (no client-side cleaning) and returns the status and body.
func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", target)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// guarded builds a gateway that answers 403 on /admin and proxies everything else to an upstream that
// echoes the request target it received.
func guarded(t *testing.T, opts ...agentgateway.Option) (gwAddr string, seen func() []string) {
	t.Helper()
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.RequestURI)
		_, _ = io.WriteString(w, "upstream saw "+r.RequestURI)
	}))
	t.Cleanup(up.Close)
	gw := agentgateway.New(append([]agentgateway.Option{quiet()}, opts...)...)
	require.NoError(t, gw.Route("admin").PathPrefix("/admin").Respond(http.StatusForbidden, "admin is internal").To(nil))
	require.NoError(t, gw.Route("rest").PathPrefix("/").To(agentgateway.HTTP(up.URL)))
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = gw.Close() })
	return srv.Listener.Addr().String(), func() []string { return got }
}

// A route guarding /admin cannot be passed with dot segments, encoded dots, doubled slashes or
// backslashes: each is normalized before matching and lands on the guard.
func TestPathNormalizationGuardsRoutes(t *testing.T) {
	addr, seen := guarded(t)
	for _, target := range []string{
		"/public/../admin",
		"/public/%2e%2e/admin",
		"/public/%2E%2E/admin",
		"//admin",
		"/./admin",
		"/public\\..\\admin",
		"/a/b/../../admin/",
		"/../../admin",
	} {
		status, body := rawGet(t, addr, target)
		require.Equal(t, http.StatusForbidden, status, "%s: %s", target, body)
	}
	require.Empty(t, seen(), "no attack reached the upstream")
}

// What matched is what the upstream sees: the normalized path is forwarded.
func TestPathNormalizationForwardsNormalizedPath(t *testing.T) {
	addr, seen := guarded(t)
	for target, want := range map[string]string{
		"/public/./x/../y":   "/public/y",
		"//public///y/":      "/public/y/",
		"/caf%c3%a9?q=%2e":   "/caf%C3%A9?q=%2e",
		"/%7Euser/%41b":      "/~user/Ab",
		"/keep%2Fencoded/x":  "/keep%2Fencoded/x",
		"/plain/path?a=b/..": "/plain/path?a=b/..",
	} {
		status, body := rawGet(t, addr, target)
		require.Equal(t, http.StatusOK, status, target)
		require.Equal(t, "upstream saw "+want, body, target)
	}
	require.Len(t, seen(), 6)
}

// Encoded slashes that would form a dot segment once decoded are refused: an upstream that decodes
// them would see a path other than the one matched.
func TestPathNormalizationRefusesEncodedSlashTraversal(t *testing.T) {
	addr, seen := guarded(t)
	for _, target := range []string{"/public%2F..%2Fadmin", "/public/..%2Fadmin", "/x%5C..%5Cadmin"} {
		status, body := rawGet(t, addr, target)
		require.Equal(t, http.StatusBadRequest, status, target)
		require.Contains(t, body, "dot segment")
	}
	require.Empty(t, seen())
}

func TestPathNormalizationOptions(t *testing.T) {
	addr, _ := guarded(t, agentgateway.WithPathNormalization(agentgateway.PathNormalization{KeepSlashes: true}))
	status, body := rawGet(t, addr, "//public//x/./y")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "upstream saw //public//x/y", body)

	addr, _ = guarded(t, agentgateway.WithPathNormalization(agentgateway.PathNormalization{Off: true}))
	status, body = rawGet(t, addr, "/public/../admin")
	require.Equal(t, http.StatusOK, status, "off: matched and forwarded verbatim")
	require.Equal(t, "upstream saw /public/../admin", body)
}

// FuzzNormalizePath: the result is absolute, idempotent, free of dot segments and (when merging)
// of empty segments.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/public/../admin", "/public/%2e%2e/admin", "//admin", "/./admin",
		"/a%2F..%2Fb", "/%7e", "/a\\b", "/..", "/a/.", "/%zz", "/a//b//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \r\n\x00#?") {
			return
		}
		out, _ := agentgateway.NormalizeEscapedPath(p, true)
		require.True(t, strings.HasPrefix(out, "/"), out)
		again, changed := agentgateway.NormalizeEscapedPath(out, true)
		require.False(t, changed, "idempotent: %q -> %q -> %q", p, out, again)
		require.NotContains(t, out, "//")
		for _, seg := range strings.Split(out, "/") {
			require.NotEqual(t, ".", seg)
			require.NotEqual(t, "..", seg)
		}
	})
}
