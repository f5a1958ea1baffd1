package policy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// MirrorConfig configures request mirroring (agentgateway's `requestMirror`, whose backend reference
// the config package resolves into the target handler).
type MirrorConfig struct {
	// Percentage is the fraction of requests mirrored, from 0.0 to 1.0.
	Percentage float64
	// MaxConcurrent bounds mirrored requests in flight (default 64); beyond it, mirrors are dropped.
	MaxConcurrent int
	// MaxBodyBytes is the largest request body copied to the mirror (default 64 KiB); requests with a
	// larger body are not mirrored.
	MaxBodyBytes int64
	// Timeout bounds each mirrored request (default 30s).
	Timeout time.Duration
	// Logger receives mirror failures at debug level. Default: the gateway's logger (see
	// [Mirror.Provision]), or slog.Default() outside a Gateway.
	Logger *slog.Logger
}

// Mirror sends copies of requests to another backend, fire-and-forget. Close waits for mirrored
// requests in flight.
type Mirror struct {
	target http.Handler
	cfg    MirrorConfig
	logger atomic.Pointer[slog.Logger]
	sem    chan struct{}
	wg     sync.WaitGroup
	// mu orders starting a mirror (wg.Add) against Close: a gateway retires a mirror once the
	// requests of the old configuration have drained or the drain deadline passed, and a straggler
	// must not start one while Close waits (or after it returned).
	mu     sync.Mutex
	closed bool
	drops  atomic.Int64
}

// NewMirror returns a mirror to target (an http.Handler such as agentgateway.HTTP(url)). Mirrored
// requests run on their own goroutines with a context detached from the client's, their responses are
// discarded, and when MaxConcurrent are in flight new ones are dropped: mirroring never slows or
// fails the main request.
func NewMirror(cfg MirrorConfig, target http.Handler) (*Mirror, error) {
	if cfg.Percentage < 0 || cfg.Percentage > 1 {
		return nil, agentgateway.Errorf("percentage", "must be between 0.0 and 1.0")
	}
	if target == nil {
		return nil, agentgateway.Errorf("backend", "required")
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 64
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	m := &Mirror{target: target, cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent)}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	m.logger.Store(logger)
	return m, nil
}

// Provision implements [agentgateway.Provisioner]: failures are logged to the gateway's logger (unless
// MirrorConfig.Logger is set), and the target is provisioned too when it is a Provisioner, so that a
// mirror's outbound client goes through the gateway's transport hook like the route's own backend.
func (m *Mirror) Provision(svc agentgateway.Services) error {
	if m.cfg.Logger == nil && svc.Logger != nil {
		m.logger.Store(svc.Logger)
	}
	if p, ok := m.target.(agentgateway.Provisioner); ok {
		return p.Provision(svc)
	}
	return nil
}

// Close waits for the mirrored requests in flight; requests served afterwards are no longer
// mirrored (they count as dropped).
func (m *Mirror) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

func (m *Mirror) drop() { m.drops.Add(1) }

// Dropped returns how many mirrors were skipped: MaxConcurrent were in flight, or the mirror was closed.
func (m *Mirror) Dropped() int64 {
	return m.drops.Load()
}

// Phase is agentgateway.PhaseMirror.
func (*Mirror) Phase() agentgateway.Phase { return agentgateway.PhaseMirror }

// Wrap copies each request to the mirror target.
func (m *Mirror) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.cfg.Percentage > 0 && (m.cfg.Percentage >= 1 || rand.Float64() < m.cfg.Percentage) {
			m.mirror(r)
		}
		next.ServeHTTP(w, r)
	})
}

func (m *Mirror) mirror(r *http.Request) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > m.cfg.MaxBodyBytes {
			return
		}
		buf, err := io.ReadAll(io.LimitReader(r.Body, m.cfg.MaxBodyBytes+1))
		// Whatever happens, the main request gets its body back intact.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		if err != nil || int64(len(buf)) > m.cfg.MaxBodyBytes {
			return
		}
		body = buf
	}
	select {
	case m.sem <- struct{}{}:
	default:
		m.drop()
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), m.cfg.Timeout)
	mr := r.Clone(ctx)
	if st := agentgateway.StateFrom(r.Context()); st != nil {
		cp := *st // the mirror must not write into the main request's State
		mr = mr.WithContext(agentgateway.WithState(ctx, &cp))
	}
	mr.Body = http.NoBody
	if body != nil {
		mr.Body = io.NopCloser(bytes.NewReader(body))
		mr.ContentLength = int64(len(body))
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		<-m.sem
		cancel()
		m.drop()
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		defer func() { <-m.sem }()
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				m.logger.Load().Debug("request mirror panicked", "panic", p)
			}
		}()
		dw := &discardWriter{h: http.Header{}}
		m.target.ServeHTTP(dw, mr)
		if dw.status >= 500 {
			m.logger.Load().Debug("request mirror failed", "status", dw.status)
		}
	}()
}

type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(s int) {
	if d.status == 0 {
		d.status = s
	}
}
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(p), nil
}
