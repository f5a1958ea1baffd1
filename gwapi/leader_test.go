package gwapi_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

// With leader election the manager takes a Lease in the given namespace under the given (or
// default) name and hands it over on shutdown; without it, no election happens.
func TestManagerOptionsLeaderElection(t *testing.T) {
	s, err := gwapi.Scheme()
	require.NoError(t, err)
	o := gwapi.ManagerOptions(gwapi.KubeOptions{}, s, slog.Default())
	require.False(t, o.LeaderElection)

	o = gwapi.ManagerOptions(gwapi.KubeOptions{LeaderElection: &gwapi.LeaderElection{Namespace: "agw-system"}}, s, slog.Default())
	require.True(t, o.LeaderElection)
	require.Equal(t, resourcelock.LeasesResourceLock, o.LeaderElectionResourceLock)
	require.Equal(t, "agw-system", o.LeaderElectionNamespace)
	require.Equal(t, gwapi.DefaultLeaderElectionID, o.LeaderElectionID)
	require.True(t, o.LeaderElectionReleaseOnCancel)

	o = gwapi.ManagerOptions(gwapi.KubeOptions{LeaderElection: &gwapi.LeaderElection{ID: "mine"}}, s, slog.Default())
	require.Equal(t, "mine", o.LeaderElectionID)
}

// A replica that is not the leader programs its data plane (it serves traffic) but writes no
// status; once elected it writes them on its next sync, with no input change needed.
func TestControllerNonLeaderWritesNoStatus(t *testing.T) {
	ctx := context.Background()
	api := newAPIServer(newScheme())
	snap, err := gwapi.DecodeManifests(strings.NewReader(base + `
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
`))
	require.NoError(t, err)
	for _, o := range []client.Object{&snap.GatewayClasses[0], &snap.Gateways[0], &snap.HTTPRoutes[0], &snap.Services[0], &snap.EndpointSlices[0]} {
		require.NoError(t, api.Create(ctx, o))
	}
	var leader atomic.Bool
	plane := &recordingPlane{applied: map[types.NamespacedName]*agentgateway.Config{}}
	ctl := &gwapi.Controller{Cluster: api, DataPlane: plane, Options: gwapi.Options{ControllerName: "agentgateway.dev/gwapi"},
		Leader: leader.Load}
	require.NoError(t, ctl.Sync(ctx))
	key := types.NamespacedName{Namespace: "infra", Name: "gw"}
	require.NotNil(t, plane.applied[key], "a non-leader still serves the Gateway")

	var gw gwv1.Gateway
	var gc gwv1.GatewayClass
	var r gwv1.HTTPRoute
	require.NoError(t, api.Get(ctx, key, &gw))
	require.NoError(t, api.Get(ctx, types.NamespacedName{Name: snap.GatewayClasses[0].Name}, &gc))
	require.NoError(t, api.Get(ctx, types.NamespacedName{Namespace: "infra", Name: "r"}, &r))
	require.Empty(t, gw.Status.Conditions, "a non-leader must not write Gateway status")
	require.Empty(t, gc.Status.Conditions, "a non-leader must not write GatewayClass status")
	require.Empty(t, r.Status.Parents, "a non-leader must not write route status")

	leader.Store(true)
	require.NoError(t, ctl.Sync(ctx))
	require.NoError(t, api.Get(ctx, key, &gw))
	require.NoError(t, api.Get(ctx, types.NamespacedName{Namespace: "infra", Name: "r"}, &r))
	require.Len(t, gw.Status.Conditions, 2)
	require.Len(t, r.Status.Parents, 1)
}
