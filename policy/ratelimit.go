package policy

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	celgo "github.com/google/cel-go/cel"

	agentgateway "github.com/agentgw/agentgateway"
	"github.com/agentgw/agentgateway/cel"
)

// RateLimit is one token bucket: it holds at most MaxTokens, starts full, and gains TokensPerFill
// every FillInterval. Each request takes one token ([RateLimitRequests]), or, for
// [RateLimitTokens], LLM tokens: the LLM backend's estimate of the prompt
// (State.LLM.InputTokensEstimate) is taken before the call — a request is admitted while the bucket
// holds that many, or is full — and the charge is settled with the tokens the call really used
// (input plus output, streamed answers included) once it completes.
type RateLimit struct {
	MaxTokens     uint64
	TokensPerFill uint64
	FillInterval  time.Duration
	// Type says what the bucket counts: requests (the zero value) or LLM tokens.
	Type RateLimitType
	// Key, a CEL expression, gives each distinct value (a user, an API key name, a source address)
	// its own bucket; empty means one bucket per policy (per route).
	Key string
}

// RateLimitType says what a [RateLimit] bucket counts.
type RateLimitType uint8

// The rate-limit types.
const (
	// RateLimitRequests takes one token per request.
	RateLimitRequests RateLimitType = iota
	// RateLimitTokens takes the estimated prompt tokens before an LLM call and settles with the
	// tokens (input plus output) it used once it completes.
	RateLimitTokens
)

// String returns the type as agentgateway's schema spells it ("requests", "tokens").
func (t RateLimitType) String() string {
	switch t {
	case RateLimitRequests:
		return "requests"
	case RateLimitTokens:
		return "tokens"
	}
	return "rateLimitType(" + strconv.Itoa(int(t)) + ")"
}

// ConditionalRateLimit is a bucket applied when Condition (CEL) is true; an entry without a condition
// is the fallback and must come last.
type ConditionalRateLimit struct {
	Condition string
	RateLimit
}

// LocalRateLimitConfig configures the local rate limit (agentgateway's `localRateLimit`): buckets
// that all apply (Limits), or conditional buckets of which the first match applies (Conditional).
// Set one of the two.
type LocalRateLimitConfig struct {
	Limits      []RateLimit
	Conditional []ConditionalRateLimit
}

// The rate-limit response headers follow draft-ietf-httpapi-ratelimit-headers-09/10, the current
// draft: the structured fields `RateLimit-Policy: "local";q=<quota>;w=<window s>` and
// `RateLimit: "local";r=<remaining>;t=<reset s>`, plus Retry-After (RFC 9110) in seconds.

// bucket is a token bucket. A mutex is cheaper than a CAS loop here: the critical section is a few
// arithmetic operations and uncontended locking costs ~15 ns.
type bucket struct {
	mu     sync.Mutex
	tokens int64
	last   int64 // monotonic ns of the last fill boundary
	init   bool
}

var clockStart = time.Now()

func monoNow() int64 { return int64(time.Since(clockStart)) }

type limiter struct {
	max, perFill int64
	interval     int64
	tokens       bool
	cond         *cel.Program
	key          *cel.Program
	policyHeader string

	global bucket
	mu     sync.RWMutex
	keyed  map[string]*bucket
}

const maxKeyedBuckets = 100_000

func (l *limiter) refill(b *bucket, now int64) {
	if !b.init {
		b.tokens, b.last, b.init = l.max, now, true
		return
	}
	if elapsed := now - b.last; elapsed >= l.interval {
		fills := elapsed / l.interval
		b.tokens = min(l.max, b.tokens+fills*l.perFill)
		b.last += fills * l.interval
	}
}

