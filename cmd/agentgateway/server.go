package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
	"github.com/agentgw/agentgateway/mcp"
)

func validate(path, pins string) error {
	f, err := config.LoadFile(path)
	if err != nil {
		return err
	}
	f.SetMCPPins(pins)
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	return rt.Close()
}

// serve runs the standalone gateway until ctx is cancelled: the library binds the config's ports and
// keeps them in step with the file (config.WatchFile, Gateway.Run); this adds the admin listener.
func serve(ctx context.Context, f flags, logger *slog.Logger) error {
	gw := agentgateway.New(agentgateway.WithLogger(logger), agentgateway.WithDrainTimeout(f.drain),
		agentgateway.WithBindAddress(f.bindAddr), agentgateway.WithDefaultBackendTimeout(f.backendTimeout))
	w, err := config.WatchFile(f.file, config.WatchOptions{Interval: f.pollPeriod, Drain: f.drain, Logger: logger, MCPPins: f.pins},
		func(rt *config.Runtime) error { return gw.Apply(rt.Config) })
	if err != nil {
		return err
	}
	defer func() {
		_ = gw.Close()
		_ = w.Close()
	}()
	portsCtx, stopPorts := context.WithCancel(ctx)
	defer stopPorts()
	if err := gw.Start(portsCtx); err != nil {
		return err
	}
	var ready atomic.Bool
	admin, err := startAdmin(f, w, gw, &ready, logger)
	if err != nil {
		stopPorts()
		_ = gw.Wait()
		return err
	}
	if f.workers > 0 {
		runtime.GOMAXPROCS(f.workers)
	}
	var watching sync.WaitGroup
	watching.Go(func() { w.Run(ctx) })
	trimmer := newMemoryTrimmer(f.memoryTrim, 32<<20, logger)
	watching.Go(func() { trimmer.run(ctx) })
	ready.Store(true)
	logger.Info("agentgateway ready", "config", f.file)

	<-ctx.Done()
	ready.Store(false)
	logger.Info("shutting down: draining", "timeout", f.drain)
	watching.Wait()
	if admin != nil {
		dctx, cancel := context.WithTimeout(context.Background(), f.drain)
		defer cancel()
		_ = admin.Shutdown(dctx)
	}
	if err := gw.Wait(); err != nil {
		logger.Warn("drain deadline passed; open requests were cancelled", "error", err)
	}
	return nil
}

func startAdmin(f flags, w *config.Watcher, gw *agentgateway.Gateway, ready *atomic.Bool, logger *slog.Logger) (*http.Server, error) {
	addr := f.adminAddr
	if addr == "" {
		addr = w.File().Settings.AdminAddr
	}
	if addr == "" {
		addr = "127.0.0.1:15000"
	}
	if addr == "off" {
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config_dump", func(rw http.ResponseWriter, r *http.Request) {
		b, err := dumpWithDefaults(w.File(), gw)
		if err != nil {
			agentgateway.WriteError(rw, http.StatusInternalServerError, err.Error())
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(bytes.TrimSpace(b))
	})
	mux.HandleFunc("GET /healthz/ready", func(rw http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(rw, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = rw.Write([]byte("ready\n"))
	})
	if f.pins != "" {
		pins, err := mcp.OpenPins(f.pins)
		if err != nil {
			return nil, fmt.Errorf("--pins: %w", err)
		}
		mux.Handle("/mcp/pins", pins.Handler())
	}
	mux.HandleFunc("GET /healthz/live", func(rw http.ResponseWriter, r *http.Request) { _, _ = rw.Write([]byte("live\n")) })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("admin listening", "addr", ln.Addr().String())
	return srv, nil
}

// dumpWithDefaults is the config dump with the data-plane defaults the file does not spell out, under
// "gatewayDefaults": they bound every route and backend that sets nothing of its own.
func dumpWithDefaults(f *config.File, gw *agentgateway.Gateway) ([]byte, error) {
	b, err := f.Dump()
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil || doc == nil {
		doc = map[string]any{}
	}
	doc["gatewayDefaults"] = map[string]any{
		// Bounds the wait for a response header on routes without a timeout policy; streams run on.
		"defaultBackendTimeout":  gw.DefaultBackendTimeout().String(),
		"maxResponseHeaderBytes": agentgateway.DefaultMaxResponseHeaderBytes,
		"maxResponseHeaders":     agentgateway.DefaultMaxResponseHeaders,
	}
	return json.MarshalIndent(doc, "", "  ")
}
