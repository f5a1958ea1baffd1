package gwapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// failingPlane rejects configurations while fail is set, as a data plane that cannot bind a port does.
type failingPlane struct {
	fail    bool
	applied int
}

func (p *failingPlane) Apply(types.NamespacedName, *agentgateway.Config) error {
	if p.fail {
		return errors.New("binding port 80: address already in use")
	}
	p.applied++
	return nil
}

// A Gateway whose configuration the data plane rejects is not reported Programmed, and the controller
// applies it again on later polls until it takes (without any object changing).
func TestControllerReportsRejectedConfigurationNotProgrammed(t *testing.T) {
	ctx := context.Background()
	api := newAPIServer(newScheme())
	snap, err := gwapi.DecodeManifests(strings.NewReader(base))
	require.NoError(t, err)
	for _, o := range []client.Object{&snap.GatewayClasses[0], &snap.Gateways[0]} {
		require.NoError(t, api.Create(ctx, o))
	}
	plane := &failingPlane{fail: true}
	ctl := &gwapi.Controller{Cluster: api, DataPlane: plane, Options: gwapi.Options{ControllerName: "agentgateway.dev/gwapi"}}
	require.ErrorContains(t, ctl.Sync(ctx), "address already in use")
	key := types.NamespacedName{Namespace: "infra", Name: "gw"}
	programmed := func() (gw, listener metav1.ConditionStatus) {
		var g gwv1.Gateway
		require.NoError(t, api.Get(ctx, key, &g))
		require.NotEmpty(t, g.Status.Listeners)
		return meta.FindStatusCondition(g.Status.Conditions, "Programmed").Status,
			meta.FindStatusCondition(g.Status.Listeners[0].Conditions, "Programmed").Status
	}
	gs, ls := programmed()
	require.Equal(t, metav1.ConditionFalse, gs, "Gateway Programmed")
	require.Equal(t, metav1.ConditionFalse, ls, "listener Programmed")

	plane.fail = false
	require.NoError(t, ctl.Sync(ctx))
	require.Equal(t, 1, plane.applied, "retried without any object changing")
	gs, ls = programmed()
	require.Equal(t, metav1.ConditionTrue, gs)
	require.Equal(t, metav1.ConditionTrue, ls)
}
