package agentgateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// busyPort returns a port held open by the test until it calls release.
func busyPort(t *testing.T) (port int, release func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port, func() { ln.Close() }
}

func listener(name string, port int, prefix string, hostnames ...string) agentgateway.ListenerConfig {
	return agentgateway.ListenerConfig{Name: name, Port: port, Hostnames: hostnames, Routes: []agentgateway.RouteConfig{{
		Name:     name,
		Matches:  []agentgateway.Match{{Path: agentgateway.PathMatch{Type: agentgateway.PathPrefix, Value: prefix}}},
		Backends: []agentgateway.WeightedBackend{{Handler: named(name), Weight: 1}},
	}}}
}

// start runs gw until the test ends, and checks that Run drains and returns nil.
func start(t *testing.T, gw *agentgateway.Gateway) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	t.Cleanup(func() {
		cancel()
		require.NoError(t, gw.Wait())
	})
}

// fetch returns the status and body of GET url, or status 0 when the connection failed.
func fetch(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReloadThatCannotBindChangesNothing is the regression test for a half-applied reload: the new
// table used to be swapped in before its ports were bound, so when a bind failed the old ports served
// the new table, and a port no listener named any more fell back to the first listener: the public
// port served the internal listener's /internal route.
func TestReloadThatCannotBindChangesNothing(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	taken, release := busyPort(t)
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"), agentgateway.WithDrainTimeout(5*time.Second))
	defer gw.Close()
	old := agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		listener("public", p1, "/public"),
		listener("internal", p2, "/internal"),
	}}
	require.NoError(t, gw.Apply(old))
	start(t, gw)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	url := func(port int, path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", port, path) }
	servesOld := func() {
		t.Helper()
		code, b := fetch(t, client, url(p1, "/public"))
		require.Equal(t, 200, code, b)
		require.Equal(t, "public", b)
		code, _ = fetch(t, client, url(p1, "/internal"))
		require.Equal(t, 404, code, "/internal is never reachable on the public port")
		code, b = fetch(t, client, url(p2, "/internal"))
		require.Equal(t, 200, code, b)
		require.Equal(t, "internal", b)
		code, _ = fetch(t, client, url(p2, "/public"))
		require.Equal(t, 404, code)
	}
	servesOld()

	// The public listener moves to a port that is taken: the internal listener comes first now, which is
	// what the old fallback served on the port no listener named.
	moved := agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		listener("internal", p2, "/internal"),
		listener("public", taken, "/public"),
	}}
	err := gw.Apply(moved)
	require.Error(t, err)
	require.True(t, errors.Is(err, syscall.EADDRINUSE), err)
	require.False(t, errors.Is(err, agentgateway.ErrInvalidConfig), "a bind failure is not a config error: retry it")
	require.Equal(t, p1, gw.Config().Listeners[0].Port, "the old table is kept")
	servesOld()

	// Once the port is free the same change applies in full; the dropped port stops accepting at once.
	release()
	require.NoError(t, gw.Apply(moved))
	code, b := fetch(t, client, url(taken, "/public"))
	require.Equal(t, 200, code, b)
	require.Equal(t, "public", b)
	code, _ = fetch(t, client, url(p1, "/internal"))
	require.Zero(t, code, "the dropped port is closed")
	code, b = fetch(t, client, url(p2, "/internal"))
	require.Equal(t, 200, code, b)
	require.Equal(t, "internal", b)
}

