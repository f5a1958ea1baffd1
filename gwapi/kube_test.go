package gwapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/gwapi"
	agwv1a1 "github.com/agentgw/agentgateway/gwapi/apis/v1alpha1"
)

// The scheme RunKube's manager uses knows every kind the controller lists.
func TestSchemeKnowsEveryKind(t *testing.T) {
	s, err := gwapi.Scheme()
	require.NoError(t, err)
	for _, gvk := range []schema.GroupVersionKind{
		{Group: gwv1.GroupName, Version: "v1", Kind: "GatewayClassList"}, {Group: gwv1.GroupName, Version: "v1", Kind: "GRPCRouteList"},
		{Group: gwv1.GroupName, Version: "v1", Kind: "TLSRouteList"}, {Group: gwv1.GroupName, Version: "v1", Kind: "TCPRouteList"},
		{Group: "agentgateway.dev", Version: "v1alpha1", Kind: "AgentgatewayBackendList"}, {Group: "agentgateway.dev", Version: "v1alpha1", Kind: "AgentgatewayPolicyList"},
		{Group: "inference.networking.k8s.io", Version: "v1", Kind: "InferencePoolList"},
		{Version: "v1", Kind: "PodList"}, {Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSliceList"},
	} {
		require.True(t, s.Recognizes(gvk), gvk.String())
	}
}

// Through the Cluster interface (here controller-runtime's fake client, as in a cluster the
// manager's client), the controller writes GRPCRoute, TLSRoute and AgentgatewayPolicy statuses; a
// client whose scheme lacks the optional kinds still translates the rest.
func TestControllerWritesNewKindsStatus(t *testing.T) {
	ctx := context.Background()
	snap, err := gwapi.DecodeManifests(strings.NewReader(base + `
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: t, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {name: p, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  traffic: {timeouts: {request: 5s}}
`))
	require.NoError(t, err)
	objs := []client.Object{&snap.GatewayClasses[0], &snap.Gateways[0], &snap.Services[0], &snap.EndpointSlices[0],
		&snap.GRPCRoutes[0], &snap.TLSRoutes[0], &snap.Policies[0]}
	api := newAPIServer(newScheme())
	for _, o := range objs {
		require.NoError(t, api.Create(ctx, o))
	}
	plane := &recordingPlane{applied: map[types.NamespacedName]*agentgateway.Config{}}
	ctl := &gwapi.Controller{Cluster: api, DataPlane: plane, Options: gwapi.Options{ControllerName: "agentgateway.dev/gwapi"}}
	require.NoError(t, ctl.Sync(ctx))

	var g gwv1.GRPCRoute
	require.NoError(t, api.Get(ctx, types.NamespacedName{Namespace: "infra", Name: "g"}, &g))
	require.Len(t, g.Status.Parents, 1)
	require.Equal(t, "True", string(g.Status.Parents[0].Conditions[0].Status), "the GRPCRoute attaches to the HTTP listener")
	var tr gwv1.TLSRoute
	require.NoError(t, api.Get(ctx, types.NamespacedName{Namespace: "infra", Name: "t"}, &tr))
	require.Len(t, tr.Status.Parents, 1)
	require.Equal(t, string(gwv1.RouteReasonNotAllowedByListeners), tr.Status.Parents[0].Conditions[0].Reason, "a TLSRoute cannot attach to an HTTP listener")
	var p agwv1a1.AgentgatewayPolicy
	require.NoError(t, api.Get(ctx, types.NamespacedName{Namespace: "infra", Name: "p"}, &p))
	require.Len(t, p.Status.Ancestors, 1)
	require.Equal(t, "True", string(p.Status.Ancestors[0].Conditions[0].Status))

	// A cluster without the optional CRDs (a client whose scheme lacks them) still serves Gateways.
	plain := fake.NewClientBuilder().WithScheme(newPlainScheme(t)).WithStatusSubresource(&gwv1.Gateway{}, &gwv1.GatewayClass{}).
		WithObjects(&snap.GatewayClasses[0], &snap.Gateways[0]).Build()
	plane = &recordingPlane{applied: map[types.NamespacedName]*agentgateway.Config{}}
	ctl = &gwapi.Controller{Cluster: plain, DataPlane: plane, Options: gwapi.Options{ControllerName: "agentgateway.dev/gwapi"}}
	require.NoError(t, ctl.Sync(ctx))
	require.NotNil(t, plane.applied[types.NamespacedName{Namespace: "infra", Name: "gw"}])
}

func newPlainScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, gwv1.Install(s))
	return s
}
