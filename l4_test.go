package agentgateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// echoServer echoes each connection's bytes and, once the client half-closes, closes its side too.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// tlsNameServer is a TLS server with a certificate for name that answers each connection with name.
func tlsNameServer(t *testing.T, name string) string {
	t.Helper()
	cert, _ := certFor(t, name)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.WriteString(c, "backend "+name)
			}()
		}
	}()
	return ln.Addr().String()
}

func tcpListener(name string, port int, proto agentgateway.ListenerProtocol, routes ...agentgateway.TCPRouteConfig) agentgateway.ListenerConfig {
	return agentgateway.ListenerConfig{Name: name, Port: port, Protocol: proto, TCPRoutes: routes}
}

func tcpRoute(name, addr string, hostnames ...string) agentgateway.TCPRouteConfig {
	return agentgateway.TCPRouteConfig{Name: name, Hostnames: hostnames, Backends: []agentgateway.TCPBackend{{Address: addr, Weight: 1}}}
}

// TestTCPRouteProxiesBytesAndHalfClose: a TCP listener proxies to the route's backend both ways, and
// the client's half-close reaches the backend, whose answer still comes back before the end.
func TestTCPRouteProxiesBytesAndHalfClose(t *testing.T) {
	port := freePort(t)
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"))
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		tcpListener("tcp", port, agentgateway.ProtocolTCP, tcpRoute("echo", echoServer(t))),
	}}))
	start(t, gw)
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	defer c.Close()
	payload := bytes.Repeat([]byte("0123456789"), 100_000)
	go func() {
		_, _ = c.Write(payload)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, payload, got, "every byte echoed, and EOF after the half-close")
}

// TestTLSPassthroughRoutesBySNI: a TLS listener reads the SNI without terminating and sends each
// client to the backend its server name selects; the client's TLS session is with the backend
// itself (it sees the backend's certificate). An unknown name is closed.
func TestTLSPassthroughRoutesBySNI(t *testing.T) {
	port := freePort(t)
	a, b := tlsNameServer(t, "a.test"), tlsNameServer(t, "b.test")
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"))
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		tcpListener("tls", port, agentgateway.ProtocolTLS, tcpRoute("a", a, "a.test"), tcpRoute("b", b, "*.b.test", "b.test")),
	}}))
	start(t, gw)
	dial := func(name string) (string, error) {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			return "", err
		}
		defer c.Close()
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != strings.TrimPrefix(name, "x.") {
			return "", fmt.Errorf("certificate of %q", cn)
		}
		body, err := io.ReadAll(c)
		return string(body), err
	}
	got, err := dial("a.test")
	require.NoError(t, err)
	require.Equal(t, "backend a.test", got)
	got, err = dial("b.test")
	require.NoError(t, err)
	require.Equal(t, "backend b.test", got)
	_, err = dial("c.test")
	require.Error(t, err, "no route for the name: the connection is closed")
}

// TestTLSAndHTTPSListenersShareAPort: on one port an HTTPS listener terminates its hostname and a
// TLS listener passes every other name through, the most specific name winning.
func TestTLSAndHTTPSListenersShareAPort(t *testing.T) {
	port := freePort(t)
	cert, pool := certFor(t, "web.test")
	other := tlsNameServer(t, "other.test")
	web := listener("web", port, "/", "web.test")
	web.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"))
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		tcpListener("pass", port, agentgateway.ProtocolTLS, tcpRoute("rest", other)),
		web,
	}}))
	start(t, gw)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "web.test"}}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/", port), nil)
	req.Host = "web.test"
	resp, err := client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))
	require.Equal(t, "web", string(body))
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{ServerName: "other.test", InsecureSkipVerify: true})
	require.NoError(t, err)
	got, _ := io.ReadAll(c)
	c.Close()
	require.Equal(t, "backend other.test", string(got))
}

// sourceEcho answers with the request's State.Source: what the gateway believes the client is.
func sourceEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, agentgateway.StateFrom(r.Context()).Source.String())
	})
}

