package xds

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/xds/xdspb"
)

// FuzzDecodeResource feeds arbitrary bytes to the data plane's decoding of a response's resource
// and assembles what decodes into a document and loads it: errors, never a panic.
func FuzzDecodeResource(f *testing.F) {
	spec, _ := structpb.NewStruct(map[string]any{"matches": []any{map[string]any{"path": map[string]any{"exact": "/x"}}},
		"policies": map[string]any{"directResponse": map[string]any{"status": 200, "body": "ok"}}})
	seeds := []named{
		&xdspb.Listener{Name: "l", Port: 8080, Hostname: "a.example"},
		&xdspb.Route{Name: "r", Listener: "l", Spec: spec},
		&xdspb.Backend{Name: "b", Spec: spec},
		&xdspb.Policy{Name: "p", Target: &xdspb.Policy_Route{Route: "r"}, Spec: spec},
		&xdspb.Section{Name: "mcp", Value: structpb.NewStringValue("x")},
		&xdspb.Listener{Name: "l", Port: 70000}, // out of range
		&xdspb.Section{Name: "config", Value: structpb.NewNullValue()},
	}
	for i, m := range seeds {
		b, _ := proto.Marshal(m)
		f.Add(uint8(i), m.GetName(), b)
		f.Add(uint8(i+1), m.GetName(), b)          // the wrong type for the bytes
		f.Add(uint8(i), "other", b)                // a name the message does not carry
		f.Add(uint8(i), m.GetName(), b[:len(b)/2]) // truncated
	}
	f.Fuzz(func(t *testing.T, typ uint8, name string, payload []byte) {
		typeURL := TypeURLs[int(typ)%len(TypeURLs)]
		m, err := decodeResource(typeURL, name, &anypb.Any{TypeUrl: typeURL, Value: payload})
		if err != nil {
			return
		}
		// Each decoded resource alone, and with a listener and route it may refer to.
		idx := map[string]map[string]named{}
		for _, t := range TypeURLs {
			idx[t] = map[string]named{}
		}
		idx[typeURL][name] = m
		for _, withPeers := range []bool{false, true} {
			if withPeers {
				idx[TypeListener]["l"] = seeds[0]
				idx[TypeRoute]["r"] = seeds[1]
				idx[typeURL][name] = m
			}
			doc, loc, err := fromIndex(idx).Document()
			if err != nil {
				continue
			}
			if _, err := config.Load(doc, func(string) (string, bool) { return "", false }); err != nil {
				_ = loc.Locate(err.Error())
			}
		}
	})
}

// FuzzFromYAML: whatever FromYAML accepts assembles back into a document.
func FuzzFromYAML(f *testing.F) {
	f.Add([]byte("binds: [{port: 8080, listeners: [{name: a, routes: [{name: r, policies: {cors: {}}}]}]}]\nbackends: [{name: b, host: x:1}]\nmcp: {port: 3000}"))
	f.Add([]byte("binds: [{port: -1}]"))
	f.Add([]byte("binds: [{port: 1, listeners: [{routes: [{}, {name: x}]}, {routes: [{name: x}]}]}]"))
	f.Add([]byte("binds: [{port: 1, listeners: [{name: 1/0}, {}]}]")) // a name that collides with a generated one
	f.Add([]byte("backends: [{name: a}, {name: a}]"))
	f.Add([]byte("binds: {}"))
	f.Add([]byte("binds: [{port: 443, listeners: [{name: t, protocol: TLS, tcpRoutes: [{hostnames: [a], backends: [{host: 'x:1'}]}, 3, null]}, {tcpRoutes: {}}, {tcpRoutes: null}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := FromYAML(data)
		if err != nil {
			return
		}
		if _, _, err := r.Document(); err != nil {
			t.Fatalf("FromYAML accepted %q but Document fails: %v", data, err)
		}
	})
}
