package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

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
// keeps them in step with the file (config.WatchFile, Gateway.Run); this adds the telemetry the
// file's config section asks for and the admin, stats and readiness listeners.
func serve(ctx context.Context, f flags, logger *slog.Logger, level *slog.LevelVar) error {
	first, err := config.LoadFile(f.file)
	if err != nil {
		return err
	}
	settings := first.Settings
	drain := f.drain
	if d := settings.ConnectionTerminationDeadline; d > 0 && !f.set["drain-timeout"] {
		drain = d
	}
	tel, err := startTelemetry(ctx, first, f)
	if err != nil {
		return err
	}
	defer tel.shutdown(logger)
	alOpts, err := first.AccessLogOptions()
	if err != nil {
		return err
	}
	alLogger, stopLogExport, err := accessLogOutput(ctx, first, f.logOut, logger, level)
	if err != nil {
		return err
	}
	defer stopLogExport()
	accessLog := agentgateway.NewAccessLog(alLogger, alOpts)
	stats := newStats()
	opts := []agentgateway.Option{agentgateway.WithLogger(logger), agentgateway.WithDrainTimeout(drain),
		agentgateway.WithBindAddress(f.bindAddr), agentgateway.WithDefaultBackendTimeout(f.backendTimeout),
		agentgateway.WithAccessLog(false), agentgateway.WithObserver(stats, accessLog),
		agentgateway.WithHTTP1Server(f.http1)}
	opts = append(opts, tel.options...)
	metricFields, err := first.MetricFields()
	if err != nil {
		return err
	}
	if metricFields != nil {
		opts = append(opts, agentgateway.WithMetricFields(metricFields))
	}
	opts = append(opts, first.Frontend.Options()...)
	if fn := first.Frontend.ServerConfig(); fn != nil {
		opts = append(opts, agentgateway.WithServerConfig(fn))
	}
	gw := agentgateway.New(opts...)
	var current atomic.Pointer[config.File]
	current.Store(first)
	apply := func(rt *config.Runtime) error {
		nf := rt.File()
		al, err := nf.AccessLogOptions()
		if err != nil {
			return err
		}
		if err := gw.Apply(rt.Config); err != nil {
			return err
		}
		accessLog.SetOptions(al)
		reloadSettings(current.Swap(nf), nf, level, logger)
		return nil
	}
	var w source
	xc, err := newXDSSource(first, f, drain, logger, apply)
	switch {
	case err != nil:
		return err
	case xc != nil:
		w = xdsSource{Client: xc, bootstrap: first}
	default:
		fw, err := config.WatchFile(f.file, config.WatchOptions{Interval: f.pollPeriod, Drain: drain, Logger: logger, MCPPins: f.pins}, apply)
		if err != nil {
			return err
		}
		w = fw
	}
	defer func() {
		_ = gw.Close()
		_ = first.Frontend.Close() // networkExtAuthz's connection
		_ = w.Close()
	}()
	portsCtx, stopPorts := context.WithCancel(ctx)
	defer stopPorts()
	if err := gw.Start(portsCtx); err != nil {
		return err
	}
	var ready atomic.Bool
	a := &admin{file: w.File, gw: gw, ready: &ready, level: level, stats: stats, logger: logger}
	if f.pins != "" {
		pins, err := mcp.OpenPins(f.pins)
		if err != nil {
			stopPorts()
			_ = gw.Wait()
			return fmt.Errorf("--pins: %w", err)
		}
		a.pins = pins.Handler()
	}
	if f.workers > 0 {
		runtime.GOMAXPROCS(f.workers)
	}
	trimmer := newMemoryTrimmer(f.memoryTrim, 32<<20, logger)
	a.memory = trimmer
	servers, err := a.start(f, settings, tel.metrics)
	if err != nil {
		stopPorts()
		_ = gw.Wait()
		return err
	}
	var watching sync.WaitGroup
	watching.Go(func() { w.Run(ctx) })
	watching.Go(func() { trimmer.run(ctx) })
	if xc == nil {
		ready.Store(true)
		logger.Info("agentgateway ready", "config", f.file)
	} else {
		// Not ready until the control plane's first config is served.
		watching.Go(func() {
			select {
			case <-xc.Ready():
				ready.Store(true)
				logger.Info("agentgateway ready", "xds", first.Settings.XDSAddress)
			case <-ctx.Done():
			}
		})
	}

	<-ctx.Done()
	ready.Store(false)
	logger.Info("shutting down: draining", "timeout", drain)
	watching.Wait()
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(dctx)
	}
	if err := gw.Wait(); err != nil {
		logger.Warn("drain deadline passed; open requests were cancelled", "error", err)
	}
	return nil
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
