package xds_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/xds"
	"github.com/agentgw/agentgateway/xds/xdspb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a log destination read while written.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func cfg(port int, body string, extra string) string {
	return fmt.Sprintf(`
binds:
- port: %d
  listeners:
  - name: main
    routes:
    - name: ping
      matches: [{path: {exact: /ping}}]
      policies:
        directResponse: {status: 200, body: %q}
%s`, port, body, extra)
}

// controlPlane serves srv on a fresh port until the test ends.
func controlPlane(t *testing.T, srv *xds.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return ln.Addr().String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A data plane gets the control plane's config, each change of it, and keeps serving the last good
// config when an update does not build: the NACK carries the error (naming the route), the server
// records and logs it with the node id, and a later fix applies.
func TestClientAppliesUpdatesAndNACKsBadOnes(t *testing.T) {
	var srvLog syncBuffer
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.NewTextHandler(&srvLog, nil)), AuthToken: "s3cret"})
	port := freePort(t)
	require.NoError(t, srv.SetYAML([]byte(cfg(port, "v1", ""))))
	addr := controlPlane(t, srv)

	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	c, err := xds.NewClient("http://"+addr, xds.ClientOptions{Node: &corev3.Node{Id: "replica-1"}, AuthToken: "s3cret",
		Logger: slog.New(slog.DiscardHandler), Drain: time.Millisecond},
		func(rt *config.Runtime) error { return gw.Apply(rt.Config) })
	require.NoError(t, err)
	var running sync.WaitGroup
	running.Go(func() { c.Run(ctx) })
	defer func() {
		cancel()
		running.Wait()
		require.NoError(t, gw.Wait())
		require.NoError(t, c.Close())
		http.DefaultClient.CloseIdleConnections()
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/ping", port)
	<-c.Ready()
	require.Equal(t, "v1", get(t, url))

	require.NoError(t, srv.SetYAML([]byte(cfg(port, "v2", ""))))
	require.Eventually(t, func() bool { return get(t, url) == "v2" }, 10*time.Second, 10*time.Millisecond)

	// A route whose backend does not exist: NACKed, v2 keeps serving.
	bad := cfg(port, "v3", `    - name: broken
      matches: [{path: {exact: /broken}}]
      backends: [{backend: nowhere}]
`)
	require.NoError(t, srv.SetYAML([]byte(bad)))
	require.Eventually(t, func() bool { return len(srv.NACKs()) > 0 }, 10*time.Second, 10*time.Millisecond)
	n := srv.NACKs()[0]
	assert.Equal(t, "replica-1", n.Node)
	assert.Contains(t, n.Error, `route "broken"`, "the NACK names the resource, not a path of the assembled document")
	assert.Contains(t, n.Error, `no backend named "nowhere"`)
	assert.Contains(t, srvLog.String(), "xds: NACK")
	assert.Contains(t, srvLog.String(), "node=replica-1")
	require.Equal(t, "v2", get(t, url), "the last good config keeps serving")
	require.Equal(t, "v2", get(t, url))

	// The fix applies, with the rest of the update that was held back.
	require.NoError(t, srv.SetYAML([]byte(cfg(port, "v4", ""))))
	require.Eventually(t, func() bool { return get(t, url) == "v4" }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		nodes := srv.Nodes()
		// The ACK of the fix clears the node's last NACK.
		return len(nodes) == 1 && nodes[0].ID == "replica-1" && nodes[0].LastNACK == "" && nodes[0].ACKs > 0
	}, 10*time.Second, 10*time.Millisecond, "%+v", srv.Nodes())
}

// Without the bearer token, or with a wrong one, the stream is refused with Unauthenticated; with
// it, the server answers.
func TestServerRequiresToken(t *testing.T) {
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler), AuthToken: "s3cret"})
	addr := controlPlane(t, srv)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	first := func(token string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if token != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", token)
		}
		st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
		if err != nil {
			return err
		}
		// Send may fail with io.EOF when the server already ended the stream; Recv has its status.
		_ = st.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: xds.TypeRoute, Node: &corev3.Node{Id: "n"}})
		_, err = st.Recv()
		return err
	}
	for _, token := range []string{"", "Bearer wrong", "Bearer s3cret2", "s3cret"} {
		require.Equal(t, codes.Unauthenticated, status.Code(first(token)), "token %q", token)
	}
	require.NoError(t, first("Bearer s3cret"))
}

