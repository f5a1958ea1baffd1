package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strconv"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// The Delta ADS protocol as this server speaks it (the subset agentgateway's data plane uses, which
// is also what Envoy-style delta clients expect):
//   - a stream subscribes per type URL, to every resource ("*", or an empty first subscribe list)
//     or to names; initial_resource_versions tells what it already holds after a reconnect;
//   - the first response of each subscribed type is always sent, empty or not, so that the client
//     knows the initial state is complete;
//   - one response per type is in flight: the type's next one waits for the ACK or NACK (the nonce)
//     of the last, and then carries everything that changed meanwhile;
//   - what was sent counts as held by the client whether it ACKs or NACKs it: a NACKed resource is
//     not sent again until it changes.

// served is one resource as sent: its Any and a version derived from its content.
type served struct {
	res     *anypb.Any
	version string
}

// versionOf names a resource's content: the same bytes give the same version across restarts of
// the control plane, so a reconnecting data plane that holds them gets nothing resent.
func versionOf(a *anypb.Any) string {
	h := sha256.New()
	h.Write([]byte(a.GetTypeUrl()))
	h.Write([]byte{0})
	h.Write(a.GetValue())
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// ads implements the Aggregated Discovery Service of a Server.
type ads struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
	s *Server
}

// StreamAggregatedResources refuses state-of-the-world streams: agentgateway speaks Delta ADS only.
func (ads) StreamAggregatedResources(grpc.BidiStreamingServer[discovery.DiscoveryRequest, discovery.DiscoveryResponse]) error {
	return status.Error(codes.Unimplemented, "xds: only Delta ADS (DeltaAggregatedResources) is served")
}

// DeltaAggregatedResources serves one data plane's stream.
func (a ads) DeltaAggregatedResources(st grpc.BidiStreamingServer[discovery.DeltaDiscoveryRequest, discovery.DeltaDiscoveryResponse]) error {
	return a.s.serveDelta(st)
}

// subscription is one stream's state for one type URL.
type subscription struct {
	wildcard bool
	names    map[string]bool   // explicit subscriptions
	has      map[string]string // name -> version the client holds (as far as the server sent it)
	pending  string            // nonce of the response awaiting its ACK/NACK; "" when none
	started  bool              // the first response was sent
}

func (sub *subscription) wants(name string) bool { return sub.wildcard || sub.names[name] }

type deltaStream = grpc.BidiStreamingServer[discovery.DeltaDiscoveryRequest, discovery.DeltaDiscoveryResponse]

func (s *Server) serveDelta(st deltaStream) error {
	ctx := st.Context()
	log := s.opts.Logger
	wake := make(chan struct{}, 1)
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	s.watchers[id] = wake
	s.streams[id] = &NodeStatus{Connected: time.Now()}
	s.mu.Unlock()
	log.Debug("xds: stream opened", "stream", id, "peer", peerOf(ctx))
	defer func() {
		s.mu.Lock()
		node := s.streams[id].ID
		delete(s.watchers, id)
		delete(s.streams, id)
		s.mu.Unlock()
		log.Info("xds: stream closed", "stream", id, "node", node)
	}()

	// Recv runs on its own goroutine so that a change can be pushed while no request comes. It ends
	// when the handler returns: gRPC then cancels the stream and Recv fails.
	reqs := make(chan *discovery.DeltaDiscoveryRequest)
	errc := make(chan error, 1)
	go func() {
		for {
			req, err := st.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()

	subs := map[string]*subscription{}
	var nonce uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case req := <-reqs:
			if err := s.onRequest(id, req, subs); err != nil {
				return err
			}
		case <-wake:
		}
		if err := s.push(st, subs, &nonce); err != nil {
			return err
		}
	}
}

