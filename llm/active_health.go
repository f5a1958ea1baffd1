package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// The defaults of an active health check (agentgateway's health.active).
const (
	DefaultActivePath         = "/health"
	DefaultActiveInterval     = 10 * time.Second
	DefaultActiveTimeout      = 3 * time.Second
	DefaultHealthyThreshold   = 1
	DefaultUnhealthyThreshold = 3
)

// healthCheckUserAgent marks probe requests in the provider's logs.
const healthCheckUserAgent = "agentgateway-health-check"

// ErrActiveHealth is wrapped by the errors of an invalid [ActiveHealthCheck].
var ErrActiveHealth = errors.New("invalid active health check")

// ActiveHealthCheck probes a model entry's provider on a timer instead of waiting for real traffic
// to fail (the schema's health.active). A provider that fails UnhealthyThreshold probes in a row is
// evicted, and stays evicted while it keeps failing; HealthyThreshold passing probes in a row let it
// back in. A probe is a GET of Path on the provider's scheme and host (not under its base path),
// through the same transport as real requests, without the API key; it passes on a status in
// ExpectedStatuses, or on any 2xx when that is empty. Zero fields take the Default* values.
type ActiveHealthCheck struct {
	Path               string
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	ExpectedStatuses   []int
}

// withDefaults fills the zero fields and validates the check.
func (c ActiveHealthCheck) withDefaults() (ActiveHealthCheck, error) {
	if c.Path == "" {
		c.Path = DefaultActivePath
	}
	if c.Interval == 0 {
		c.Interval = DefaultActiveInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultActiveTimeout
	}
	if c.HealthyThreshold == 0 {
		c.HealthyThreshold = DefaultHealthyThreshold
	}
	if c.UnhealthyThreshold == 0 {
		c.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	switch {
	case !strings.HasPrefix(c.Path, "/"):
		return c, fmt.Errorf("%w: path must start with /", ErrActiveHealth)
	case c.Interval < 0:
		return c, fmt.Errorf("%w: interval must be greater than zero", ErrActiveHealth)
	case c.Timeout < 0:
		return c, fmt.Errorf("%w: timeout must be greater than zero", ErrActiveHealth)
	case c.HealthyThreshold < 0:
		return c, fmt.Errorf("%w: healthyThreshold must be at least 1", ErrActiveHealth)
	case c.UnhealthyThreshold < 0:
		return c, fmt.Errorf("%w: unhealthyThreshold must be at least 1", ErrActiveHealth)
	}
	for _, s := range c.ExpectedStatuses {
		if s < 100 || s > 599 {
			return c, fmt.Errorf("%w: expectedStatuses contains an invalid HTTP status code: %d", ErrActiveHealth, s)
		}
	}
	return c, nil
}

func (c *ActiveHealthCheck) accepts(status int) bool {
	if len(c.ExpectedStatuses) == 0 {
		return status >= 200 && status < 300
	}
	return slices.Contains(c.ExpectedStatuses, status)
}

// ActiveHealth gives the model entry an active health check. Probes start when the router is
// provisioned by a gateway and stop when it is closed.
func ActiveHealth(c ActiveHealthCheck) ModelOption {
	return func(m *ModelEntry) {
		c, err := c.withDefaults()
		if err != nil {
			m.err = errors.Join(m.err, err)
			return
		}
		m.active = &c
	}
}

// prober runs the active checks of a router's entries.
type prober struct {
	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startProbes starts one probe loop per entry with an active check, once, unless the router is
// closed.
func (r *Router) startProbes() {
	p := &r.probes
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, m := range r.models {
		if m.active == nil {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			r.probeLoop(ctx, m)
		}()
	}
}

// Close stops the router's active health checks and waits for probes in flight. It implements
// io.Closer, so a gateway retiring the router stops them.
func (r *Router) Close() error {
	p := &r.probes
	p.mu.Lock()
	p.closed = true
	cancel := p.cancel
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	p.wg.Wait()
	return nil
}

// probeLoop probes m's provider every interval, first at once, and feeds the verdicts into its
// eviction state.
func (r *Router) probeLoop(ctx context.Context, m *ModelEntry) {
	c := m.active
	var healthy, unhealthy int
	evicted := false // whether this loop holds the entry evicted
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		ok := r.probe(ctx, m)
		if ctx.Err() != nil {
			return
		}
		if ok {
			unhealthy, healthy = 0, healthy+1
			// Only an eviction the checker made is lifted; one made by real traffic keeps its time.
			if evicted && healthy >= c.HealthyThreshold {
				r.log().Info("llm: active health check: model is healthy again", "model", m.pattern)
				m.health.ok()
				evicted = false
			}
		} else {
			healthy, unhealthy = 0, unhealthy+1
			if unhealthy >= c.UnhealthyThreshold {
				if !evicted {
					r.log().Warn("llm: active health check: evicting model", "model", m.pattern, "failed_probes", unhealthy)
				}
				// Out until the next probe has had its chance to run.
				m.health.evictUntil(time.Now().Add(2*c.Interval + c.Timeout))
				evicted = true
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe sends one probe and says whether it passed.
func (r *Router) probe(ctx context.Context, m *ModelEntry) bool {
	u := m.upstream
	ctx, cancel := context.WithTimeout(ctx, m.active.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.scheme+"://"+u.hostport+m.active.Path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", healthCheckUserAgent)
	resp, err := r.transport(u).RoundTrip(req)
	if err != nil {
		r.log().Debug("llm: active health check failed", "model", m.pattern, "error", err)
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	_ = resp.Body.Close()
	return m.active.accepts(resp.StatusCode)
}

// evictUntil keeps the entry evicted until at least t.
func (h *health) evictUntil(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.After(h.until) {
		h.until = t
	}
}