// A state-of-the-world stream gets a clear error: agentgateway speaks Delta ADS only.
func TestServerRefusesSotW(t *testing.T) {
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	addr := controlPlane(t, srv)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	require.NoError(t, err)
	_ = st.Send(&discovery.DiscoveryRequest{TypeUrl: xds.TypeRoute}) // may fail: the server ends the stream at once
	_, err = st.Recv()
	require.Equal(t, codes.Unimplemented, status.Code(err), "%v", err)
}

// A config file split into resources and assembled again builds to the same routes, in the same
// order; names are unique; policies attach to their target.
func TestResourcesRoundTrip(t *testing.T) {
	doc := `
config: {adminAddr: off}
backends:
- name: echo
  host: 127.0.0.1:1
binds:
- port: 8081
  listeners:
  - routes:
    - name: a
      matches: [{path: {pathPrefix: /a}}]
      backends: [{backend: echo}]
    - matches: [{path: {pathPrefix: /}}]
      policies: {directResponse: {status: 404, body: none}}
- port: 8080
  listeners:
  - name: main
    hostname: example.com
    routes:
    - name: a
      backends: [{host: 127.0.0.1:2}]
`
	r, err := xds.FromYAML([]byte(doc))
	require.NoError(t, err)
	names := func() (out []string) {
		for _, rt := range r.Routes {
			out = append(out, rt.GetListener()+" "+rt.GetName())
		}
		return out
	}
	assert.Equal(t, []string{"8081/0 8081/0/a", "8081/0 8081/0/1", "main main/a"}, names(), "a route name two listeners use is prefixed")
	require.Len(t, r.Backends, 1)
	spec, err := structpb.NewStruct(map[string]any{"cors": map[string]any{"allowOrigins": []any{"*"}}})
	require.NoError(t, err)
	r.Policies = append(r.Policies, &xdspb.Policy{Name: "cors", Target: &xdspb.Policy_Route{Route: "main/a"}, Spec: spec})
	out, _, err := r.Document()
	require.NoError(t, err)
	f, err := config.Load(out, nil)
	require.NoError(t, err)
	require.Len(t, f.Binds, 2)
	assert.Equal(t, 8080, *f.Binds[0].Port, "binds sorted by port")
	assert.Equal(t, "example.com", f.Binds[0].Listeners[0].Hostname)
	assert.Equal(t, []string{"8081/0/a", "8081/0/1"}, []string{f.Binds[1].Listeners[0].Routes[0].Name, f.Binds[1].Listeners[0].Routes[1].Name},
		"routes keep the file's order")
	assert.Contains(t, string(out), `"cors"`)
	assert.NotContains(t, string(out), "adminAddr", "the config section stays with each data plane")
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.NoError(t, rt.Close())

	// The same policy key twice on one target is an error naming the policy.
	r.Policies = append(r.Policies, &xdspb.Policy{Name: "cors2", Target: &xdspb.Policy_Route{Route: "main/a"}, Spec: spec})
	_, _, err = r.Document()
	require.ErrorIs(t, err, xds.ErrInvalidResource)
	require.ErrorContains(t, err, `policy "cors2": cors is already set on its target`)
}

