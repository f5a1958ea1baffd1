package policy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// RetryConfig configures retries (agentgateway's `retry`, plus a retry budget and a body buffer
// limit).
type RetryConfig struct {
	// Attempts is the total number of attempts including the first (default 2, at most 255).
	Attempts int
	// Backoff is the delay before the first retry; it doubles for each further retry (at most 30s).
	Backoff time.Duration
	// Codes are the response statuses that are retried.
	Codes []int
	// Precondition (CEL over the request) disables retries when false, e.g. `request.method == "GET"`.
	Precondition string
	// Condition (CEL, with `response.code` and `response.headers`) retries a response when true, in
	// addition to Codes.
	Condition string
	// Budget caps retries relative to traffic; nil uses the default (20% of requests, plus 10 per
	// second).
	Budget *RetryBudget
	// MaxBufferBytes is the largest request body buffered for replay (default 64 KiB); a larger body is
	// streamed once and never retried.
	MaxBufferBytes int64
}

// RetryBudget is a token budget: each request deposits Ratio tokens, MinPerSecond tokens accrue each
// second, and each retry spends one; with an empty budget, retries are skipped. It keeps a failing
// backend from receiving a multiple of its normal load.
type RetryBudget struct {
	Ratio        float64
	MinPerSecond float64
}

type budget struct {
	ratio, perSec, cap float64
	mu                 sync.Mutex
	balance            float64
	last               int64
}

func (b *budget) deposit() {
	b.mu.Lock()
	b.refill()
	b.balance = min(b.cap, b.balance+b.ratio)
	b.mu.Unlock()
}

func (b *budget) refill() {
	now := monoNow()
	if b.last != 0 {
		b.balance = min(b.cap, b.balance+b.perSec*float64(now-b.last)/float64(time.Second))
	} else {
		b.balance = b.perSec
	}
	b.last = now
}

func (b *budget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.balance < 1 {
		return false
	}
	b.balance--
	return true
}

type retry struct {
	attempts  int
	backoff   time.Duration
	codes     map[int]bool
	pre, cond *cel.Program
	budget    *budget
	maxBuf    int64
}

// ErrRetryBudget is recorded in State.Err when a retry was skipped because the budget was spent.
var ErrRetryBudget = errors.New("retry budget exhausted")

// NewRetry returns the retry policy. A response is retried only before any of it reaches the client:
// the attempt's status and headers are held until the policy decides, and once a response is
// committed (its status is not retryable, or no attempts remain) it streams through untouched and is
// never retried. The request body is replayed from a buffer of at most MaxBufferBytes.
func NewRetry(spec RetryConfig) (agentgateway.Policy, error) {
	rt := &retry{attempts: spec.Attempts, backoff: spec.Backoff, codes: map[int]bool{}, maxBuf: spec.MaxBufferBytes}
	if rt.attempts == 0 {
		rt.attempts = 2
	}
	if rt.attempts < 1 || rt.attempts > 255 {
		return nil, agentgateway.Errorf("attempts", "must be between 1 and 255")
	}
	if rt.backoff < 0 {
		return nil, agentgateway.Errorf("backoff", "must not be negative")
	}
	if len(spec.Codes) == 0 && spec.Condition == "" {
		return nil, agentgateway.Errorf("codes", "at least one status code (or a condition) is required")
	}
	for i, c := range spec.Codes {
		if c < 100 || c > 999 {
			return nil, agentgateway.Errorf(fieldf("codes", i, ""), "invalid status %d", c)
		}
		rt.codes[c] = true
	}
	var err error
	if spec.Precondition != "" {
		if rt.pre, err = cel.Compile(spec.Precondition, celgo.BoolType); err != nil {
			return nil, agentgateway.Errorf("precondition", "%w", err)
		}
	}
	if spec.Condition != "" {
		if rt.cond, err = cel.CompileWith(spec.Condition, celgo.BoolType, celgo.Variable("response", celgo.MapType(celgo.StringType, celgo.DynType))); err != nil {
			return nil, agentgateway.Errorf("condition", "%w", err)
		}
	}
	if rt.maxBuf == 0 {
		rt.maxBuf = 64 << 10
	}
	if rt.maxBuf < 0 {
		return nil, agentgateway.Errorf("maxBufferBytes", "must not be negative")
	}
	b := RetryBudget{Ratio: 0.2, MinPerSecond: 10}
	if spec.Budget != nil {
		b = *spec.Budget
		if b.Ratio < 0 || b.MinPerSecond < 0 {
			return nil, agentgateway.Errorf("budget", "ratio and minPerSecond must not be negative")
		}
	}
	rt.budget = &budget{ratio: b.Ratio, perSec: b.MinPerSecond, cap: max(10, b.MinPerSecond*10, b.Ratio*1000)}
	return agentgateway.NewPolicy(agentgateway.PhaseRetry, rt.middleware), nil
}

