package config_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// protoUpstream answers with the protocol the request came in on; it speaks HTTP/1.1 and h2c.
func protoUpstream(t *testing.T) string {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetHTTP1(true)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func oneBackend(host, policies string) string {
	return fmt.Sprintf(`
binds: [{port: 3000, listeners: [{routes: [{backends: [{host: %q, policies: %s}]}]}]}]
`, host, policies)
}

// backendPolicies.http.version picks the HTTP version towards the backend: HTTP/2 is h2c (prior
// knowledge) to a plain-HTTP backend; HTTP/1.1 keeps HTTP/1.1 even for a service whose appProtocol
// says HTTP/2.
func TestBackendHTTPVersionFromYAML(t *testing.T) {
	up := protoUpstream(t)
	for policies, want := range map[string]string{
		`{}`:                          "HTTP/1.1",
		`{http: {version: HTTP/2}}`:   "HTTP/2.0",
		`{http: {version: HTTP/1.1}}`: "HTTP/1.1",
	} {
		url := servePorts(t, oneBackend(up, policies), nil)[3000]
		code, body := get(t, url+"/", "")
		assert.Equal(t, 200, code, policies)
		assert.Equal(t, want, body, policies)
	}
	_, port, _ := net.SplitHostPort(up)
	url := servePorts(t, `
services:
- {name: s, namespace: ns, hostname: s.local, vips: [], ports: {80: 0}, appProtocols: {80: Http2}}
workloads:
- {name: w, namespace: ns, workloadIps: [127.0.0.1], services: {"ns/s.local": {80: `+port+`}}}
binds: [{port: 3000, listeners: [{routes: [{backends: [{service: {name: ns/s.local, port: 80}, policies: {http: {version: HTTP/1.1}}}]}]}]}]
`, nil)[3000]
	_, body := get(t, url+"/", "")
	assert.Equal(t, "HTTP/1.1", body, "the policy overrides the service's appProtocol")
}

// backendPolicies.http.requestTimeout bounds each request to the backend: one that does not answer
// in time gets 504.
func TestBackendRequestTimeoutFromYAML(t *testing.T) {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) })
	url := servePorts(t, oneBackend(strings.TrimPrefix(s.URL, "http://"), `{http: {requestTimeout: 100ms}}`), nil)[3000]
	code, _ := get(t, url+"/", "")
	assert.Equal(t, http.StatusGatewayTimeout, code)
}

// fullListener returns the address of a listening socket whose accept queue is full (backlog 0, one
// connection queued and never accepted): the kernel drops further SYNs, so connecting hangs.
func fullListener(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue: connect until one attempt hangs.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the kernel accepted every connection; cannot make a connect hang")
	return ""
}

// backendPolicies.tcp.connectTimeout bounds connecting to the backend: an endpoint that never
// completes the handshake fails the request after it (not after the 10s default).
func TestBackendConnectTimeoutFromYAML(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("relies on Linux dropping SYNs to a full accept queue")
	}
	addr := fullListener(t)
	url := servePorts(t, oneBackend(addr, `{tcp: {connectTimeout: 100ms, keepalives: {}}}`), nil)[3000]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "the gateway answers once the connect times out")
	resp.Body.Close()
	assert.Contains(t, []int{http.StatusBadGateway, http.StatusServiceUnavailable}, resp.StatusCode)
}

// keepaliveTimer returns the keepalive timer of the established local TCP connection from
// 127.0.0.1:port to 127.0.0.1:peerPort as /proc/net/tcp shows it: whether one is pending and the
// ticks left. Matching both ends and the state matters: an earlier connection that used the same
// ephemeral port may still sit in TIME_WAIT with its own timer.
func keepaliveTimer(t *testing.T, port, peerPort int) (pending bool, ticks int64) {
	f, err := os.Open("/proc/net/tcp")
	require.NoError(t, err)
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	wantPeer := fmt.Sprintf("0100007F:%04X", peerPort)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		const established = "01"
		if len(fs) < 6 || fs[1] != want || fs[2] != wantPeer || fs[3] != established {
			continue
		}
		tr, when, _ := strings.Cut(fs[5], ":")
		n, _ := strconv.ParseInt(when, 16, 64)
		return tr == "02", n
	}
	t.Fatalf("connection from %s not in /proc/net/tcp", want)
	return false, 0
}

// backendPolicies.tcp.keepalives sets the keepalive probes of the connections to the backend: the
// kernel's keepalive timer of the gateway's idle upstream connection runs on `time` (2m here, not
// Go's 30s), and `enabled: false` leaves no timer at all.
func TestBackendKeepalivesFromYAML(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("needs /proc/net/tcp")
	}
	run := func(policies string) (bool, int64) {
		peer := make(chan string, 1)
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case peer <- r.RemoteAddr:
			default:
			}
		}))
		t.Cleanup(s.Close)
		url := servePorts(t, oneBackend(strings.TrimPrefix(s.URL, "http://"), policies), nil)[3000]
		code, _ := get(t, url+"/", "")
		require.Equal(t, 200, code)
		_, p, _ := net.SplitHostPort(<-peer)
		port, _ := strconv.Atoi(p)
		peerPort := s.Listener.Addr().(*net.TCPAddr).Port
		return keepaliveTimer(t, port, peerPort) // the connection now idles in the gateway's pool
	}
	hz := int64(100) // USER_HZ: /proc reports timers in clock ticks
	pending, ticks := run(`{tcp: {connectTimeout: 1s, keepalives: {time: 2m, interval: 10s, retries: 3}}}`)
	assert.True(t, pending, "a keepalive timer runs")
	assert.Greater(t, ticks, 60*hz, "probes start after 2m idle, not 30s")
	pending, ticks = run(`{}`)
	assert.True(t, pending)
	assert.LessOrEqual(t, ticks, 30*hz, "Go's default: 30s")
	pending, _ = run(`{tcp: {connectTimeout: 1s, keepalives: {enabled: false}}}`)
	assert.False(t, pending, "no keepalive probes")
}

func TestBackendConnErrors(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"bad version":      {oneBackend("127.0.0.1:1", `{http: {version: HTTP/3}}`), `policies.http.version: want HTTP/1.1 or HTTP/2, got "HTTP/3"`},
		"negative timeout": {oneBackend("127.0.0.1:1", `{http: {requestTimeout: -1s}}`), `policies.http.requestTimeout: must not be negative`},
		"not a host backend": {`
binds: [{port: 3000, listeners: [{routes: [{backends: [{dynamic: {}, policies: {tcp: {connectTimeout: 1s, keepalives: {}}}}]}]}]}]
`, `policies.tcp: http and tcp apply to host and service backends`},
		"on a reference": {`
backends: [{name: b, host: "127.0.0.1:1"}]
binds: [{port: 3000, listeners: [{routes: [{backends: [{backend: b, policies: {http: {version: HTTP/2}}}]}]}]}]
`, `put them on the definition of backend "b"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rt, err := build(t, c.yaml, nil)
			if rt != nil {
				_ = rt.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