// TestUnnamedPortServesOnlyPortlessListeners: a request on a port no listener names (httptest here) is
// served by port-less listeners only, never by a listener bound to another port.
func TestUnnamedPortServesOnlyPortlessListeners(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	gw := agentgateway.New(quiet())
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		listener("internal", p2, "/internal"),
		listener("public", p1, "/public"),
		listener("shared", 0, "/shared", "shared.local"),
	}}))
	srv := httptest.NewServer(gw)
	defer srv.Close()
	for _, path := range []string{"/internal", "/public", "/"} {
		code, _ := fetch(t, srv.Client(), srv.URL+path)
		require.Equal(t, 404, code, path)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/shared", nil)
	req.Host = "shared.local"
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "shared", string(b))
	require.Equal(t, "internal", body(serve(t, gw.PortHandler(p2), "GET", "/internal")))
	require.Equal(t, "shared", body(serve(t, gw.PortHandler(p2), "GET", "/shared", "Host", "shared.local")), "port-less listeners serve every port")
	require.Equal(t, 404, serve(t, gw.PortHandler(p1), "GET", "/internal").Code)
}

// certFor makes a self-signed certificate for names (DNS names or IPs) and a pool that trusts it.
func certFor(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestTLSListenersShareAPortBySNI: HTTPS listeners on one port each get their own certificate and
// routes by the client's SNI (exact, then wildcard, then the listener without hostnames), over h2.
func TestTLSListenersShareAPortBySNI(t *testing.T) {
	port := freePort(t)
	certA, poolA := certFor(t, "a.example.com")
	certW, poolW := certFor(t, "*.example.com")
	certD, poolD := certFor(t, "127.0.0.1")
	withTLS := func(l agentgateway.ListenerConfig, c tls.Certificate) agentgateway.ListenerConfig {
		l.TLS = &tls.Config{Certificates: []tls.Certificate{c}}
		return l
	}
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"))
	defer gw.Close()
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		withTLS(listener("default", port, "/"), certD),
		withTLS(listener("wild", port, "/", "*.example.com"), certW),
		withTLS(listener("a", port, "/", "a.example.com"), certA),
	}}))
	start(t, gw)

	get := func(sni, host string, pool *x509.CertPool) (*http.Response, string) {
		t.Helper()
		// With no pool the certificate is checked by the caller: it is for another name on purpose.
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: sni, RootCAs: pool, InsecureSkipVerify: pool == nil}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		req, err := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/", port), nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := (&http.Client{Transport: tr}).Do(req)
		require.NoError(t, err, "sni %q", sni)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, c := range []struct {
		sni, want, cn string
		pool          *x509.CertPool
	}{
		{"a.example.com", "a", "a.example.com", poolA},
		{"b.example.com", "wild", "*.example.com", poolW},
		{"", "default", "127.0.0.1", poolD},
		{"other.org", "default", "127.0.0.1", nil},
	} {
		host := c.sni
		if host == "" {
			host = "127.0.0.1"
		}
		sni := c.sni
		if sni == "" {
			sni = "127.0.0.1" // Go sends no SNI for an IP address
		}
		resp, b := get(sni, host, c.pool)
		require.Equal(t, 200, resp.StatusCode, "sni %q: %s", c.sni, b)
		require.Equal(t, c.want, b, "sni %q", c.sni)
		require.Equal(t, c.cn, resp.TLS.PeerCertificates[0].Subject.CommonName)
		require.Equal(t, 2, resp.ProtoMajor, "h2 by ALPN")
	}

	// A connection made for one listener cannot reach another by its Host header: that listener's
	// certificate and client-certificate rules were never applied.
	resp, _ := get("b.example.com", "a.example.com", poolW)
	require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
}

// TestClientCertificateCannotBeBypassedBySNI: a listener that requires client certificates shares a
// port with one that does not; a client handshaking with the open listener's name and asking for the
// protected host is refused.
func TestClientCertificateCannotBeBypassedBySNI(t *testing.T) {
	port := freePort(t)
	certOpen, poolOpen := certFor(t, "open.example.com")
	certSec, _ := certFor(t, "secure.example.com")
	_, clientCAs := certFor(t, "client")
	open := listener("open", port, "/", "open.example.com")
	open.TLS = &tls.Config{Certificates: []tls.Certificate{certOpen}}
	sec := listener("secure", port, "/", "secure.example.com")
	sec.TLS = &tls.Config{Certificates: []tls.Certificate{certSec}, ClientCAs: clientCAs, ClientAuth: tls.RequireAndVerifyClientCert}
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"))
	defer gw.Close()
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{open, sec}}))
	start(t, gw)
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: "open.example.com", RootCAs: poolOpen}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/", port), nil)
		req.Host = "secure.example.com"
		resp, err := (&http.Client{Transport: tr}).Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode, "h2=%v: %s", h2, b)
		require.NotContains(t, string(b), "secure")
	}
}

