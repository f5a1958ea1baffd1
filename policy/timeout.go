package policy

import (
	"context"
	"errors"
	"net/http"
	"time"

	agentgateway "github.com/agentgw/agentgateway"
)

// TimeoutConfig configures request timeouts (agentgateway's `timeout`): at least one is required.
type TimeoutConfig struct {
	// RequestTimeout bounds the whole downstream request and response, retries included.
	RequestTimeout time.Duration
	// BackendRequestTimeout bounds each upstream attempt (each retry gets a fresh one).
	BackendRequestTimeout time.Duration
}

type timeoutInfo struct {
	outer   context.Context // the request context without the backend deadline
	backend time.Duration
}

type timeoutKey struct{}

// NewTimeout returns the timeout policy. It sets context deadlines, which the reverse proxy and the
// protocol backends honour; when one expires before the response has started, the client gets 504.
// Once a response is streaming, an expired request timeout ends the stream (the status is already
// sent). On its route it replaces the gateway's default backend timeout
// (agentgateway.WithDefaultBackendTimeout), which bounds the wait for the response header only.
func NewTimeout(spec TimeoutConfig) (agentgateway.Policy, error) {
	if spec.RequestTimeout < 0 {
		return nil, agentgateway.Errorf("requestTimeout", "must not be negative")
	}
	if spec.BackendRequestTimeout < 0 {
		return nil, agentgateway.Errorf("backendRequestTimeout", "must not be negative")
	}
	if spec.RequestTimeout == 0 && spec.BackendRequestTimeout == 0 {
		return nil, agentgateway.Errorf("", "set requestTimeout or backendRequestTimeout")
	}
	return agentgateway.NewPolicy(agentgateway.PhaseTimeout, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if st := agentgateway.StateFrom(ctx); st != nil {
				st.BackendTimeout = 0 // this policy's deadlines replace the gateway's default
			}
			if spec.RequestTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, spec.RequestTimeout)
				defer cancel()
			}
			if spec.BackendRequestTimeout > 0 {
				// Retry, further in, finds the info and gives each attempt its own deadline; without
				// retry, the single attempt gets it here.
				ctx = context.WithValue(ctx, timeoutKey{}, &timeoutInfo{outer: ctx, backend: spec.BackendRequestTimeout})
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, spec.BackendRequestTimeout)
				defer cancel()
			}
			tw := &timeoutWriter{ctx: ctx}
			tw.Init(w, tw, nil)
			next.ServeHTTP(tw, r.WithContext(ctx))
			if !tw.replaced && tw.Status() == 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				tw.gatewayTimeout(r)
			}
		})
	}), nil
}

// attemptContext returns the context for one upstream attempt: with a backend timeout configured,
// a fresh deadline from the outer request context.
func attemptContext(r *http.Request) (context.Context, context.CancelFunc) {
	if ti, ok := r.Context().Value(timeoutKey{}).(*timeoutInfo); ok {
		ctx := context.WithValue(ti.outer, timeoutKey{}, ti)
		return context.WithTimeout(ctx, ti.backend)
	}
	return r.Context(), func() {}
}

// timeoutWriter turns an error status written because the deadline passed (a proxy's 502) into 504.
type timeoutWriter struct {
	agentgateway.HookedWriter
	ctx      context.Context
	replaced bool // the 504 went out instead of the handler's response
}

// gatewayTimeout answers a handler that wrote nothing before the deadline passed.
func (t *timeoutWriter) gatewayTimeout(r *http.Request) {
	if st := agentgateway.StateFrom(r.Context()); st != nil && st.Err == nil {
		st.Err = context.DeadlineExceeded
	}
	t.replaced = true
	agentgateway.WriteError(t, http.StatusGatewayTimeout, "timeout")
}

func (t *timeoutWriter) BeforeHeader(h http.Header, status int) int {
	if status < 500 || t.replaced || !errors.Is(t.ctx.Err(), context.DeadlineExceeded) {
		return status
	}
	// Returning 0 drops the rest of the handler's response.
	t.replaced = true
	clear(h)
	agentgateway.WriteError(t.Unwrap(), http.StatusGatewayTimeout, "timeout")
	return 0
}