func proxyV2Header(src, dst netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11, 0, 12)
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	b = append(b, s4[:]...)
	b = append(b, d4[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	return b
}

// preambleGet sends preamble then a GET on a new connection and returns the response body, or an error
// when the gateway closed the connection instead.
func preambleGet(port int, preamble []byte) (string, error) {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(preamble, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"...)); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestProxyProtocolSetsTheSource: with PROXY protocol on, the address a v1 or v2 header announces is
// the request's source (and so the access log's, CEL's source.address and rate-limit keys'); a
// malformed header, or none in strict mode, closes the connection.
func TestProxyProtocolSetsTheSource(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pp       agentgateway.ProxyProtocol
		preamble []byte
		want     string // "" means closed
	}{
		{"v1", agentgateway.ProxyProtocol{Version: agentgateway.ProxyV1}, []byte("PROXY TCP4 203.0.113.7 10.0.0.1 40000 443\r\n"), "203.0.113.7:40000"},
		{"v1 ipv6", agentgateway.ProxyProtocol{Version: agentgateway.ProxyAll}, []byte("PROXY TCP6 2001:db8::1 2001:db8::2 5 6\r\n"), "[2001:db8::1]:5"},
		{"v2", agentgateway.ProxyProtocol{}, proxyV2Header(netip.MustParseAddrPort("198.51.100.9:1234"), netip.MustParseAddrPort("10.0.0.1:80")), "198.51.100.9:1234"},
		{"v1 refused on a v2 port", agentgateway.ProxyProtocol{}, []byte("PROXY TCP4 203.0.113.7 10.0.0.1 40000 443\r\n"), ""},
		{"garbage", agentgateway.ProxyProtocol{Version: agentgateway.ProxyAll}, []byte("PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n"), ""},
		{"missing in strict mode", agentgateway.ProxyProtocol{Version: agentgateway.ProxyAll}, nil, ""},
		{"missing in optional mode", agentgateway.ProxyProtocol{Version: agentgateway.ProxyAll, Optional: true}, nil, "127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"), agentgateway.WithProxyProtocol(tc.pp))
			require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{Name: "l", Port: port, Routes: []agentgateway.RouteConfig{{
				Name: "r", Backends: []agentgateway.WeightedBackend{{Handler: sourceEcho(), Weight: 1}},
			}}}}}))
			start(t, gw)
			got, err := preambleGet(port, tc.preamble)
			if tc.want == "" {
				require.Error(t, err, "the connection must be closed, got %q", got)
				return
			}
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(got, tc.want), "source %q, want %q", got, tc.want)
		})
	}
}

// TestNetworkAuthorizationClosesDeniedConnections: the authorizer sees the PROXY-announced source
// before any HTTP; a denied connection is closed, an allowed one served.
func TestNetworkAuthorizationClosesDeniedConnections(t *testing.T) {
	port := freePort(t)
	denied := netip.MustParsePrefix("203.0.113.0/24")
	var seen []agentgateway.ConnInfo
	var mu sync.Mutex
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"),
		agentgateway.WithProxyProtocol(agentgateway.ProxyProtocol{Version: agentgateway.ProxyV1}),
		agentgateway.WithNetworkAuthorization(func(_ context.Context, c *agentgateway.ConnInfo) bool {
			mu.Lock()
			seen = append(seen, *c)
			mu.Unlock()
			return !denied.Contains(c.Source.Addr())
		}))
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{Name: "l", Port: port, Routes: []agentgateway.RouteConfig{{
		Name: "r", Backends: []agentgateway.WeightedBackend{{Handler: sourceEcho(), Weight: 1}},
	}}}}}))
	start(t, gw)
	_, err := preambleGet(port, []byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 8443\r\n"))
	require.Error(t, err, "denied source: closed")
	got, err := preambleGet(port, []byte("PROXY TCP4 198.51.100.1 192.0.2.1 40000 8443\r\n"))
	require.NoError(t, err)
	require.Equal(t, "198.51.100.1:40000", got)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	require.Equal(t, netip.MustParseAddrPort("192.0.2.1:8443"), seen[0].Destination)
	require.Equal(t, port, seen[0].Port)
}

