package extauthz

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	agentgateway "github.com/agentgw/agentgateway"
)

// ErrNetworkHTTP is returned by CheckConn of an Authorizer configured for the HTTP protocol: a
// connection-level check is a gRPC Check without an HTTP request.
var ErrNetworkHTTP = errors.New("connection checks need the grpc protocol")

// CheckConn asks the authorization service whether a downstream connection may proceed, before any
// byte of it is routed (agentgateway's frontendPolicies.networkExtAuthz, as Envoy's network ext_authz
// filter does): the CheckRequest has no HTTP request, only the connection's source and destination
// addresses, the TLS server name (c.Hostname: the SNI, or the host of the CONNECT tunnel the
// connection came through) and the grpc context extensions. An OK status allows it. When the service
// cannot be asked or answers with an error, the failure mode decides (FailOpen allows) and err says
// why; a denial is (false, nil). It is bounded by Config.Timeout.
func (x *Authorizer) CheckConn(ctx context.Context, c *agentgateway.ConnInfo) (allowed bool, err error) {
	if x.client == nil {
		return false, ErrNetworkHTTP
	}
	attrs := &authv3.AttributeContext{
		Source:            &authv3.AttributeContext_Peer{Address: socketAddress(c.Source)},
		Destination:       &authv3.AttributeContext_Peer{Address: socketAddress(c.Destination)},
		ContextExtensions: x.grpcContext(),
	}
	if c.Hostname != "" {
		attrs.TlsSession = &authv3.AttributeContext_TLSSession{Sni: c.Hostname}
	}
	ctx, cancel := context.WithTimeout(ctx, x.cfg.Timeout)
	defer cancel()
	resp, err := x.client.Check(grpcTraceContext(ctx), &authv3.CheckRequest{Attributes: attrs})
	if err == nil && resp.GetErrorResponse() != nil && codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		err = fmt.Errorf("service error: %s", resp.GetErrorResponse().GetBody())
	}
	if err != nil {
		return x.failAllow, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return codes.Code(resp.GetStatus().GetCode()) == codes.OK, nil
}

func socketAddress(a netip.AddrPort) *corev3.Address {
	if !a.IsValid() {
		return nil
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: a.Addr().Unmap().String(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(a.Port())},
	}}}
}
