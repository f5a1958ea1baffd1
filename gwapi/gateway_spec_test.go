package gwapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	v1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentgw/agentgateway/gwapi"
)

// TestGatewaySpecInfrastructureAndAddresses: what a Gateway asks of its infrastructure that the
// embedded data plane cannot honour is reported as the API says, and the Gateway serves nothing: a
// parametersRef (no kind is supported) is Accepted=False/InvalidParameters, an address type other
// than IPAddress Accepted=False/UnsupportedAddress, an IP it cannot use Accepted but
// Programmed=False/AddressNotUsable with no status address. A usable static IP is the status
// address; an IPAddress without a value is left to Options.Addresses.
func TestGatewaySpecInfrastructureAndAddresses(t *testing.T) {
	gw := func(name, extra string) string {
		return `
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ` + name + `, namespace: infra, generation: 2}
spec:
  gatewayClassName: agw
  listeners: [{name: http, protocol: HTTP, port: 8080}]
` + extra
	}
	snap, err := gwapi.DecodeManifests(strings.NewReader(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}` +
		gw("params", "  infrastructure: {parametersRef: {group: invalid.io, kind: InvalidParameters, name: invalid}}") +
		gw("labels", "  infrastructure: {labels: {a: b}}") +
		gw("hostname", "  addresses: [{type: Hostname, value: gw.example.com}, {type: IPAddress, value: 10.1.1.1}]") +
		gw("notip", "  addresses: [{type: IPAddress, value: not-an-ip}]") +
		gw("unusable", "  addresses: [{type: IPAddress, value: 192.0.2.1}]") +
		gw("usable", "  addresses: [{value: 10.1.1.1}]") +
		gw("empty", "  addresses: [{type: IPAddress}]")))
	require.NoError(t, err)
	usable := func(_ *gwv1.Gateway, ip string) error {
		if ip == "10.1.1.1" {
			return nil
		}
		return gwapi.ErrAddressNotUsable
	}
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi", AddressUsable: usable,
		Addresses: func(*gwv1.Gateway) []gwv1.GatewayStatusAddress {
			return []gwv1.GatewayStatusAddress{{Type: ptrTo(gwv1.IPAddressType), Value: "127.0.0.9"}}
		}})
	state := func(name, typ string) string {
		for _, c := range res.Gateways[types.NamespacedName{Namespace: "infra", Name: name}].Conditions {
			if c.Type == typ {
				require.Equal(t, int64(2), c.ObservedGeneration)
				return string(c.Status) + "/" + c.Reason
			}
		}
		return ""
	}
	addrs := func(name string) []string {
		var out []string
		for _, a := range res.Gateways[types.NamespacedName{Namespace: "infra", Name: name}].Addresses {
			out = append(out, a.Value)
		}
		return out
	}
	served := func(name string) bool {
		return len(res.Configs[types.NamespacedName{Namespace: "infra", Name: name}].Listeners) > 0
	}
	for name, want := range map[string][2]string{
		"params":   {"False/InvalidParameters", "False/Invalid"},
		"hostname": {"False/UnsupportedAddress", "False/Invalid"},
		"notip":    {"False/UnsupportedAddress", "False/Invalid"},
		"unusable": {"True/Accepted", "False/AddressNotUsable"},
	} {
		require.Equal(t, want[0], state(name, "Accepted"), name)
		require.Equal(t, want[1], state(name, "Programmed"), name)
		require.Empty(t, addrs(name), "%s: no address is assigned", name)
		require.False(t, served(name), "%s serves nothing", name)
		for _, l := range res.Gateways[types.NamespacedName{Namespace: "infra", Name: name}].Listeners {
			for _, c := range l.Conditions {
				if c.Type == "Programmed" {
					require.Equal(t, v1.ConditionFalse, c.Status, "%s: its listeners are not programmed", name)
				}
			}
		}
	}
	for name, want := range map[string]string{"labels": "127.0.0.9", "usable": "10.1.1.1", "empty": "127.0.0.9"} {
		require.Equal(t, "True/Accepted", state(name, "Accepted"), name)
		require.Equal(t, "True/Programmed", state(name, "Programmed"), name)
		require.Equal(t, []string{want}, addrs(name), name)
		require.True(t, served(name), name)
	}
	var cond v1.Condition
	for _, c := range res.Gateways[types.NamespacedName{Namespace: "infra", Name: "params"}].Conditions {
		if c.Type == "Accepted" {
			cond = c
		}
	}
	require.Contains(t, cond.Message, "InvalidParameters.invalid.io invalid")
	require.True(t, errors.Is(usable(nil, "x"), gwapi.ErrAddressNotUsable))
}

// TestGatewayStaticAddressDefaultCheck: without Options.AddressUsable, a static IP is usable when
// the process can listen on it (loopback; not TEST-NET-1, which no interface has) or when it is the
// address the embedder reports for the Gateway (Options.Addresses, e.g. a load balancer's).
func TestGatewayStaticAddressDefaultCheck(t *testing.T) {
	snap, err := gwapi.DecodeManifests(strings.NewReader(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: agw}
spec: {controllerName: agentgateway.dev/gwapi}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: lo, namespace: infra}
spec:
  gatewayClassName: agw
  addresses: [{value: 127.0.0.1}]
  listeners: [{name: http, protocol: HTTP, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: testnet, namespace: infra}
spec:
  gatewayClassName: agw
  addresses: [{value: 192.0.2.1}]
  listeners: [{name: http, protocol: HTTP, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: lb, namespace: infra}
spec:
  gatewayClassName: agw
  addresses: [{value: 192.0.2.7}]
  listeners: [{name: http, protocol: HTTP, port: 8080}]
`))
	require.NoError(t, err)
	res := gwapi.Translate(snap, gwapi.Options{ControllerName: "agentgateway.dev/gwapi",
		Addresses: func(*gwv1.Gateway) []gwv1.GatewayStatusAddress {
			return []gwv1.GatewayStatusAddress{{Type: ptrTo(gwv1.IPAddressType), Value: "192.0.2.7"}}
		}})
	prog := func(name string) v1.Condition {
		for _, c := range res.Gateways[types.NamespacedName{Namespace: "infra", Name: name}].Conditions {
			if c.Type == "Programmed" {
				return c
			}
		}
		return v1.Condition{}
	}
	require.Equal(t, v1.ConditionTrue, prog("lo").Status)
	require.Equal(t, "AddressNotUsable", prog("testnet").Reason)
	require.Contains(t, prog("testnet").Message, "192.0.2.1")
	require.Equal(t, v1.ConditionTrue, prog("lb").Status, "the embedder's own address is usable")
}