// TestConnectTunnelReentersPorts: a CONNECT port tunnels to a target whose port has a listener that
// takes its host (here an internal TLS passthrough port), and refuses other targets with 403.
func TestConnectTunnelReentersPorts(t *testing.T) {
	proxyPort := freePort(t)
	backend := tlsNameServer(t, "allowed.test")
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"))
	require.NoError(t, gw.Apply(agentgateway.Config{
		Ports: []agentgateway.PortConfig{{Port: proxyPort, Tunnel: agentgateway.TunnelConnect}, {Port: 443, Internal: true}},
		Listeners: []agentgateway.ListenerConfig{
			tcpListener("egress", 443, agentgateway.ProtocolTLS, tcpRoute("allow", backend, "allowed.test")),
		},
	}))
	start(t, gw)
	connect := func(target string) (net.Conn, int) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", proxyPort))
		require.NoError(t, err)
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		require.NoError(t, err)
		if resp.StatusCode == 200 {
			require.Zero(t, br.Buffered())
		}
		return c, resp.StatusCode
	}
	c, status := connect("allowed.test:443")
	require.Equal(t, 200, status)
	tc := tls.Client(c, &tls.Config{ServerName: "allowed.test", InsecureSkipVerify: true})
	got, _ := io.ReadAll(tc)
	tc.Close()
	require.Equal(t, "backend allowed.test", string(got))

	for _, target := range []string{"denied.test:443", "allowed.test:8443", fmt.Sprintf("127.0.0.1:%d", proxyPort)} {
		c, status := connect(target)
		c.Close()
		require.Equal(t, 403, status, target)
	}
	// A plain request on the CONNECT port is refused.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", proxyPort))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 405, resp.StatusCode)
}

// TestTCPConnectionSurvivesReloadAndShutdownDrains: a TCP connection open while a reload drops its
// port goes on working (the port drains), and Run's shutdown waits for it within the drain timeout.
func TestTCPConnectionSurvivesReloadAndShutdownDrains(t *testing.T) {
	port := freePort(t)
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"), agentgateway.WithDrainTimeout(5*time.Second))
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		tcpListener("tcp", port, agentgateway.ProtocolTCP, tcpRoute("echo", echoServer(t))),
	}}))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	roundTrip := func(s string) string {
		_, err := io.WriteString(c, s+"\n")
		require.NoError(t, err)
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		return strings.TrimSpace(line)
	}
	require.Equal(t, "one", roundTrip("one"))
	require.NoError(t, gw.Apply(agentgateway.Config{}))
	require.Equal(t, "two", roundTrip("two"), "the open connection outlives the reload")
	_, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.Error(t, err, "the dropped port no longer accepts")
	cancel()
	require.Equal(t, "three", roundTrip("three"), "shutdown drains: the connection is not cut at once")
	_ = c.(*net.TCPConn).CloseWrite()
	require.NoError(t, gw.Wait())
}

// TestTCPIdleTimeout: a connection with no traffic either way for the idle timeout is closed.
func TestTCPIdleTimeout(t *testing.T) {
	port := freePort(t)
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"), agentgateway.WithTCPTimeouts(agentgateway.TCPTimeouts{Idle: 200 * time.Millisecond}))
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		tcpListener("tcp", port, agentgateway.ProtocolTCP, tcpRoute("echo", echoServer(t))),
	}}))
	start(t, gw)
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "closed by the gateway, not by the test's deadline")
}

