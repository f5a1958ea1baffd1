package gwapi_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

const l4Manifests = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: agw
  listeners:
  - {name: tls, protocol: TLS, port: 443, hostname: "*.example.com", tls: {mode: Passthrough}}
  - {name: tcp, protocol: TCP, port: 9000}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: tls, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: tls}]
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: tls-echo, port: 8443}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: tcp, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: tcp}]
  rules: [{backendRefs: [{name: tcp-echo, port: 9000}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: http-on-tls, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: tls}]
  rules: [{backendRefs: [{name: tcp-echo, port: 9000}]}]
---
apiVersion: v1
kind: Service
metadata: {name: tls-echo, namespace: infra}
spec: {ports: [{name: tls, port: 8443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: tls-echo, namespace: infra, labels: {kubernetes.io/service-name: tls-echo}}
addressType: IPv4
ports: [{name: tls, port: 8443}]
endpoints: [{addresses: [10.0.0.1]}]
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: infra}
spec: {ports: [{name: tcp, port: 9000}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: tcp-echo, namespace: infra, labels: {kubernetes.io/service-name: tcp-echo}}
addressType: IPv4
ports: [{name: tcp, port: 9000}]
endpoints: [{addresses: [10.0.0.2]}]
`

// A TLS passthrough listener routes connections by SNI to the TLSRoute's Service without
// decrypting them (the client sees the backend's own certificate), a TCP listener proxies bytes to
// the TCPRoute's Service, and an HTTPRoute cannot attach to the TLS listener (NotAllowedByListeners).
func TestTLSPassthroughAndTCPRoutes(t *testing.T) {
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "tls-backend") }))
	defer tlsBackend.Close()
	tcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() { _ = tcpLn.Close() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := tcpLn.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(c, c)
			_ = c.Close()
		}
	}()
	pods := map[string]string{"10.0.0.1:8443": tlsBackend.Listener.Addr().String(), "10.0.0.2:9000": tcpLn.Addr().String()}
	snap, err := gwapi.DecodeManifests(strings.NewReader(l4Manifests))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, pods[addr])
	}})
	require.Equal(t, "True", string(res.TLSRoutes[types.NamespacedName{Namespace: "infra", Name: "tls"}][0].Conditions[0].Status))
	require.Equal(t, "True", string(res.TCPRoutes[types.NamespacedName{Namespace: "infra", Name: "tcp"}][0].Conditions[0].Status))
	require.Equal(t, "NotAllowedByListeners", routeCond(t, res, "infra", "http-on-tls", "Accepted").Reason)
	st := res.Gateways[types.NamespacedName{Namespace: "infra", Name: "gw"}]
	require.Len(t, st.Listeners, 2)
	for _, l := range st.Listeners {
		require.Equal(t, int32(1), l.AttachedRoutes, "listener %s: only its own kind of route attaches", l.Name)
		require.Equal(t, "True", string(l.Conditions[2].Status), "listener %s programmed", l.Name)
	}

	var mu sync.Mutex
	socks := map[int]string{}
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)), agentgateway.WithAccessLog(false),
		agentgateway.WithDrainTimeout(time.Second), agentgateway.WithListenFunc(func(port int) (net.Listener, error) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err == nil {
				mu.Lock()
				socks[port] = ln.Addr().String()
				mu.Unlock()
			}
			return ln, err
		}))
	require.NoError(t, gw.Apply(res.Configs[types.NamespacedName{Namespace: "infra", Name: "gw"}]))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	defer func() {
		cancel()
		_ = gw.Wait()
		_ = gw.Close()
	}()

	// TLS passthrough by SNI.
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	tc, err := tls.DialWithDialer(dialer, "tcp", socks[443], &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true})
	require.NoError(t, err)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	require.True(t, tc.ConnectionState().PeerCertificates[0].Equal(tlsBackend.Certificate()), "the backend's own certificate: not terminated")
	_, err = fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	body, _ := io.ReadAll(tc)
	_ = tc.Close()
	require.Contains(t, string(body), "tls-backend")
	// An SNI no TLSRoute names gets no backend.
	if tc, err := tls.DialWithDialer(dialer, "tcp", socks[443], &tls.Config{ServerName: "b.example.com", InsecureSkipVerify: true}); err == nil {
		_ = tc.Close()
		t.Fatal("a connection for an unrouted SNI must not reach a backend")
	}

	// TCP.
	c, err := dialer.Dial("tcp", socks[9000])
	require.NoError(t, err)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(c, "ping")
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
	_ = c.Close()
}