// take removes n tokens if available (n 0 checks that the bucket is not empty; n over the bucket's
// size asks for a full bucket, so that no request is refused forever). It returns the remaining
// tokens, and on refusal the wait until enough are available.
func (l *limiter) take(b *bucket, n int64) (ok bool, remaining int64, wait time.Duration) {
	now := monoNow()
	b.mu.Lock()
	l.refill(b, now)
	need := min(max(n, 1), l.max)
	if b.tokens >= need {
		b.tokens -= n
		remaining = b.tokens
		b.mu.Unlock()
		return true, remaining, 0
	}
	missing := need - b.tokens
	fills := (missing + l.perFill - 1) / l.perFill
	wait = time.Duration(fills*l.interval - (now - b.last))
	remaining = max(b.tokens, 0)
	b.mu.Unlock()
	return false, remaining, wait
}

// debit takes n tokens after the fact (LLM token limits), letting the bucket go negative down to
// -max so that a burst is paid for by later requests; a negative n refunds an over-estimate.
func (l *limiter) debit(b *bucket, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	l.refill(b, monoNow())
	b.tokens = min(max(b.tokens-n, -l.max), l.max)
	b.mu.Unlock()
}

func (l *limiter) bucketFor(key string) *bucket {
	l.mu.RLock()
	b := l.keyed[key]
	l.mu.RUnlock()
	if b != nil {
		return b
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b = l.keyed[key]; b != nil {
		return b
	}
	if len(l.keyed) >= maxKeyedBuckets {
		// Full buckets are indistinguishable from new ones: drop them first, then anything.
		now := monoNow()
		for k, ob := range l.keyed {
			ob.mu.Lock()
			l.refill(ob, now)
			full := ob.tokens >= l.max
			ob.mu.Unlock()
			if full || len(l.keyed) >= maxKeyedBuckets {
				delete(l.keyed, k)
			}
			if len(l.keyed) < maxKeyedBuckets/2 {
				break
			}
		}
	}
	b = &bucket{}
	l.keyed[key] = b
	return b
}

func newLimiter(field string, s RateLimit, cond string) (*limiter, error) {
	if s.FillInterval <= 0 {
		return nil, agentgateway.Errorf(field+".fillInterval", "must be positive")
	}
	if s.MaxTokens == 0 {
		return nil, agentgateway.Errorf(field+".maxTokens", "must be at least 1")
	}
	if s.TokensPerFill == 0 {
		return nil, agentgateway.Errorf(field+".tokensPerFill", "must be at least 1")
	}
	if s.MaxTokens > 1<<53 || s.TokensPerFill > 1<<53 {
		return nil, agentgateway.Errorf(field+".maxTokens", "too large")
	}
	l := &limiter{max: int64(s.MaxTokens), perFill: int64(s.TokensPerFill), interval: int64(s.FillInterval), keyed: map[string]*bucket{}}
	switch s.Type {
	case RateLimitRequests:
	case RateLimitTokens:
		l.tokens = true
	default:
		return nil, agentgateway.Errorf(field+".type", "want requests or tokens, got %v", s.Type)
	}
	var err error
	if cond != "" {
		if l.cond, err = cel.Compile(cond, celgo.BoolType); err != nil {
			return nil, agentgateway.Errorf(field+".condition", "%w", err)
		}
	}
	if s.Key != "" {
		if l.key, err = cel.Compile(s.Key, nil); err != nil {
			return nil, agentgateway.Errorf(field+".key", "%w", err)
		}
	}
	w := (s.FillInterval + time.Second - 1) / time.Second
	l.policyHeader = `"local";q=` + strconv.FormatUint(s.TokensPerFill, 10) + ";w=" + strconv.FormatInt(int64(w), 10)
	return l, nil
}

type localRateLimit struct {
	all         []*limiter // Limits: every one applies
	conditional []*limiter // first whose condition holds applies
}

// NewLocalRateLimit returns the local (in-process) rate limit. Refused requests get 429 with
// Retry-After, RateLimit and RateLimit-Policy headers. The per-route check costs ~60 ns and no
// allocation; keyed buckets add one CEL evaluation. Limits are per gateway replica: use
// remoteRateLimit for limits shared across replicas.
func NewLocalRateLimit(spec LocalRateLimitConfig) (agentgateway.Policy, error) {
	p := &localRateLimit{}
	switch {
	case len(spec.Limits) > 0 && len(spec.Conditional) > 0:
		return nil, agentgateway.Errorf("conditional", "set limits or conditional, not both")
	case len(spec.Limits) == 0 && len(spec.Conditional) == 0:
		return nil, agentgateway.Errorf("", "at least one limit is required")
	}
	for i, s := range spec.Limits {
		l, err := newLimiter(fieldf("limits", i, ""), s, "")
		if err != nil {
			return nil, err
		}
		p.all = append(p.all, l)
	}
	for i, s := range spec.Conditional {
		if s.Condition == "" && i != len(spec.Conditional)-1 {
			return nil, agentgateway.Errorf(fieldf("conditional", i, "condition"), "only the last entry may omit the condition")
		}
		l, err := newLimiter(fieldf("conditional", i, ""), s.RateLimit, s.Condition)
		if err != nil {
			return nil, err
		}
		p.conditional = append(p.conditional, l)
	}
	return agentgateway.NewPolicy(agentgateway.PhaseRateLimit, p.middleware), nil
}

func (p *localRateLimit) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf [4]*bucket
		var lims [4]*limiter
		var charged [4]int64 // the estimate each token bucket was charged up front
		used := 0
		st := agentgateway.StateFrom(r.Context())
		var act *cel.Activation
		applied := false
		activation := func() *cel.Activation {
			if act == nil {
				act = cel.NewActivation(r, nil)
			}
			return act
		}
		apply := func(l *limiter) bool {
			b := &l.global
			if l.key != nil {
				k, err := l.key.EvalString(r.Context(), activation())
				if err != nil {
					k = "" // an unkeyable request shares one bucket rather than escaping the limit
				}
				b = l.bucketFor(k)
			}
			var n int64 = 1
			if l.tokens {
				n = 0
				if st != nil {
					n = min(st.LLM.InputTokensEstimate, l.max)
				}
			}
			ok, remaining, wait := l.take(b, n)
			if !ok {
				recordRateLimit(r, agentgateway.RateLimitDenied)
				tooMany(w, st, l, remaining, wait)
				return false
			}
			applied = true
			if l.tokens && used < len(buf) {
				buf[used], lims[used], charged[used] = b, l, n
				used++
			}
			return true
		}
		for _, l := range p.all {
			if !apply(l) {
				return
			}
		}
		for _, l := range p.conditional {
			if l.cond != nil {
				if ok, err := l.cond.EvalBool(r.Context(), activation()); err != nil || !ok {
					continue
				}
			}
			if !apply(l) {
				return
			}
			break
		}
		if applied {
			recordRateLimit(r, agentgateway.RateLimitAllowed)
		}
		next.ServeHTTP(w, r)
		if used > 0 && st != nil {
			// Settle: the real usage replaces the estimate (a failed call, with no usage, is refunded).
			n := st.LLM.InputTokens + st.LLM.OutputTokens
			for i := 0; i < used; i++ {
				lims[i].debit(buf[i], n-charged[i])
			}
		}
	})
}

// recordRateLimit records a rate-limit decision in the request's State, for the decisions metric.
func recordRateLimit(r *http.Request, decision string) {
	if st := agentgateway.StateFrom(r.Context()); st != nil {
		st.Policy.RateLimit = decision
	}
}

func tooMany(w http.ResponseWriter, st *agentgateway.State, l *limiter, remaining int64, wait time.Duration) {
	secs := int64((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	h := w.Header()
	s := strconv.FormatInt(secs, 10)
	h["Retry-After"] = []string{s}
	h["Ratelimit-Policy"] = []string{l.policyHeader}
	h["Ratelimit"] = []string{`"local";r=` + strconv.FormatInt(remaining, 10) + ";t=" + s}
	if st != nil && st.LLM.WriteError != nil {
		// An LLM client gets the error object its SDK understands (OpenAI, Anthropic, ...).
		msg := "rate limit exceeded"
		if l.tokens {
			msg = "token rate limit exceeded"
		}
		st.LLM.WriteError(w, http.StatusTooManyRequests, msg)
		return
	}
	agentgateway.WriteError(w, http.StatusTooManyRequests, "rate limit exceeded")
}
