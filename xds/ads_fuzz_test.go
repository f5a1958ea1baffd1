package xds

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
)

// fakeDelta records what the server sends on a stream.
type fakeDelta struct {
	grpc.ServerStream
	sent []*discovery.DeltaDiscoveryResponse
}

func (f *fakeDelta) Send(r *discovery.DeltaDiscoveryResponse) error {
	f.sent = append(f.sent, r)
	return nil
}

func (f *fakeDelta) Recv() (*discovery.DeltaDiscoveryRequest, error) { panic("not used") }
func (f *fakeDelta) Context() context.Context                        { return context.Background() }

// FuzzDeltaStream drives one stream's subscriptions with arbitrary requests (subscribe, unsubscribe,
// stale and current nonces, NACKs, reconnect versions, config changes) and checks what a client
// relies on: only subscribed resources are sent, one response per type is in flight, and once
// every response is answered the client holds exactly what is served for what it subscribed to.
func FuzzDeltaStream(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{9, 0, 0, 3, 3, 8, 3, 2, 7, 3, 3})       // a change before the ACK, stale nonce
	f.Add([]byte{1, 4, 0x15, 3, 0x25, 2, 0x11, 8, 3})    // named subscriptions, unsubscribe "*"
	f.Add([]byte{6, 0x40, 0, 5, 7, 3, 5, 8, 4, 3, 3, 3}) // reconnect versions, NACK
	configs := []*Resources{mustYAML(f), mustYAML(f, "a", "b"), mustYAML(f, "b", "c")}
	f.Fuzz(func(t *testing.T, ops []byte) {
		s := NewServer(ServerOptions{Logger: slog.New(slog.DiscardHandler)})
		if err := s.Set(configs[0]); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		s.streams[1] = &NodeStatus{}
		s.mu.Unlock()
		st := &fakeDelta{}
		subs := map[string]*subscription{}
		var nonce uint64
		held := map[string]map[string]string{} // the client's view: type -> name -> version
		lastNonce := map[string]string{}
		// A NACK rejects the whole response: the client keeps what it held before it (prior), and
		// the versions it rejected are not sent again until they change (rejected).
		prior := map[string]map[string]string{}
		rejected := map[string]map[string]string{} // type -> name -> version ("" for a removal)
		last := map[string]*discovery.DeltaDiscoveryResponse{}
		// A client NACKs a response as it receives it: not after it has changed its subscriptions since.
		moved := false
		answered := map[string]bool{} // nonces the client ACKed or NACKed
		route := TypeURLs[3]
		req := func(r *discovery.DeltaDiscoveryRequest) {
			if err := s.onRequest(1, r, subs); err != nil {
				t.Fatal(err)
			}
		}
		push := func() {
			before := len(st.sent)
			if err := s.push(st, subs, &nonce); err != nil {
				t.Fatal(err)
			}
			perType := map[string]int{}
			for _, r := range st.sent[before:] {
				t := r.GetTypeUrl()
				perType[t]++
				if held[t] == nil {
					held[t] = map[string]string{}
				}
				prior[t] = maps.Clone(held[t])
				last[t] = r
				if t == route {
					moved = false
				}
				for _, res := range r.GetResources() {
					held[t][res.GetName()] = res.GetVersion()
				}
				for _, name := range r.GetRemovedResources() {
					delete(held[t], name)
				}
				lastNonce[t] = r.GetNonce()
			}
			for typ, n := range perType {
				if n > 1 {
					t.Fatalf("%d responses of %s in flight", n, typ)
				}
			}
		}
		// A client drops what it unsubscribes from: subscribing again later must bring it back.
		forget := func() {
			for name := range held[route] {
				if subs[route] == nil || !subs[route].wants(name) {
					delete(held[route], name)
				}
			}
		}
		for i, op := range ops {
			arg := int(op >> 4)
			if k := op & 0x0f; k == 1 || k == 2 || k == 6 || k == 7 || (k == 0 && TypeURLs[arg%len(TypeURLs)] == route) {
				moved = true
			}
			switch op & 0x0f {
			case 0:
				req(&discovery.DeltaDiscoveryRequest{TypeUrl: TypeURLs[arg%len(TypeURLs)], ResourceNamesSubscribe: []string{"*"}})
			case 1:
				req(&discovery.DeltaDiscoveryRequest{TypeUrl: route, ResourceNamesSubscribe: []string{string(rune('a' + arg%4))}})
			case 2:
				req(&discovery.DeltaDiscoveryRequest{TypeUrl: route, ResourceNamesUnsubscribe: []string{string(rune('a' + arg%4))}})
				forget()
			case 3: // the current nonce of a type: an ACK
				typ := TypeURLs[arg%len(TypeURLs)]
				if subs[typ] != nil {
					answered[lastNonce[typ]] = true
					req(&discovery.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: lastNonce[typ]})
				}
			case 4: // a NACK of the response in flight: the client rejects all of it
				if n := lastNonce[route]; subs[route] != nil && n != "" && !answered[n] && !moved {
					answered[n] = true
					if rejected[route] == nil {
						rejected[route] = map[string]string{}
					}
					for _, res := range last[route].GetResources() {
						rejected[route][res.GetName()] = res.GetVersion()
					}
					for _, name := range last[route].GetRemovedResources() {
						rejected[route][name] = ""
					}
					held[route] = prior[route]
					req(&discovery.DeltaDiscoveryRequest{TypeUrl: route, ResponseNonce: n,
						ErrorDetail: &status.Status{Code: 3, Message: "no"}})
				}
			case 5: // a stale nonce changes nothing
				if subs[route] != nil {
					req(&discovery.DeltaDiscoveryRequest{TypeUrl: route, ResponseNonce: "stale"})
				}
			case 6: // a reconnect's first request, with versions of its own
				if subs[route] == nil {
					held[route] = map[string]string{"a": "old", "ping": "old"}
					req(&discovery.DeltaDiscoveryRequest{TypeUrl: route, ResourceNamesSubscribe: []string{"*"},
						InitialResourceVersions: maps.Clone(held[route])})
				}
			case 7:
				req(&discovery.DeltaDiscoveryRequest{TypeUrl: route, ResourceNamesUnsubscribe: []string{"*"}})
				forget()
			default:
				if err := s.Set(configs[(arg+i)%len(configs)]); err != nil {
					t.Fatal(err)
				}
			}
			push()
		}
		// Answer everything until nothing more comes: the client then holds what it subscribed to.
		for range 3 * len(TypeURLs) {
			for _, typ := range TypeURLs {
				if subs[typ] != nil && subs[typ].pending != "" {
					req(&discovery.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: subs[typ].pending})
				}
			}
			push()
		}
		s.mu.Lock()
		cur := s.resources
		s.mu.Unlock()
		for typ, sub := range subs {
			if sub.pending != "" {
				t.Fatalf("%s: a response is still unanswered after the client answered all", typ)
			}
			for name, v := range held[typ] {
				// What the client holds and no longer wants is its own business (it unsubscribed).
				r, ok := cur[typ][name]
				if rv, was := rejected[typ][name]; was && ((rv == "" && !ok) || (ok && rv == r.version)) {
					continue // the client rejected what it would be sent
				}
				if sub.wants(name) && (!ok || r.version != v) {
					t.Fatalf("%s: client holds %s@%s, served %v", typ, name, v, ok)
				}
			}
			for name, r := range cur[typ] {
				if rv, was := rejected[typ][name]; was && rv == r.version {
					continue
				}
				if sub.wants(name) && held[typ][name] != r.version {
					t.Fatalf("%s: %s is served but the client does not hold it", typ, name)
				}
			}
		}
	})
}

func mustYAML(t testing.TB, routes ...string) *Resources {
	doc := "binds:\n- port: 8080\n  listeners:\n  - name: main\n    routes:\n    - name: ping\n      matches: [{path: {exact: /ping}}]\n      policies: {directResponse: {status: 200, body: x}}\n"
	for _, r := range routes {
		doc += fmt.Sprintf("    - name: %s\n      matches: [{path: {exact: /%s}}]\n      policies: {directResponse: {status: 200, body: x}}\n", r, r)
	}
	res, err := FromYAML([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return res
}
