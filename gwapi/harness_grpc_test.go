package gwapi_test

// gRPC pieces of the conformance harness: the echo server the suite's grpc-* Deployments run
// (GRPC_ECHO_SERVER=1 in echo-basic) and a client that dials the Gateways' fake addresses.

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/gateway-api/conformance/echo-basic/grpcechoserver"
	confgrpc "sigs.k8s.io/gateway-api/conformance/utils/grpc"
)

// grpcEcho answers Echo and EchoTwo with the method, metadata and pod it reached, as echo-basic does;
// EchoThree is left unimplemented.
type grpcEcho struct {
	pb.UnimplementedGrpcEchoServer
	ns, pod string
}

func (g *grpcEcho) answer(ctx context.Context, method string) (*pb.EchoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	a := &pb.Assertions{Context: &pb.Context{Namespace: g.ns, Pod: g.pod},
		FullyQualifiedMethod: fmt.Sprintf("/%s/%s", pb.File_grpcecho_proto.Services().ByName("GrpcEcho").FullName(), method)}
	for k, vs := range md {
		for _, v := range vs {
			if k == ":authority" {
				a.Authority = v
			}
			a.Headers = append(a.Headers, &pb.Header{Key: k, Value: v})
		}
	}
	return &pb.EchoResponse{Assertions: a}, nil
}

func (g *grpcEcho) Echo(ctx context.Context, _ *pb.EchoRequest) (*pb.EchoResponse, error) {
	return g.answer(ctx, "Echo")
}

func (g *grpcEcho) EchoTwo(ctx context.Context, _ *pb.EchoRequest) (*pb.EchoResponse, error) {
	return g.answer(ctx, "EchoTwo")
}

// serveGRPC runs the gRPC echo server on ln until stop is called.
func serveGRPC(ln net.Listener, ns, pod string) (stop func()) {
	s := grpc.NewServer()
	pb.RegisterGrpcEchoServer(s, &grpcEcho{ns: ns, pod: pod})
	go func() { _ = s.Serve(ln) }()
	return s.Stop
}

// grpcClient implements the suite's gRPC client over the fake network: one connection per
// (address, authority), safe for the concurrent calls GRPCRouteWeight makes.
type grpcClient struct {
	net   *network
	mu    sync.Mutex
	conns map[[2]string]*grpc.ClientConn
}

func (c *grpcClient) conn(address, authority string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := [2]string{address, authority}
	if cc := c.conns[key]; cc != nil {
		return cc, nil
	}
	if authority == "" {
		authority = address // what grpc-go sends when dialing the address itself
	}
	cc, err := grpc.NewClient("passthrough:///"+address, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority(authority), grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return c.net.dial(ctx, "tcp", addr)
		}))
	if err != nil {
		return nil, err
	}
	c.conns[key] = cc
	return cc, nil
}

func (c *grpcClient) SendRPC(t *testing.T, address string, expected confgrpc.ExpectedResponse, timeout time.Duration) (*confgrpc.Response, error) {
	t.Helper()
	authority := ""
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if rm := expected.RequestMetadata; rm != nil {
		authority = rm.Authority
		if len(rm.Metadata) > 0 {
			ctx = metadata.NewOutgoingContext(ctx, metadata.New(rm.Metadata))
		}
	}
	cc, err := c.conn(address, authority)
	if err != nil {
		return &confgrpc.Response{}, err
	}
	resp := &confgrpc.Response{Headers: &metadata.MD{}, Trailers: &metadata.MD{}}
	stub := pb.NewGrpcEchoClient(cc)
	opts := []grpc.CallOption{grpc.Header(resp.Headers), grpc.Trailer(resp.Trailers)}
	switch {
	case expected.EchoRequest != nil:
		resp.Response, err = stub.Echo(ctx, expected.EchoRequest, opts...)
	case expected.EchoTwoRequest != nil:
		resp.Response, err = stub.EchoTwo(ctx, expected.EchoTwoRequest, opts...)
	case expected.EchoThreeRequest != nil:
		resp.Response, err = stub.EchoThree(ctx, expected.EchoThreeRequest, opts...)
	default:
		return resp, fmt.Errorf("no request specified")
	}
	resp.Code = status.Code(err)
	if resp.Code == codes.Internal {
		c.mu.Lock()
		delete(c.conns, [2]string{address, authority})
		c.mu.Unlock()
		_ = cc.Close()
	}
	return resp, nil
}

func (c *grpcClient) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cc := range c.conns {
		_ = cc.Close()
		delete(c.conns, k)
	}
}