func (rt *retry) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.budget.deposit()
		attempts := rt.attempts
		if r.Header.Get("Upgrade") != "" {
			attempts = 1 // an upgraded connection (WebSocket) is a stream from the first byte
		}
		if attempts > 1 && rt.pre != nil {
			if ok, err := rt.pre.EvalBool(r.Context(), cel.NewActivation(r, nil)); err != nil || !ok {
				attempts = 1
			}
		}
		var body []byte
		if attempts > 1 && r.Body != nil && r.Body != http.NoBody {
			buf, err := io.ReadAll(io.LimitReader(r.Body, rt.maxBuf+1))
			if err != nil {
				agentgateway.WriteError(w, agentgateway.RequestBodyStatus(err), "reading request body")
				return
			}
			if int64(len(buf)) > rt.maxBuf {
				// Too large to replay: stream it once.
				attempts = 1
				r.Body = struct {
					io.Reader
					io.Closer
				}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
			} else {
				body = buf
			}
		}
		if attempts == 1 {
			ctx, cancel := attemptContext(r)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		delay := rt.backoff
		aw := &attemptWriter{rt: rt, header: http.Header{}}
		st := agentgateway.StateFrom(r.Context())
		for i := 1; ; i++ {
			if i > 1 && st != nil {
				st.Policy.Retries++ // for the retries metric
			}
			ctx, cancel := attemptContext(r)
			ar := r.Clone(ctx)
			if body != nil {
				ar.Body = io.NopCloser(bytes.NewReader(body))
				ar.ContentLength = int64(len(body))
			}
			aw.start(w, ar, i == attempts)
			next.ServeHTTP(aw, ar)
			cancel()
			if !aw.retry {
				if aw.Status() == 0 {
					aw.Commit(http.StatusOK) // the handler wrote nothing: an empty 200
				}
				return
			}
			if !rt.budget.withdraw() {
				if st != nil {
					st.Err = ErrRetryBudget
				}
				aw.flushHeld()
				return
			}
			if delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-r.Context().Done():
					t.Stop()
					aw.flushHeld()
					return
				case <-t.C:
				}
				delay = min(2*delay, 30*time.Second)
			}
		}
	})
}

// attemptWriter holds an attempt's status and headers until the policy decides to retry it or to
// commit it to the client. A retried attempt's body is discarded (up to a small copy kept in case the
// budget refuses the retry and the response must be sent after all). One serves all of a request's
// attempts.
type attemptWriter struct {
	agentgateway.HookedWriter
	rt     *retry
	r      *http.Request
	last   bool
	header http.Header // the attempt's headers, until it is committed
	retry  bool
	status int
	held   bytes.Buffer
}

// start readies a for the next attempt.
func (a *attemptWriter) start(w http.ResponseWriter, r *http.Request, last bool) {
	a.r, a.last, a.retry, a.status = r, last, false, 0
	a.held.Reset()
	clear(a.header) // a retried attempt's headers are dropped with it
	a.Init(w, a, a)
	a.SetHeader(a.header)
}

func (a *attemptWriter) retryable(status int) bool {
	if a.last {
		return false
	}
	if a.rt.codes[status] {
		return true
	}
	if a.rt.cond != nil {
		act := cel.NewActivation(a.r, nil)
		hdr := make(map[string]any, len(a.header))
		for k, v := range a.header {
			if len(v) > 0 {
				hdr[toLower(k)] = v[0]
			}
		}
		act.Extra = map[string]any{"response": map[string]any{"code": int64(status), "headers": hdr}}
		ok, err := a.rt.cond.EvalBool(a.r.Context(), act)
		return err == nil && ok
	}
	return false
}

// BeforeHeader holds a retryable response (returning 0); any other is committed with its headers.
func (a *attemptWriter) BeforeHeader(_ http.Header, status int) int {
	if a.retryable(status) {
		a.retry, a.status = true, status
		return 0
	}
	return status
}

func (a *attemptWriter) WriteBody(p []byte) (int, error) {
	if a.retry {
		if a.held.Len() < 8<<10 {
			a.held.Write(p[:min(len(p), 8<<10-a.held.Len())])
		}
		return len(p), nil
	}
	return a.Unwrap().Write(p)
}

// flushHeld sends a retryable response after all (the budget or the client's patience ran out).
func (a *attemptWriter) flushHeld() {
	a.retry = false
	a.Commit(a.status)
	_, _ = a.Unwrap().Write(a.held.Bytes())
}

func toLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

var _ = strconv.Itoa
var _ context.Context
