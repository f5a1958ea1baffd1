package gwapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
)

type recordingPlane struct {
	applied map[types.NamespacedName]*agentgateway.Config
}

func (p *recordingPlane) Apply(k types.NamespacedName, cfg *agentgateway.Config) error {
	p.applied[k] = cfg
	return nil
}

// The controller writes statuses at the objects' generation, and a sync that changes nothing writes
// nothing (no status churn, no resourceVersion bumps that would wake other controllers).
func TestControllerWritesStatusOnce(t *testing.T) {
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
	objs := []client.Object{&snap.GatewayClasses[0], &snap.Gateways[0], &snap.HTTPRoutes[0], &snap.Services[0], &snap.EndpointSlices[0]}
	for _, o := range objs {
		require.NoError(t, api.Create(ctx, o))
	}
	plane := &recordingPlane{applied: map[types.NamespacedName]*agentgateway.Config{}}
	ctl := &gwapi.Controller{Cluster: api, DataPlane: plane, Options: gwapi.Options{ControllerName: "agentgateway.dev/gwapi"}}
	require.NoError(t, ctl.Sync(ctx))
	key := types.NamespacedName{Namespace: "infra", Name: "gw"}
	require.NotNil(t, plane.applied[key])

	var gw gwv1.Gateway
	require.NoError(t, api.Get(ctx, key, &gw))
	require.Len(t, gw.Status.Conditions, 2)
	for _, c := range gw.Status.Conditions {
		require.Equal(t, "True", string(c.Status), c.Type)
		require.Equal(t, gw.Generation, c.ObservedGeneration)
	}
	require.Equal(t, int32(1), gw.Status.Listeners[0].AttachedRoutes)
	var r gwv1.HTTPRoute
	require.NoError(t, api.Get(ctx, types.NamespacedName{Namespace: "infra", Name: "r"}, &r))
	require.Len(t, r.Status.Parents, 1)
	require.Equal(t, gwv1.GatewayController("agentgateway.dev/gwapi"), r.Status.Parents[0].ControllerName)

	rv := []string{gw.ResourceVersion, r.ResourceVersion}
	require.NoError(t, ctl.Sync(ctx))
	require.NoError(t, api.Get(ctx, key, &gw))
	require.NoError(t, api.Get(ctx, types.NamespacedName{Namespace: "infra", Name: "r"}, &r))
	require.Equal(t, rv, []string{gw.ResourceVersion, r.ResourceVersion}, "an idle sync must not rewrite statuses")

	// Deleting the Gateway stops its data plane.
	require.NoError(t, api.Delete(ctx, &gw))
	require.NoError(t, ctl.Sync(ctx))
	require.Contains(t, plane.applied, key)
	require.Nil(t, plane.applied[key])
}
