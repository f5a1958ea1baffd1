package xds_test

import (
	"context"
	"log/slog"
	"net"
	"os"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/xds"
)

// A control plane serving a config file; every Set (here, SetYAML) is pushed to the data planes.
func ExampleServer() {
	ctx := context.Background()
	srv := xds.NewServer(xds.ServerOptions{AuthToken: os.Getenv("XDS_TOKEN")})
	data, err := os.ReadFile("routes.yaml")
	if err != nil {
		return
	}
	if err := srv.SetYAML(data); err != nil { // splits the file into Listener/Route/Backend/Section resources
		return
	}
	ln, err := net.Listen("tcp", ":15010")
	if err != nil {
		return
	}
	_ = srv.Serve(ctx, ln)
}

// A data plane: each config from the control plane is built like a file and applied atomically.
func ExampleNewClient() {
	ctx := context.Background()
	gw := agentgateway.New()
	c, err := xds.NewClient("http://cp:15010", xds.ClientOptions{Node: &corev3.Node{Id: "default/gw~replica-1"},
		AuthToken: os.Getenv("XDS_TOKEN"), Logger: slog.Default()},
		func(rt *config.Runtime) error { return gw.Apply(rt.Config) })
	if err != nil {
		return
	}
	defer c.Close()
	go c.Run(ctx)
	<-c.Ready() // the first config is served
	_ = gw.Run(ctx)
}