// TestReloadTurnsTLSOnWithoutRebinding: a port switches from plain to TLS on reload; new connections
// handshake, and a kept-alive plain connection is told to reconnect instead of being served.
func TestReloadTurnsTLSOnWithoutRebinding(t *testing.T) {
	port := freePort(t)
	cert, pool := certFor(t, "127.0.0.1")
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"))
	defer gw.Close()
	l := listener("l", port, "/")
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{l}}))
	start(t, gw)
	plain := &http.Client{Transport: &http.Transport{}}
	defer plain.CloseIdleConnections()
	code, b := fetch(t, plain, fmt.Sprintf("http://127.0.0.1:%d/", port))
	require.Equal(t, 200, code, b)

	l.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{l}}))
	code, _ = fetch(t, plain, fmt.Sprintf("http://127.0.0.1:%d/", port))
	require.Equal(t, http.StatusMisdirectedRequest, code, "the kept-alive plain connection")
	secure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer secure.CloseIdleConnections()
	code, b = fetch(t, secure, fmt.Sprintf("https://127.0.0.1:%d/", port))
	require.Equal(t, 200, code, b)
	require.Equal(t, "l", b)
}

func TestTLSListenerConfigErrors(t *testing.T) {
	cert, _ := certFor(t, "a.example.com")
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	err := agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		{Name: "secure", Port: 8443, TLS: tc},
		{Name: "plain", Port: 8443},
		{Name: "portless", TLS: tc},
		{Name: "nocert", Port: 9443, TLS: &tls.Config{}},
	}}.Validate()
	require.ErrorIs(t, err, agentgateway.ErrInvalidConfig)
	for _, want := range []string{
		"listeners[1].tls: port 8443 mixes plain and TLS listeners",
		"listeners[2].tls: TLS needs a port",
		"listeners[3].tls: no certificate",
	} {
		require.Contains(t, err.Error(), want)
	}
}

func TestStartTwiceAndBindFailure(t *testing.T) {
	taken, _ := busyPort(t)
	free := freePort(t)
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"))
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		listener("a", free, "/"), listener("b", taken, "/"),
	}}))
	err := gw.Run(context.Background())
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	// Nothing stayed bound: the free port can be taken again.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", free))
	require.NoError(t, err)
	ln.Close()

	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{listener("a", free, "/")}}))
	start(t, gw)
	require.ErrorIs(t, gw.Start(context.Background()), agentgateway.ErrRunning)
}

// TestDroppedPortDrains: a port the new configuration no longer names stops accepting at once, and the
// request in flight on it finishes.
func TestDroppedPortDrains(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	started, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	})
	gw := agentgateway.New(quiet(), agentgateway.WithBindAddress("127.0.0.1"), agentgateway.WithDrainTimeout(10*time.Second))
	defer gw.Close()
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{{
		Name: "old", Port: p1, Routes: []agentgateway.RouteConfig{{Name: "slow", Backends: []agentgateway.WeightedBackend{{Handler: slow, Weight: 1}}}},
	}}}))
	start(t, gw)
	result := make(chan string, 1)
	go func() {
		_, b := fetch(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/", p1))
		result <- b
	}()
	<-started
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{listener("new", p2, "/")}}))
	code, _ := fetch(t, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, fmt.Sprintf("http://127.0.0.1:%d/", p1))
	require.Zero(t, code, "the dropped port accepts nothing new")
	close(release)
	require.Equal(t, "finished", <-result)
	code, b := fetch(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/", p2))
	require.Equal(t, 200, code, b)
	http.DefaultClient.CloseIdleConnections()
}