// Structural errors are refused by the server before anything is sent, with the resource named.
func TestSetRefusesBadResources(t *testing.T) {
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	for name, c := range map[string]struct {
		r    *xds.Resources
		yaml string
		want string
	}{
		"duplicate":  {r: &xds.Resources{Backends: []*xdspb.Backend{{Name: "x"}, {Name: "x"}}}, want: `Backend "x" is defined twice`},
		"unnamed":    {r: &xds.Resources{Routes: []*xdspb.Route{{}}}, want: "a Route without a name"},
		"not yaml":   {yaml: "binds: [", want: "parsing YAML"},
		"bad port":   {yaml: "binds: [{port: x}]", want: "binds[0].port: want a port number"},
		"negative":   {yaml: "binds: [{port: -1, listeners: [{}]}]", want: "binds[0].port: want a port number (1-65535)"},
		"bind field": {yaml: "binds: [{port: 1, tunnelProtocol: x}]", want: "binds[0].tunnelProtocol: not supported over xDS"},
		"not object": {yaml: "[1]", want: "the config must be an object"},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			if c.r != nil {
				err = srv.Set(c.r)
			} else {
				err = srv.SetYAML([]byte(c.yaml))
			}
			require.ErrorIs(t, err, xds.ErrInvalidResource)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestLocatorNamesResources(t *testing.T) {
	r := &xds.Resources{Listeners: []*xdspb.Listener{{Name: "l", Port: 80}}}
	for i := range 12 {
		r.Routes = append(r.Routes, &xdspb.Route{Name: fmt.Sprintf("r%d", i), Listener: "l", Order: int32(i)})
	}
	_, loc, err := r.Document()
	require.NoError(t, err)
	msg := loc.Locate("binds[0].listeners[0].routes[11].policies: bad\nbinds[0].listeners[0].routes[1]: bad\nbinds[0].listeners[0].hostname: bad")
	assert.Equal(t, "route \"r11\".policies: bad\nroute \"r1\": bad\nlistener \"l\".hostname: bad", msg)
	assert.False(t, strings.Contains(msg, "binds["))
}

// dataPlane runs a Gateway fed by a Client of addr until the test ends.
func dataPlane(t *testing.T, addr, node string) *xds.Client {
	t.Helper()
	gw := agentgateway.New(agentgateway.WithLogger(slog.New(slog.DiscardHandler)))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	c, err := xds.NewClient(addr, xds.ClientOptions{Node: &corev3.Node{Id: node}, Logger: slog.New(slog.DiscardHandler), Drain: time.Millisecond},
		func(rt *config.Runtime) error { return gw.Apply(rt.Config) })
	require.NoError(t, err)
	var running sync.WaitGroup
	running.Go(func() { c.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		running.Wait()
		require.NoError(t, gw.Wait())
		require.NoError(t, c.Close())
		http.DefaultClient.CloseIdleConnections()
	})
	return c
}

// A change that adds a backend and a route using it, then removes both, never shows the data plane a
// route whose backend is missing: Set sends additions in dependency order and removals in reverse,
// so there is no NACK on the way.
func TestSetOrdersDependencies(t *testing.T) {
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	port := freePort(t)
	up := fmt.Sprintf(`
backends:
- name: b%d
  host: 127.0.0.1:1
`, port)
	withBackend := cfg(port, "v2", fmt.Sprintf(`    - name: uses
      matches: [{path: {exact: /uses}}]
      backends: [{backend: b%d}]
`, port)) + up
	require.NoError(t, srv.SetYAML([]byte(cfg(port, "v1", ""))))
	c := dataPlane(t, controlPlane(t, srv), "n")
	<-c.Ready()
	url := fmt.Sprintf("http://127.0.0.1:%d/ping", port)
	for i, doc := range []string{withBackend, cfg(port, "v3", ""), withBackend, cfg(port, "v5", "")} {
		require.NoError(t, srv.SetYAML([]byte(strings.Replace(doc, `"v`, fmt.Sprintf(`"%d-v`, i), 1))))
		want := fmt.Sprintf("%d-v", i)
		require.Eventually(t, func() bool { return strings.HasPrefix(get(t, url), want) }, 10*time.Second, 5*time.Millisecond)
	}
	require.Empty(t, srv.NACKs())
}

// The time from Server.Set to a data plane serving the change, in process (no file polling).
func TestPropagationLatency(t *testing.T) {
	srv := xds.NewServer(xds.ServerOptions{Logger: slog.New(slog.DiscardHandler)})
	port := freePort(t)
	require.NoError(t, srv.SetYAML([]byte(cfg(port, "v0", ""))))
	c := dataPlane(t, controlPlane(t, srv), "n")
	<-c.Ready()
	url := fmt.Sprintf("http://127.0.0.1:%d/ping", port)
	var took []time.Duration
	for i := 1; i <= 20; i++ {
		v := fmt.Sprintf("v%d", i)
		t0 := time.Now()
		require.NoError(t, srv.SetYAML([]byte(cfg(port, v, ""))))
		require.Eventually(t, func() bool { return get(t, url) == v }, 10*time.Second, time.Millisecond)
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	t.Logf("Set to served: p50 %v, max %v over %d changes", took[len(took)/2], took[len(took)-1], len(took))
}
