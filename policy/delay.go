package policy

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/cel-go/common/types"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// DelayConfig configures fault injection by latency (agentgateway's `delay`).
type DelayConfig struct {
	// Duration is a fixed delay ("2s"), or a CEL expression over the request that returns a duration
	// (`duration("500ms")`) or a number of milliseconds (`random() < 0.1 ? 500 : 0` delays one
	// request in ten; `int(random() * 500)` adds jitter). A result that is not positive adds nothing.
	Duration string
}

// MaxDelay bounds an injected delay, so that an expression gone wrong cannot hold requests for hours.
const MaxDelay = 5 * time.Minute

// NewDelay returns the delay policy: it holds each request for the configured time before passing it
// on, and gives up (without forwarding) when the client goes away first.
func NewDelay(cfg DelayConfig) (agentgateway.Policy, error) {
	if cfg.Duration == "" {
		return nil, agentgateway.Errorf("duration", "duration is required")
	}
	var fixed time.Duration
	var prg *cel.Program
	if d, err := time.ParseDuration(cfg.Duration); err == nil {
		fixed = d
	} else {
		p, err := cel.Compile(cfg.Duration, nil)
		if err != nil {
			return nil, agentgateway.Errorf("duration", "neither a duration nor a CEL expression: %v", err)
		}
		prg = p
	}
	return agentgateway.NewPolicy(agentgateway.PhaseTransformation+5, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d := fixed
			if prg != nil {
				var err error
				if d, err = evalDelay(r, prg); err != nil {
					if st := agentgateway.StateFrom(r.Context()); st != nil {
						st.Err = err
					}
					d = 0 // a fault injector that fails injects no fault
				}
			}
			if d > 0 && !sleepCtx(r.Context(), min(d, MaxDelay)) {
				return // the client left
			}
			next.ServeHTTP(w, r)
		})
	}), nil
}

func evalDelay(r *http.Request, prg *cel.Program) (time.Duration, error) {
	v, err := prg.Eval(r.Context(), cel.NewActivation(r, nil))
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case types.Duration:
		return x.Duration, nil
	case types.Int:
		return time.Duration(min(max(int64(x), 0), int64(MaxDelay/time.Millisecond))) * time.Millisecond, nil
	case types.Uint:
		return time.Duration(min(uint64(x), uint64(MaxDelay/time.Millisecond))) * time.Millisecond, nil
	case types.Double:
		if !(x > 0) { // NaN too
			return 0, nil
		}
		return time.Duration(min(float64(x), float64(MaxDelay/time.Millisecond)) * float64(time.Millisecond)), nil
	}
	return 0, fmt.Errorf("delay: %q returned %s, want a duration or milliseconds", prg.String(), v.Type().TypeName())
}

// sleepCtx waits d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
