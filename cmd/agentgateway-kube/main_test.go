package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/gwapi"
	"github.com/agentgw/agentgateway/xds"
)

// `agentgateway-kube` refuses bad flags with usage exit 2 and an unreadable kubeconfig with exit 1
// and the reason, before touching any cluster.
func TestKubeSubcommandErrors(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, 2, runKube(context.Background(), []string{"--address", "not-an-ip"}, &stderr))
	require.Contains(t, stderr.String(), `--address "not-an-ip" is not an IP address`)

	stderr.Reset()
	require.Equal(t, 2, runKube(context.Background(), []string{"extra"}, &stderr))
	require.Contains(t, stderr.String(), "unexpected arguments")

	stderr.Reset()
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(bad, []byte("not: [a kubeconfig"), 0o600))
	require.Equal(t, 1, runKube(context.Background(), []string{"--kubeconfig", bad}, &stderr))
	require.Contains(t, stderr.String(), "kubernetes config")
}

func TestKubeFlagsDefaults(t *testing.T) {
	t.Setenv("POD_IP", "10.1.2.3")
	f, err := parseKubeFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "agentgateway.dev/gwapi", f.controllerName)
	require.Equal(t, "10.1.2.3", f.address, "the status address defaults to the pod's IP")
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// --leader-elect and its Lease flags reach RunKube's options; the Lease flags alone are refused,
// since without --leader-elect they would silently do nothing.
func TestKubeLeaderElectionFlags(t *testing.T) {
	f, err := parseKubeFlags([]string{"--leader-elect", "--leader-election-namespace", "agw-system", "--leader-election-id", "agw-leader"}, &bytes.Buffer{})
	require.NoError(t, err)
	ko := kubeOptions(f, nil, slog.Default())
	require.NotNil(t, ko.LeaderElection)
	require.Equal(t, gwapi.LeaderElection{Namespace: "agw-system", ID: "agw-leader"}, *ko.LeaderElection)

	f, err = parseKubeFlags([]string{"--leader-elect"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, gwapi.LeaderElection{ID: gwapi.DefaultLeaderElectionID}, *kubeOptions(f, nil, slog.Default()).LeaderElection)

	f, err = parseKubeFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	require.Nil(t, kubeOptions(f, nil, slog.Default()).LeaderElection, "no election unless asked for")

	var stderr bytes.Buffer
	require.Equal(t, 2, runKube(context.Background(), []string{"--leader-election-namespace", "x"}, &stderr))
	require.Contains(t, stderr.String(), "need --leader-elect")
}

// --xds-serve turns the process into a control plane: no local data plane, and each translation
// is published on the xDS server it starts (a data plane connecting there gets the routes); a bad
// address is refused as usage.
func TestKubeXDSServe(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, 2, runKube(context.Background(), []string{"--xds-serve", "nocolon"}, &stderr))
	require.Contains(t, stderr.String(), `--xds-serve "nocolon"`)

	f, err := parseKubeFlags([]string{"--xds-serve", "127.0.0.1:0"}, &bytes.Buffer{})
	require.NoError(t, err)
	ko := kubeOptions(f, nil, slog.Default())
	require.Nil(t, ko.Publish, "no publishing without a control plane")
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := controlPlane(ctx, ln, "", &ko, slog.New(slog.DiscardHandler))
	require.True(t, ko.NoDataPlane)
	require.NotNil(t, ko.Publish)

	snap, err := gwapi.DecodeManifests(strings.NewReader(`
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
  listeners: [{name: http, protocol: HTTP, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{filters: [{type: RequestRedirect, requestRedirect: {hostname: moved.example, statusCode: 301}}]}]
`))
	require.NoError(t, err)
	require.NoError(t, ko.Publish(gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi"})))

	replica := agentgateway.New()
	defer func() { _ = replica.Close() }()
	c, err := xds.NewClient("http://"+ln.Addr().String(), xds.ClientOptions{Node: &corev3.Node{Id: "r1"}, Logger: slog.New(slog.DiscardHandler)},
		func(rt *config.Runtime) error { return replica.Apply(rt.Config) })
	require.NoError(t, err)
	go c.Run(ctx)
	select {
	case <-c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("no config from --xds-serve")
	}
	rec := httptest.NewRecorder()
	replica.PortHandler(8080).ServeHTTP(rec, httptest.NewRequest("GET", "http://gw/x", nil))
	require.Equal(t, 301, rec.Code)
	require.Equal(t, "http://moved.example:8080/x", rec.Header().Get("Location"))
	cancel()
	_ = c.Close()
	require.NoError(t, <-done)
}

// In a cluster a Gateway's requested IP (a load balancer's, say) is never bindable by the
// controller's pod: the controller accepts it rather than leave the Gateway unserved.
func TestKubeAcceptsRequestedAddresses(t *testing.T) {
	f, err := parseKubeFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	ko := kubeOptions(f, nil, slog.Default())
	require.NotNil(t, ko.Options.AddressUsable)
	require.NoError(t, ko.Options.AddressUsable(nil, "192.0.2.1"), "TEST-NET-1 is never bindable here")
}