// TestL4ConfigErrors: TCP and TLS listeners are checked when applied, with field paths.
func TestL4ConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  agentgateway.Config
		want string
	}{
		{agentgateway.Config{Listeners: []agentgateway.ListenerConfig{tcpListener("t", 0, agentgateway.ProtocolTCP, tcpRoute("r", "127.0.0.1:1"))}}, "listeners[0].port"},
		{agentgateway.Config{Listeners: []agentgateway.ListenerConfig{tcpListener("t", 9, agentgateway.ProtocolTCP, tcpRoute("r", "127.0.0.1:1", "a.test"))}}, "listeners[0].tcpRoutes[0].hostnames"},
		{agentgateway.Config{Listeners: []agentgateway.ListenerConfig{tcpListener("t", 9, agentgateway.ProtocolTCP, tcpRoute("r", "nohostport"))}}, "listeners[0].tcpRoutes[0].backends[0].address"},
		{agentgateway.Config{Listeners: []agentgateway.ListenerConfig{tcpListener("t", 9, agentgateway.ProtocolTCP, tcpRoute("r", "127.0.0.1:1")), listener("h", 9, "/")}}, "other listeners"},
		{agentgateway.Config{Listeners: []agentgateway.ListenerConfig{listener("h", 9, "/"), tcpListener("t", 9, agentgateway.ProtocolTLS, tcpRoute("r", "127.0.0.1:1"))}}, "mixes TLS and plain"},
		{agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{Name: "h", Port: 9, TCPRoutes: []agentgateway.TCPRouteConfig{tcpRoute("r", "127.0.0.1:1")}}}}, "listeners[0].tcpRoutes"},
		{agentgateway.Config{Ports: []agentgateway.PortConfig{{Port: 9, Tunnel: agentgateway.TunnelConnect}}, Listeners: []agentgateway.ListenerConfig{listener("h", 9, "/")}}, "CONNECT"},
	} {
		err := tc.cfg.Validate()
		require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
		require.ErrorContains(t, err, tc.want)
	}
}

// TestDialThroughConnect reaches a TCP backend through the gateway's own CONNECT port, as a
// backendTunnel does through any HTTP proxy; a refused CONNECT is ErrTunnelRefused.
func TestDialThroughConnect(t *testing.T) {
	proxyPort, echoAddr := freePort(t), echoServer(t)
	_, echoPort, _ := net.SplitHostPort(echoAddr)
	tcpPort := freePort(t)
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"))
	require.NoError(t, gw.Apply(agentgateway.Config{
		Ports:     []agentgateway.PortConfig{{Port: proxyPort, Tunnel: agentgateway.TunnelConnect}},
		Listeners: []agentgateway.ListenerConfig{tcpListener("t", tcpPort, agentgateway.ProtocolTCP, tcpRoute("echo", echoAddr))},
	}))
	start(t, gw)
	proxy := fmt.Sprintf("127.0.0.1:%d", proxyPort)
	c, err := agentgateway.DialThroughConnect(context.Background(), proxy, fmt.Sprintf("127.0.0.1:%d", tcpPort), nil)
	require.NoError(t, err)
	_, _ = io.WriteString(c, "ping")
	_ = c.(interface{ CloseWrite() error }).CloseWrite()
	got, _ := io.ReadAll(c)
	c.Close()
	require.Equal(t, "ping", string(got))
	_, err = agentgateway.DialThroughConnect(context.Background(), proxy, "127.0.0.1:"+echoPort, nil)
	require.ErrorIs(t, err, agentgateway.ErrTunnelRefused)
}

// TestTLSTerminationThenTCP: a TLS listener with TLS settings terminates the client's TLS and proxies
// the plaintext to its route; WithFrontendTLS's minimum version applies to that handshake and to
// HTTPS listeners alike.
func TestTLSTerminationThenTCP(t *testing.T) {
	tcpPort, httpsPort := freePort(t), freePort(t)
	cert, pool := certFor(t, "db.test")
	term := tcpListener("term", tcpPort, agentgateway.ProtocolTLS, tcpRoute("echo", echoServer(t)))
	term.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	web := listener("web", httpsPort, "/")
	web.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"),
		agentgateway.WithFrontendTLS(agentgateway.FrontendTLS{MinVersion: tls.VersionTLS13}))
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{term, web}}))
	start(t, gw)
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort), &tls.Config{ServerName: "db.test", RootCAs: pool})
	require.NoError(t, err)
	_, _ = io.WriteString(c, "plaintext behind TLS")
	_ = c.CloseWrite()
	got, err := io.ReadAll(c)
	c.Close()
	require.NoError(t, err)
	require.Equal(t, "plaintext behind TLS", string(got))
	for _, port := range []int{tcpPort, httpsPort} {
		_, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{ServerName: "db.test", RootCAs: pool, MaxVersion: tls.VersionTLS12})
		require.Error(t, err, "TLS 1.2 refused on port %d", port)
	}
	c, err = tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: "db.test", RootCAs: pool})
	require.NoError(t, err)
	c.Close()
}
