package xds_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/agentgw/agentgateway/xds"
)

// rawStream is a Delta ADS stream driven by hand, to check the protocol the server speaks.
type rawStream struct {
	t  *testing.T
	st grpc.BidiStreamingClient[discovery.DeltaDiscoveryRequest, discovery.DeltaDiscoveryResponse]
}

func openRaw(t *testing.T, addr string) *rawStream {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(func() { cancel(); conn.Close() })
	st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	require.NoError(t, err)
	return &rawStream{t: t, st: st}
}

func (r *rawStream) send(req *discovery.DeltaDiscoveryRequest) {
	r.t.Helper()
	require.NoError(r.t, r.st.Send(req))
}

func (r *rawStream) recv() *discovery.DeltaDiscoveryResponse {
	r.t.Helper()
	resp, err := r.st.Recv()
	require.NoError(r.t, err)
	return resp
}

func names(resp *discovery.DeltaDiscoveryResponse) []string {
	var out []string
	for _, r := range resp.GetResources() {
		out = append(out, r.GetName())
	}
	return out
}

// routesDoc is a config with the ping route and one route per name.
func routesDoc(port int, routes ...string) string {
	extra := ""
	for _, r := range routes {
		extra += "    - name: " + r + "\n      matches: [{path: {exact: /" + r + "}}]\n      policies: {directResponse: {status: 200, body: x}}\n"
	}
	return cfg(port, "v", extra)
}

// Every subscribed type gets a first response, even an empty one (the data plane waits for all of
// them before it builds); a type's next response waits for the ACK of the last and then carries
// everything that changed meanwhile.
func TestDeltaOneResponseInFlightPerType(t *testing.T) {
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	port := freePort(t)
	require.NoError(t, srv.SetYAML([]byte(routesDoc(port, "a"))))
	r := openRaw(t, controlPlane(t, srv))
	r.send(&discovery.DeltaDiscoveryRequest{TypeUrl: xds.TypePolicy, ResourceNamesSubscribe: []string{"*"}, Node: &corev3.Node{Id: "n"}})
	first := r.recv()
	require.Equal(t, xds.TypePolicy, first.GetTypeUrl())
	require.Empty(t, first.GetResources(), "no policies: the first response is empty but sent")

	r.send(&discovery.DeltaDiscoveryRequest{TypeUrl: xds.TypeRoute, ResourceNamesSubscribe: []string{"*"}})
	routes := r.recv()
	require.Equal(t, xds.TypeRoute, routes.GetTypeUrl())
	require.Len(t, routes.GetResources(), 2, "ping and a")

	// Two changes before the ACK: nothing is sent for routes until it comes, then one response
	// with the latest state.
	require.NoError(t, srv.SetYAML([]byte(routesDoc(port, "a", "b"))))
	require.NoError(t, srv.SetYAML([]byte(routesDoc(port, "b", "c"))))
	r.send(&discovery.DeltaDiscoveryRequest{TypeUrl: xds.TypeRoute, ResponseNonce: routes.GetNonce()})
	next := r.recv()
	require.Equal(t, xds.TypeRoute, next.GetTypeUrl())
	require.NotEqual(t, routes.GetNonce(), next.GetNonce())
	require.Equal(t, []string{"b", "c"}, names(next), "b moved, c is new; ping did not change")
	// The removal of a follows once the additions were answered.
	r.send(&discovery.DeltaDiscoveryRequest{TypeUrl: xds.TypeRoute, ResponseNonce: next.GetNonce()})
	rm := r.recv()
	require.Empty(t, rm.GetResources())
	require.Equal(t, []string{"a"}, rm.GetRemovedResources())
}

// A data plane that reconnects with the versions it holds gets only what changed, and the removal
// of what is gone, in its first response.
func TestDeltaReconnectSendsOnlyTheDifference(t *testing.T) {
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	port := freePort(t)
	require.NoError(t, srv.SetYAML([]byte(routesDoc(port, "a", "b"))))
	addr := controlPlane(t, srv)
	r := openRaw(t, addr)
	r.send(&discovery.DeltaDiscoveryRequest{TypeUrl: xds.TypeRoute, ResourceNamesSubscribe: []string{"*"}})
	held := map[string]string{}
	for _, res := range r.recv().GetResources() {
		held[res.GetName()] = res.GetVersion()
	}
	require.Len(t, held, 3)

	require.NoError(t, srv.SetYAML([]byte(routesDoc(port, "a", "c"))))
	again := openRaw(t, addr)
	again.send(&discovery.DeltaDiscoveryRequest{TypeUrl: xds.TypeRoute, ResourceNamesSubscribe: []string{"*"}, InitialResourceVersions: held})
	resp := again.recv()
	require.Len(t, resp.GetResources(), 1, "only c is new: %v", names(resp))
	require.Equal(t, "c", resp.GetResources()[0].GetName())
	require.Len(t, resp.GetRemovedResources(), 1)
	require.Equal(t, "b", resp.GetRemovedResources()[0])
}

// A request for a type the server does not serve ends the stream with InvalidArgument.
func TestDeltaUnknownTypeRefused(t *testing.T) {
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	r := openRaw(t, controlPlane(t, srv))
	r.send(&discovery.DeltaDiscoveryRequest{TypeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster", ResourceNamesSubscribe: []string{"*"}})
	_, err := r.st.Recv()
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
}
