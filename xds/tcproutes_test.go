package xds_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentgw/agentgateway/xds"
)

// A TCP or TLS listener's tcpRoutes travel with it over xDS (they were refused as "not supported
// over xDS", so a Kubernetes TLSRoute or TCPRoute never reached a replica) and come back unchanged.
func TestListenerTCPRoutesRoundTrip(t *testing.T) {
	routes := []any{map[string]any{"name": "r", "hostnames": []any{"a.example.com"},
		"backends": []any{map[string]any{"host": "10.0.0.1:8443", "weight": float64(2)}}}}
	in, err := json.Marshal(map[string]any{"binds": []any{map[string]any{"port": 443, "listeners": []any{
		map[string]any{"name": "tls", "protocol": "TLS", "hostname": "*.example.com", "tcpRoutes": routes}}}}})
	require.NoError(t, err)
	r, err := xds.FromYAML(in)
	require.NoError(t, err)
	doc, _, err := r.Document()
	require.NoError(t, err)
	var out struct {
		Binds []struct {
			Listeners []map[string]any `json:"listeners"`
		} `json:"binds"`
	}
	require.NoError(t, json.Unmarshal(doc, &out))
	require.Equal(t, routes, out.Binds[0].Listeners[0]["tcpRoutes"])

	_, err = xds.FromYAML([]byte(`{"binds":[{"port":443,"listeners":[{"name":"tls","tcpRoutes":{"not":"a list"}}]}]}`))
	require.ErrorIs(t, err, xds.ErrInvalidResource)
	require.ErrorContains(t, err, "tcpRoutes: want a list")
}
