package config_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

// What a Kubernetes translation's document (gwapi.SchemaDocument) needs of the config package:
// certificates inline, several mirrors on a rule, exposed headers on preflights, catalog services
// behind TCP routes, and a dialer for data planes that reach endpoints another way.

// A listener's tls cert and key may be the PEM itself (a control plane renders them from a Secret,
// sharing no files with the data plane); an invalid inline key is reported without its content.
func TestListenerTLSInlinePEM(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "a.example.com")
	cert, err := os.ReadFile(filepath.Join(dir, "a.example.com.crt"))
	require.NoError(t, err)
	key, err := os.ReadFile(filepath.Join(dir, "a.example.com.key"))
	require.NoError(t, err)
	doc := func(key string) string {
		b, _ := json.Marshal(map[string]any{"binds": []any{map[string]any{"port": 8443, "listeners": []any{map[string]any{
			"name": "a", "protocol": "HTTPS", "tls": map[string]any{"cert": string(cert), "key": key},
			"routes": []any{map[string]any{"policies": map[string]any{"directResponse": map[string]any{"status": 200}}}}}}}}})
		return string(b)
	}
	rt, err := build(t, doc(string(key)), nil)
	require.NoError(t, err)
	defer rt.Close()
	require.NotNil(t, rt.Config.Listeners[0].TLS)
	require.Len(t, rt.Config.Listeners[0].TLS.Certificates, 1)

	bad := strings.Replace(string(key), "PRIVATE KEY-----\n", "PRIVATE KEY-----\nAAAA", 1)
	_, err = build(t, doc(bad), nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "(inline PEM)")
	require.NotContains(t, err.Error(), "AAAA", "the key's content stays out of errors")
}

// requestMirror takes a list (each mirror gets its own copy), as Gateway API rules may mirror to
// several backends; the single object form is unchanged.
func TestRequestMirrorList(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	mirror := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits[name]++
			mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	rt, err := build(t, fmt.Sprintf(`
binds:
- port: 8080
  listeners:
  - routes:
    - policies:
        requestMirror:
        - {backend: {host: %s}, percentage: 1}
        - {backend: {host: %s}, percentage: 1}
      backends: [{host: %s}]
`, mirror("m1"), mirror("m2"), mirror("main")), nil)
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	defer gw.Close()
	require.NoError(t, gw.Apply(rt.Config))
	rec := httptest.NewRecorder()
	gw.PortHandler(8080).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return hits["m1"] == 1 && hits["m2"] == 1 && hits["main"] == 1
	}, 10*time.Second, 10*time.Millisecond, "each mirror gets a copy")

	_, err = build(t, `
binds:
- port: 8080
  listeners:
  - routes:
    - policies:
        requestMirror: []
        directResponse: {status: 200}
`, nil)
	require.ErrorContains(t, err, "requestMirror")
}

// An allowed preflight lists exposeHeaders too (Gateway API's CORS filter requires it); a refused
// one does not.
func TestCORSPreflightExposesHeaders(t *testing.T) {
	rt, err := build(t, `
binds:
- port: 8080
  listeners:
  - routes:
    - policies:
        cors: {allowOrigins: ["https://app.example.com"], allowMethods: [GET], exposeHeaders: [x-a, x-b]}
        directResponse: {status: 200}
`, nil)
	require.NoError(t, err)
	defer rt.Close()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false))
	defer gw.Close()
	require.NoError(t, gw.Apply(rt.Config))
	preflight := func(origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, "/x", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		rec := httptest.NewRecorder()
		gw.PortHandler(8080).ServeHTTP(rec, req)
		return rec
	}
	ok := preflight("https://app.example.com")
	require.Equal(t, "https://app.example.com", ok.Header().Get("Access-Control-Allow-Origin"))
	require.Equal(t, "x-a, x-b", ok.Header().Get("Access-Control-Expose-Headers"))
	refused := preflight("https://evil.example.com")
	require.Empty(t, refused.Header().Get("Access-Control-Expose-Headers"))
}

// A TCP route's service backend that names a service of the file's `services` connects to that
// service's workloads (it was dialled by its hostname, which no resolver knows); and a file's
// dialer (SetDialer) carries the HTTP and TCP backends' connections.
func TestTCPServiceFromCatalogAndDialer(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	_, port, _ := net.SplitHostPort(echo.Addr().String())
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "web") }))
	defer web.Close()
	tcpPort, httpPort := freeTCPPort(t), freeTCPPort(t)
	doc := fmt.Sprintf(`
binds:
- port: %s
  listeners:
  - protocol: TCP
    tcpRoutes: [{backends: [{service: {name: ns/echo.ns.svc.cluster.local, port: 9000}}]}]
- port: %s
  listeners:
  - routes: [{backends: [{host: "10.1.2.3:80"}]}]
services:
- {name: echo, namespace: ns, hostname: echo.ns.svc.cluster.local, ports: {"9000": %s}}
workloads:
- {name: w, namespace: ns, workloadIps: [%s], services: {ns/echo.ns.svc.cluster.local: {"9000": %s}}}
`, tcpPort, httpPort, port, "10.9.9.9", port)
	var mu sync.Mutex
	dialled := map[string]bool{}
	f, err := config.Load([]byte(doc), nil)
	require.NoError(t, err)
	f.SetDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialled[addr] = true
		mu.Unlock()
		target := echo.Addr().String()
		if addr == "10.1.2.3:80" {
			target = web.Listener.Addr().String()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	})
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false),
		agentgateway.WithBindAddress("127.0.0.1"), agentgateway.WithDrainTimeout(time.Second))
	require.NoError(t, gw.Apply(rt.Config))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	defer func() {
		cancel()
		_ = gw.Wait()
		_ = gw.Close()
		_ = rt.Close()
	}()

	c, err := net.DialTimeout("tcp", "127.0.0.1:"+tcpPort, 10*time.Second)
	require.NoError(t, err)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(c, "ping")
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
	_ = c.Close()

	resp, err := http.Get("http://127.0.0.1:" + httpPort + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, "web", string(body))
	mu.Lock()
	defer mu.Unlock()
	require.True(t, dialled["10.9.9.9:"+port], "the TCP route reached the catalog's workload: %v", dialled)
	require.True(t, dialled["10.1.2.3:80"], "the host backend went through the dialer: %v", dialled)
}
