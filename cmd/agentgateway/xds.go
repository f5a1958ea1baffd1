package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"gopkg.in/yaml.v3"

	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/xds"
)

// source keeps the gateway's routing config current: a config file (config.Watcher) or an xDS
// control plane (xds.Client).
type source interface {
	File() *config.File
	Run(ctx context.Context)
	Close() error
}

// newXDSSource starts the data plane's xDS client when the file sets config.xdsAddress: the file is
// then the bootstrap (its config and frontendPolicies sections), and routes come from the control
// plane. It returns nil when the file has no xdsAddress.
func newXDSSource(first *config.File, f flags, drain time.Duration, logger *slog.Logger, apply func(*config.Runtime) error) (*xds.Client, error) {
	s := first.Settings
	if s.XDSAddress == "" {
		return nil, nil
	}
	// A file that also routes would be served by nobody: say so rather than ignoring it.
	rt, err := first.Build(logger)
	if err != nil {
		return nil, err
	}
	routes := len(rt.Config.Listeners)
	_ = rt.Close()
	if routes > 0 {
		return nil, fmt.Errorf("config.xdsAddress is set: the routing config comes from the control plane, so the file must not have binds, mcp or llm")
	}
	host, _ := os.Hostname()
	ns := s.Namespace
	if ns == "" {
		ns = "default"
	}
	cluster := s.ClusterID
	if cluster == "" {
		cluster = "Kubernetes"
	}
	// The process id tells replicas on one host apart in the control plane's logs.
	node := &corev3.Node{Id: fmt.Sprintf("%s/%s~%s~%d", ns, s.Gateway, host, os.Getpid()), Cluster: cluster}
	return xds.NewClient(s.XDSAddress, xds.ClientOptions{Node: node, AuthToken: s.XDSAuthToken, Logger: logger,
		Drain: drain, MCPPins: f.pins, Settings: &first.Settings, Frontend: &first.Frontend}, apply)
}

// fileSource adapts the bootstrap file to source until the control plane's first config arrives.
type xdsSource struct {
	*xds.Client
	bootstrap *config.File
}

func (x xdsSource) File() *config.File {
	if f := x.Client.File(); f != nil {
		return f
	}
	return x.bootstrap
}

// serveControlPlane runs `agentgateway --xds-serve ADDR -f config.yaml`: an xDS control plane that
// serves the file's routing config to data planes and pushes each change of the file. The file is
// only split into resources here, not built: the data planes validate it and NACK what they cannot
// serve (the NACKs are logged). config.xdsAuthToken, when the file sets it, is required of every
// data plane.
func serveControlPlane(ctx context.Context, f flags, logger *slog.Logger) error {
	data, err := os.ReadFile(f.file)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	srv := xds.NewServer(xds.ServerOptions{Logger: logger, AuthToken: authToken(data)})
	if err := srv.SetYAML(data); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.xdsServe)
	if err != nil {
		return fmt.Errorf("--xds-serve: %w", err)
	}
	logger.Info("xds control plane serving", "address", ln.Addr().String(), "config", f.file)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	served, pending := sha256.Sum256(data), [32]byte{}
	tick := time.NewTicker(f.pollPeriod)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
		}
		data, err := os.ReadFile(f.file)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue // a file being rewritten; the next poll sees it whole
		}
		sum := sha256.Sum256(data)
		switch {
		case sum == served:
			continue
		case sum != pending:
			pending = sum // pushed once two polls read the same content, never half written
			continue
		}
		served = sum
		if err := srv.SetYAML(data); err != nil {
			logger.Error("xds: config not pushed", "config", f.file, "error", err)
			continue
		}
		logger.Info("xds: config pushed", "config", f.file)
	}
}

// authToken reads config.xdsAuthToken without validating the rest of the file.
func authToken(data []byte) string {
	var doc struct {
		Config struct {
			XDSAuthToken string `yaml:"xdsAuthToken"`
		} `yaml:"config"`
	}
	_ = yaml.Unmarshal(data, &doc)
	return os.ExpandEnv(doc.Config.XDSAuthToken)
}