// onRequest applies one request to the stream's subscriptions and records ACKs and NACKs.
func (s *Server) onRequest(id int64, req *discovery.DeltaDiscoveryRequest, subs map[string]*subscription) error {
	t := req.GetTypeUrl()
	if !slices.Contains(TypeURLs, t) {
		return status.Errorf(codes.InvalidArgument, "xds: unknown type URL %q", t)
	}
	sub := subs[t]
	if sub == nil {
		sub = &subscription{names: map[string]bool{}, has: map[string]string{}}
		// An empty subscribe list in the first request is the legacy form of a wildcard.
		sub.wildcard = len(req.GetResourceNamesSubscribe()) == 0
		for name, v := range req.GetInitialResourceVersions() {
			sub.has[name] = v
		}
		subs[t] = sub
	}
	for _, name := range req.GetResourceNamesSubscribe() {
		if name == "*" {
			sub.wildcard = true
		} else {
			sub.names[name] = true
		}
	}
	if len(req.GetResourceNamesUnsubscribe()) > 0 {
		for _, name := range req.GetResourceNamesUnsubscribe() {
			if name == "*" {
				sub.wildcard = false
			} else {
				delete(sub.names, name)
			}
		}
		// The client forgets what it no longer wants (leaving the wildcard drops every resource it
		// held only through it): a later subscription sends it again.
		for name := range sub.has {
			if !sub.wants(name) {
				delete(sub.has, name)
			}
		}
	}
	if n := req.GetResponseNonce(); n != "" && n == sub.pending {
		sub.pending = ""
	}

	log := s.opts.Logger
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.streams[id]
	if n := req.GetNode(); n != nil && ns.ID == "" {
		ns.ID, ns.Cluster = n.GetId(), n.GetCluster()
		log.Info("xds: data plane connected", "stream", id, "node", ns.ID, "cluster", ns.Cluster)
	}
	switch {
	case req.GetErrorDetail() != nil:
		msg := req.GetErrorDetail().GetMessage()
		ns.LastNACK = msg
		s.nacks = append(s.nacks, NACK{Node: ns.ID, TypeURL: t, Error: msg, At: time.Now()})
		if len(s.nacks) > 100 {
			s.nacks = slices.Delete(s.nacks, 0, len(s.nacks)-100)
		}
		log.Warn("xds: NACK", "node", ns.ID, "type", shortType(t), "nonce", req.GetResponseNonce(), "error", msg)
	case req.GetResponseNonce() != "":
		ns.ACKs++
		ns.LastNACK = ""
		log.Debug("xds: ACK", "node", ns.ID, "type", shortType(t), "nonce", req.GetResponseNonce())
	}
	return nil
}

// push sends each type whose last response was answered what changed for it: additions and changes
// in dependency order first, then removals in the reverse order, so that a data plane never sees a
// reference to something not sent yet, nor loses something still referred to, when the types are
// in step.
func (s *Server) push(st deltaStream, subs map[string]*subscription, nonce *uint64) error {
	s.mu.Lock()
	cur := s.resources // replaced whole by Set, never changed in place
	s.mu.Unlock()
	send := func(t string, sub *subscription, res []*discovery.Resource, removed []string) error {
		*nonce++
		n := strconv.FormatUint(*nonce, 10)
		if err := st.Send(&discovery.DeltaDiscoveryResponse{TypeUrl: t, Resources: res, RemovedResources: removed, Nonce: n}); err != nil {
			return err
		}
		for _, r := range res {
			sub.has[r.GetName()] = r.GetVersion()
		}
		for _, name := range removed {
			delete(sub.has, name)
		}
		sub.pending, sub.started = n, true
		return nil
	}
	for _, t := range TypeURLs {
		sub := subs[t]
		if sub == nil {
			continue
		}
		var res []*discovery.Resource
		for _, name := range sortedKeys(cur[t]) {
			if r := cur[t][name]; sub.wants(name) && sub.has[name] != r.version {
				res = append(res, &discovery.Resource{Name: name, Version: r.version, Resource: r.res})
			}
		}
		if sub.pending != "" {
			if len(res) > 0 {
				// What later types send may refer to these: they wait for this type's answer.
				return nil
			}
			continue
		}
		var removed []string
		if !sub.started {
			// The first response is the whole initial state: it also drops what a reconnecting client
			// holds that is gone.
			removed = gone(cur[t], sub)
		} else if len(res) == 0 {
			continue
		}
		if err := send(t, sub, res, removed); err != nil {
			return err
		}
	}
	for _, t := range slices.Backward(TypeURLs) {
		sub := subs[t]
		if sub == nil {
			continue
		}
		removed := gone(cur[t], sub)
		if sub.pending != "" {
			if len(removed) > 0 {
				// These may still refer to what earlier types would remove: those wait for this
				// type's answer, so that a data plane never holds a dangling reference.
				return nil
			}
			continue
		}
		if len(removed) > 0 {
			if err := send(t, sub, nil, removed); err != nil {
				return err
			}
		}
	}
	return nil
}

// gone lists the names the client holds that are no longer served.
func gone(cur map[string]served, sub *subscription) []string {
	var out []string
	for _, name := range sortedKeys(sub.has) {
		if _, ok := cur[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}
