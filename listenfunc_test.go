package agentgateway_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	agentgateway "github.com/agentgw/agentgateway"
)

// A configured port served on a socket the embedder chose: port 80 is never bound, yet requests on
// the substitute socket are routed as arriving on port 80 (not to the port-8080 listener).
func TestListenFuncServesConfiguredPortOnGivenSocket(t *testing.T) {
	socks := map[int]string{}
	gw := agentgateway.New(agentgateway.WithListenFunc(func(port int) (net.Listener, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			socks[port] = ln.Addr().String()
		}
		return ln, err
	}))
	ok := func(body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) })
	}
	require.NoError(t, gw.Apply(agentgateway.Config{Listeners: []agentgateway.ListenerConfig{
		{Name: "a", Port: 80, Routes: []agentgateway.RouteConfig{{Name: "r80", Backends: []agentgateway.WeightedBackend{{Handler: ok("eighty"), Weight: 1}}}}},
		{Name: "b", Port: 8080, Routes: []agentgateway.RouteConfig{{Name: "r8080", Backends: []agentgateway.WeightedBackend{{Handler: ok("8080"), Weight: 1}}}}},
	}}))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, gw.Start(ctx))
	defer func() { cancel(); require.NoError(t, gw.Wait()) }()
	require.Len(t, socks, 2)
	resp, err := http.Get("http://" + socks[80] + "/")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, "eighty", string(b))
}
