package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/config"
)

func validate(path string) error {
	f, err := config.LoadFile(path)
	if err != nil {
		return err
	}
	rt, err := f.Build(slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	return rt.Close()
}

// server is the standalone gateway: one agentgateway.Gateway, a listener per configured port, the
// admin listener, and the file watcher.
type server struct {
	flags  flags
	logger *slog.Logger
	gw     *agentgateway.Gateway

	mu      sync.Mutex
	file    *config.File
	rt      *config.Runtime
	sum     [32]byte // of the config being served (or the last rejected edit)
	pending [32]byte // of a changed file seen once, applied when the next poll sees it unchanged
	ports   map[int]*portServer
	ready   atomic.Bool
	serveWG sync.WaitGroup
}

type portServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

func newServer(f flags, logger *slog.Logger) (*server, error) {
	s := &server{flags: f, logger: logger, ports: map[int]*portServer{}}
	s.gw = agentgateway.New(agentgateway.WithLogger(logger), agentgateway.WithDrainTimeout(f.drain))
	data, err := os.ReadFile(f.file)
	if err != nil {
		return nil, err
	}
	if err := s.load(data); err != nil {
		return nil, err
	}
	return s, nil
}

// load builds and applies a config; on any error nothing changes.
func (s *server) load(data []byte) error {
	f, err := config.Load(data, nil)
	if err != nil {
		return err
	}
	f.SetDir(filepath.Dir(s.flags.file))
	rt, err := f.Build(s.logger)
	if err != nil {
		return err
	}
	if err := s.gw.Apply(rt.Config); err != nil {
		_ = rt.Close()
		return err
	}
	s.mu.Lock()
	old := s.rt
	s.file, s.rt, s.sum = f, rt, sha256.Sum256(data)
	s.mu.Unlock()
	if old != nil {
		// Policies of the old config may still serve in-flight requests; release them after a drain.
		time.AfterFunc(s.flags.drain, func() { _ = old.Close() })
	}
	return nil
}

func (s *server) run(ctx context.Context) error {
	if err := s.syncPorts(); err != nil {
		s.stopPorts(context.Background())
		return err
	}
	admin, err := s.startAdmin()
	if err != nil {
		s.stopPorts(context.Background())
		return err
	}
	s.ready.Store(true)
	s.logger.Info("agentgateway ready", "config", s.flags.file)

	tick := time.NewTicker(s.flags.pollPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.ready.Store(false)
			s.logger.Info("shutting down: draining", "timeout", s.flags.drain)
			dctx, cancel := context.WithTimeout(context.Background(), s.flags.drain)
			defer cancel()
			if admin != nil {
				_ = admin.Shutdown(dctx)
			}
			s.stopPorts(dctx)
			s.serveWG.Wait()
			_ = s.gw.Close()
			s.mu.Lock()
			if s.rt != nil {
				_ = s.rt.Close()
			}
			s.mu.Unlock()
			return nil
		case <-tick.C:
			s.reloadIfChanged()
		}
	}
}

func (s *server) reloadIfChanged() {
	data, err := os.ReadFile(s.flags.file)
	if err != nil {
		s.logger.Error("config reload: reading file", "error", err)
		return
	}
	sum := sha256.Sum256(data)
	s.mu.Lock()
	same := sum == s.sum
	s.mu.Unlock()
	if same {
		return
	}
	// Editors and tools often write a file in several steps (truncate, then write): a change is
	// applied only once two polls in a row read the same content, so a half-written file is never
	// served, not even when it happens to be valid (an empty file is).
	if sum != s.pending {
		s.pending = sum
		return
	}
	if err := s.load(data); err != nil {
		s.mu.Lock()
		s.sum = sha256.Sum256(data) // report a bad edit once, not every tick
		s.mu.Unlock()
		s.logger.Error("config reload rejected; still serving the last good config", "error", err)
		return
	}
	if err := s.syncPorts(); err != nil {
		s.logger.Error("config reload: binding ports", "error", err)
		return
	}
	s.logger.Info("config reloaded", "config", s.flags.file)
}

// syncPorts opens listeners for new ports and drains the ones a reload removed.
func (s *server) syncPorts() error {
	s.mu.Lock()
	want := map[int]*config.TLSSpec{}
	for _, p := range s.rt.Ports {
		want[p.Port] = p.TLS
	}
	s.mu.Unlock()
	for port, tlsSpec := range want {
		if _, ok := s.ports[port]; ok {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(s.flags.bindAddr, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("binding port %d: %w", port, err)
		}
		srv := s.gw.NewServer()
		if tlsSpec != nil {
			tc, err := serverTLS(tlsSpec)
			if err != nil {
				ln.Close()
				return fmt.Errorf("port %d: %w", port, err)
			}
			srv.TLSConfig = tc
			ln = tls.NewListener(ln, tc)
		}
		ps := &portServer{srv: srv, ln: ln, done: make(chan struct{})}
		s.ports[port] = ps
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			defer close(ps.done)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger.Error("serving", "port", port, "error", err)
			}
		}()
		s.logger.Info("listening", "addr", ln.Addr().String(), "tls", tlsSpec != nil)
	}
	for port, ps := range s.ports {
		if _, ok := want[port]; !ok {
			delete(s.ports, port)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), s.flags.drain)
				defer cancel()
				_ = ps.srv.Shutdown(ctx)
			}()
		}
	}
	return nil
}

func (s *server) stopPorts(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ps := range s.ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ps.srv.Shutdown(ctx); err != nil {
				_ = ps.srv.Close()
			}
		}()
	}
	wg.Wait()
}

func serverTLS(t *config.TLSSpec) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if t.Root != "" {
		pem, err := os.ReadFile(t.Root)
		if err != nil {
			return nil, fmt.Errorf("reading client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no certificates", t.Root)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func (s *server) startAdmin() (*http.Server, error) {
	addr := s.flags.adminAddr
	if addr == "" {
		s.mu.Lock()
		addr = s.file.Settings.AdminAddr
		s.mu.Unlock()
	}
	if addr == "" {
		addr = "127.0.0.1:15000"
	}
	if addr == "off" {
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f := s.file
		s.mu.Unlock()
		b, err := f.Dump()
		if err != nil {
			agentgateway.WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(bytes.TrimSpace(b))
	})
	mux.HandleFunc("GET /healthz/ready", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /healthz/live", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("live\n")) })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.logger.Info("admin listening", "addr", ln.Addr().String())
	return srv, nil
}
