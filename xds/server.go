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

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// ServerOptions tunes [NewServer].
type ServerOptions struct {
	// Logger receives stream and NACK reports (default slog.Default()).
	Logger *slog.Logger
	// AuthToken, when set, is required on every stream as the `authorization` metadata
	// ("Bearer <token>"); a stream without it fails with codes.Unauthenticated.
	AuthToken string
}

// Server is an xDS control plane serving agentgateway resources over Delta ADS (go-control-plane's
// server, one LinearCache per type URL behind a MuxCache). Give it a configuration with [Server.Set]
// or [Server.SetYAML]; every connected data plane gets the changes.
type Server struct {
	opts   ServerOptions
	caches map[string]*cachev3.LinearCache
	mux    *cachev3.MuxCache

	setMu sync.Mutex // one Set at a time: its two phases must not interleave with another's

	mu      sync.Mutex
	streams map[int64]*NodeStatus
	nacks   []NACK
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
	s := &Server{opts: opts, caches: map[string]*cachev3.LinearCache{}, streams: map[int64]*NodeStatus{}}
	caches := map[string]cachev3.Cache{}
	for _, t := range TypeURLs {
		lc := cachev3.NewLinearCache(t)
		s.caches[t] = lc
		caches[t] = lc
	}
	s.mux = &cachev3.MuxCache{
		Classify:      func(r *cachev3.Request) string { return r.GetTypeUrl() },
		ClassifyDelta: func(r *cachev3.DeltaRequest) string { return r.GetTypeUrl() },
		Caches:        caches,
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
	s.setMu.Lock()
	defer s.setMu.Unlock()
	deletes := map[string][]string{}
	for _, t := range TypeURLs {
		cur := s.caches[t].GetResources()
		update := map[string]types.Resource{}
		for name, m := range idx[t] {
			if old, ok := cur[name]; !ok || !proto.Equal(old, m) {
				update[name] = proto.Clone(m)
			}
		}
		for name := range cur {
			if _, keep := idx[t][name]; !keep {
				deletes[t] = append(deletes[t], name)
			}
		}
		if len(update) > 0 {
			if err := s.caches[t].UpdateResources(update, nil); err != nil {
				return fmt.Errorf("xds: updating %s: %w", shortType(t), err)
			}
		}
	}
	for _, t := range slices.Backward(TypeURLs) {
		if len(deletes[t]) > 0 {
			if err := s.caches[t].UpdateResources(nil, deletes[t]); err != nil {
				return fmt.Errorf("xds: removing %s: %w", shortType(t), err)
			}
		}
	}
	return nil
}

// Register adds the Aggregated Discovery Service to a gRPC server the caller runs. Install
// [Server.StreamInterceptor] on it when AuthToken is set.
func (s *Server) Register(g *grpc.Server) {
	discovery.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(context.Background(), s.mux, s.callbacks()))
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

func (s *Server) callbacks() serverv3.CallbackFuncs {
	log := s.opts.Logger
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error {
			// agentgateway speaks Delta ADS only; a state-of-the-world client gets a clear error.
			return status.Error(codes.Unimplemented, "xds: only Delta ADS (DeltaAggregatedResources) is served")
		},
		DeltaStreamOpenFunc: func(ctx context.Context, id int64, _ string) error {
			s.mu.Lock()
			s.streams[id] = &NodeStatus{Connected: time.Now()}
			s.mu.Unlock()
			log.Debug("xds: stream opened", "stream", id, "peer", peerOf(ctx))
			return nil
		},
		DeltaStreamClosedFunc: func(id int64, node *corev3.Node) {
			s.mu.Lock()
			delete(s.streams, id)
			s.mu.Unlock()
			log.Info("xds: stream closed", "stream", id, "node", node.GetId())
		},
		StreamDeltaRequestFunc: func(id int64, req *discovery.DeltaDiscoveryRequest) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			st := s.streams[id]
			if st == nil {
				st = &NodeStatus{Connected: time.Now()}
				s.streams[id] = st
			}
			if n := req.GetNode(); n != nil && st.ID == "" {
				st.ID, st.Cluster = n.GetId(), n.GetCluster()
				log.Info("xds: data plane connected", "stream", id, "node", st.ID, "cluster", st.Cluster)
			}
			switch {
			case req.GetErrorDetail() != nil:
				msg := req.GetErrorDetail().GetMessage()
				st.LastNACK = msg
				s.nacks = append(s.nacks, NACK{Node: st.ID, TypeURL: req.GetTypeUrl(), Error: msg, At: time.Now()})
				if len(s.nacks) > 100 {
					s.nacks = slices.Delete(s.nacks, 0, len(s.nacks)-100)
				}
				log.Warn("xds: NACK", "node", st.ID, "type", shortType(req.GetTypeUrl()), "nonce", req.GetResponseNonce(), "error", msg)
			case req.GetResponseNonce() != "":
				st.ACKs++
				st.LastNACK = ""
				log.Debug("xds: ACK", "node", st.ID, "type", shortType(req.GetTypeUrl()), "nonce", req.GetResponseNonce())
			}
			return nil
		},
	}
}

func peerOf(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok {
		return p.Addr.String()
	}
	return ""
}
