package xds

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// ServerOptions tunes [NewServer].
type ServerOptions struct {
	// Logger receives stream and NACK reports (default slog.Default()).
	Logger *slog.Logger
	// AuthToken, when set, is required on every stream as the `authorization` metadata
	// ("Bearer <token>"); a stream without it fails with codes.Unauthenticated.
	AuthToken string
}

// Server is an xDS control plane serving agentgateway resources over Delta ADS (ads.go: its own
// small server, not go-control-plane's, whose snapshot caches link every Envoy resource type into
// the binary). Give it a configuration with [Server.Set] or [Server.SetYAML]; every connected data
// plane gets the changes.
type Server struct {
	opts ServerOptions

	setMu sync.Mutex // one Set at a time

	mu        sync.Mutex
	resources map[string]map[string]served // type URL -> name -> resource
	watchers  map[int64]chan struct{}      // stream -> wake-up on a change
	nextID    int64
	streams   map[int64]*NodeStatus
	nacks     []NACK
}

// NodeStatus is what the server knows of one connected data plane.
type NodeStatus struct {
	// ID and Cluster are the node's identity, from its first request.
	ID, Cluster string
	// Connected is when its stream opened.
	Connected time.Time
	// ACKs counts the responses it accepted.
	ACKs int
	// LastNACK is the error of the last response it rejected ("" if none since its last ACK).
	LastNACK string
}

// NACK is a response a data plane rejected.
type NACK struct {
	Node, TypeURL, Error string
	At                   time.Time
}

// NewServer makes a control plane serving no resources yet.
func NewServer(opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, resources: map[string]map[string]served{}, watchers: map[int64]chan struct{}{},
		streams: map[int64]*NodeStatus{}}
	for _, t := range TypeURLs {
		s.resources[t] = map[string]served{}
	}
	return s
}

// SetYAML serves the configuration of an agentgateway config document (see [FromYAML]).
func (s *Server) SetYAML(data []byte) error {
	r, err := FromYAML(data)
	if err != nil {
		return err
	}
	return s.Set(r)
}

// Set makes r the configuration served. Only what changed is sent: resources are added and changed
// in dependency order ([TypeURLs]) first, then removed in the reverse order, so that a data plane
// never sees a route before its listener or a backend removed while a route still uses it.
func (s *Server) Set(r *Resources) error {
	idx, err := r.byType()
	if err != nil {
		return err
	}
	next := make(map[string]map[string]served, len(TypeURLs))
	for _, t := range TypeURLs {
		next[t] = make(map[string]served, len(idx[t]))
		for name, m := range idx[t] {
			// Deterministic: a Struct's fields are a map, and the version is a hash of these bytes.
			a := new(anypb.Any)
			if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
				return fmt.Errorf("xds: encoding %s %q: %w", shortType(t), name, err)
			}
			next[t][name] = served{res: a, version: versionOf(a)}
		}
	}
	s.setMu.Lock()
	defer s.setMu.Unlock()
	s.mu.Lock()
	s.resources = next
	for _, w := range s.watchers {
		select {
		case w <- struct{}{}:
		default: // already woken
		}
	}
	s.mu.Unlock()
	return nil
}

// Register adds the Aggregated Discovery Service to a gRPC server the caller runs. Install
// [Server.StreamInterceptor] on it when AuthToken is set.
func (s *Server) Register(g *grpc.Server) {
	discovery.RegisterAggregatedDiscoveryServiceServer(g, ads{s: s})
}

// StreamInterceptor checks the bearer token of each stream (a no-op without AuthToken).
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if s.opts.AuthToken != "" {
			md, _ := metadata.FromIncomingContext(ss.Context())
			got := ""
			if v := md.Get("authorization"); len(v) == 1 {
				got = v[0]
			}
			// Compared in constant time: the token is a secret, and the time a comparison takes must not
			// tell how much of a guess was right.
			if subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+s.opts.AuthToken)) != 1 {
				s.opts.Logger.Warn("xds: stream refused: bad or missing bearer token", "peer", peerOf(ss.Context()))
				return status.Error(codes.Unauthenticated, "xds: bad or missing bearer token")
			}
		}
		return handler(srv, ss)
	}
}

// Serve serves xDS on ln until ctx is cancelled, then stops the server (open streams end; data
// planes reconnect to the next control plane) and returns nil. It returns other errors of the
// gRPC server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	g := grpc.NewServer(grpc.StreamInterceptor(s.StreamInterceptor()))
	s.Register(g)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			g.Stop()
		case <-done:
		}
	}()
	err := g.Serve(ln)
	close(done)
	if ctx.Err() != nil || errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Nodes reports the data planes connected now, by stream.
func (s *Server) Nodes() []NodeStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NodeStatus, 0, len(s.streams))
	for _, id := range slices.Sorted(maps.Keys(s.streams)) {
		out = append(out, *s.streams[id])
	}
	return out
}

// NACKs returns the rejected responses seen so far (the last 100).
func (s *Server) NACKs() []NACK {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.nacks)
}

func peerOf(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok {
		return p.Addr.String()
	}
	return ""
}
