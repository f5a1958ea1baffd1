package config

import (
	"context"
	"net"

	"gopkg.in/yaml.v3"

	agentgateway "github.com/agentgw/agentgateway"
)

// tunnelPolicy is backendTunnel on an HTTP route backend: the backend's connections go through an
// HTTP CONNECT proxy. Like health, it shapes the backend itself (how it dials), so it is taken out of
// the backend's policies and handed to the backend's builder.
type tunnelPolicy struct {
	spec TunnelSpec
	path string // of the backend spec that must consume it
	at   string // of the policy, for errors
	used bool
}

// takeTunnel removes `backendTunnel` from a backend's policies and decodes it for the backend at
// specPath.
func takeTunnel(policies Node, specPath string) (Node, *tunnelPolicy, error) {
	if policies.IsZero() || policies.n.Kind != yaml.MappingNode {
		return policies, nil, nil
	}
	var out *tunnelPolicy
	rest := *policies.n
	rest.Content = nil
	for i := 0; i+1 < len(policies.n.Content); i += 2 {
		k, v := policies.n.Content[i], policies.n.Content[i+1]
		if k.Value != "backendTunnel" {
			rest.Content = append(rest.Content, k, v)
			continue
		}
		if v.Tag == "!!null" {
			continue
		}
		fp := joinPath(policies.path, "backendTunnel")
		t, err := Decode[TunnelSpec](Node{n: v, path: fp})
		if err != nil {
			return policies, nil, err
		}
		out = &tunnelPolicy{spec: t, path: specPath, at: fp}
	}
	if len(rest.Content) == 0 {
		return Node{}, out, nil
	}
	return Node{n: &rest, path: policies.path}, out, nil
}

// applyTunnel has cfg dial through the backendTunnel proxy meant for the backend bc builds, if any.
func applyTunnel(bc *BuildContext, cfg *agentgateway.HTTPBackendConfig) error {
	tp := bc.tunnel
	if tp == nil || tp.path != bc.Path {
		return nil
	}
	tp.used = true
	proxy, err := tunnelProxy(bc.At(tp.at), &tp.spec)
	if err != nil {
		return err
	}
	cfg.Dial = func(ctx context.Context, _, addr string) (net.Conn, error) {
		return agentgateway.DialThroughConnect(ctx, proxy, addr, nil)
	}
	return nil
}

// takeRouteTunnel removes `backendTunnel` from a route's policies: in agentgateway a backend policy
// set on a route applies to the route's backends, so it becomes each backend's (see buildBackend).
func takeRouteTunnel(policies Node) (Node, *tunnelPolicy, error) {
	return takeTunnel(policies, "")
}
