package proxy

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// endpoint is an Endpoint with its load and passive-health state. All fields are updated atomically;
// the hot path (a healthy endpoint) only increments and decrements inflight.
type endpoint struct {
	Endpoint
	rawBase string  // BasePath escaped, for URL.RawPath
	h1      *h1Pool // the built-in HTTP/1.1 client's pool for this endpoint; nil when it is off
	id      uint64  // the hash of the endpoint's address, for session affinity

	inflight atomic.Int64
	fails    atomic.Int32 // consecutive connect errors or 5xx responses
	// ejections counts back-to-back ejections (reset by a success); each one doubles the period.
	ejections    atomic.Int32
	ejectedAt    atomic.Int64 // clock() at the last ejection
	ejectedUntil atomic.Int64 // clock() until which the endpoint takes no traffic; 0 when healthy
	// damage is 1 minus the endpoint's health score, as float64 bits: the score is a moving average
	// of its outcomes (1 a success, 0 a failure), kept as damage so that the zero value is a fresh,
	// healthy endpoint and a healthy endpoint's successes write nothing.
	damage atomic.Uint64
}

// balancer picks endpoints by power of two choices on in-flight requests, skipping ejected endpoints.
type balancer struct {
	// set is the current endpoint list, replaced whole by Proxy.SetEndpoints; a request keeps the
	// list it loaded, so a change never disturbs a pick or a retry under way.
	set        atomic.Pointer[[]*endpoint]
	ejectAfter int32
	ejectFor   time.Duration
	maxEject   time.Duration
	// healthBelow, when positive, ejects an endpoint on a failure that finds its health score under
	// it (in addition to ejectAfter). restoreHealth, when not negative, is the score an endpoint gets
	// back when its ejection ends.
	healthBelow   float64
	restoreHealth float64
	// ejected is the number of endpoints whose ejection may still be in force; while it is 0 the
	// clock is never read.
	ejected atomic.Int32
	clock   func() int64
}

var epoch = time.Now()

// monotonic returns nanoseconds on the monotonic clock.
func monotonic() int64 { return int64(time.Since(epoch)) + 1 }

func (b *balancer) healthy(e *endpoint, now int64) bool {
	u := e.ejectedUntil.Load()
	if u == 0 {
		return true
	}
	if now < u {
		return false
	}
	// The ejection has run out: let traffic back in. Only one caller wins the swap and decrements.
	if e.ejectedUntil.CompareAndSwap(u, 0) {
		b.ejected.Add(-1)
		b.restored(e)
	}
	return true
}

// healthAlpha is the weight of the newest outcome in an endpoint's health score (agentgateway's).
const healthAlpha = 0.3

// score returns e's health score, between 0 and 1.
func (e *endpoint) score() float64 { return 1 - math.Float64frombits(e.damage.Load()) }

// record folds an outcome into e's health score. A success of a fully healthy endpoint writes nothing.
func (e *endpoint) record(ok bool) {
	x := 1.0
	if ok {
		x = 0
	}
	for {
		old := e.damage.Load()
		d := math.Float64frombits(old)
		if ok && old == 0 {
			return
		}
		nd := healthAlpha*x + (1-healthAlpha)*d
		if nd < 1e-9 {
			nd = 0 // back to exactly healthy, so that successes stop writing
		}
		if e.damage.CompareAndSwap(old, math.Float64bits(nd)) {
			return
		}
	}
}

// restored sets the health score of an endpoint whose ejection just ended to restoreHealth, if set.
func (b *balancer) restored(e *endpoint) {
	if b.restoreHealth >= 0 {
		e.damage.Store(math.Float64bits(1 - b.restoreHealth))
	}
}

// pick returns the endpoint for the next attempt, never exclude (unless it is the only one), and
// whether it is healthy. When every endpoint is ejected it returns the one ejected longest ago, so that
// a backend never fails closed for good; the caller reports a failure on it as 503.
func (b *balancer) endpoints() []*endpoint { return *b.set.Load() }

func (b *balancer) pick(exclude *endpoint) (*endpoint, bool) {
	eps := b.endpoints()
	n := len(eps)
	if n == 1 {
		if b.ejected.Load() == 0 {
			return eps[0], true
		}
		return eps[0], b.healthy(eps[0], b.clock())
	}
	if b.ejected.Load() == 0 && exclude == nil {
		i := rand.IntN(n)
		j := rand.IntN(n - 1)
		if j >= i {
			j++
		}
		a, c := eps[i], eps[j]
		if c.inflight.Load() < a.inflight.Load() {
			return c, true
		}
		return a, true
	}
	return b.pickSlow(exclude)
}

// pickSlow runs when an endpoint is ejected or excluded: two random choices among the candidates.
func (b *balancer) pickSlow(exclude *endpoint) (*endpoint, bool) {
	now := b.clock()
	var first, second *endpoint
	seen := 0
	// Reservoir-sample two distinct healthy endpoints in one pass without allocating.
	eps := b.endpoints()
	for _, e := range eps {
		if e == exclude || !b.healthy(e, now) {
			continue
		}
		seen++
		switch {
		case seen == 1:
			first = e
		case seen == 2:
			second = e
		default:
			if k := rand.IntN(seen); k == 0 {
				first = e
			} else if k == 1 {
				second = e
			}
		}
	}
	switch {
	case first == nil:
		// Nothing healthy: fall back to the endpoint ejected longest ago (other than exclude when
		// there is a choice).
		var best *endpoint
		for _, e := range eps {
			if e == exclude && len(eps) > 1 {
				continue
			}
			if best == nil || e.ejectedAt.Load() < best.ejectedAt.Load() {
				best = e
			}
		}
		return best, best != exclude && b.healthy(best, now)
	case second == nil:
		return first, true
	}
	if second.inflight.Load() < first.inflight.Load() {
		return second, true
	}
	return first, true
}

// success records a response that is not a 5xx. It writes shared memory only when the endpoint had
// failures, so the common case stays read-only. restore is set when the request went to an ejected
// endpoint because every endpoint was ejected: its success ends the ejection at once. (A request that
// was merely in flight when its endpoint was ejected does not.)
func (b *balancer) success(e *endpoint, restore bool) {
	if restore {
		if u := e.ejectedUntil.Load(); u != 0 && e.ejectedUntil.CompareAndSwap(u, 0) {
			b.ejected.Add(-1)
			b.restored(e)
		}
	}
	e.record(true)
	if e.fails.Load() != 0 {
		e.fails.Store(0)
	}
	if e.ejections.Load() != 0 {
		e.ejections.Store(0)
	}
}

// failure records a connect error or a 5xx response and ejects the endpoint after ejectAfter of them
// in a row, or (with healthBelow) when the endpoint's health score was already under healthBelow
// before this failure: whichever comes first. Each ejection that follows another without a success in
// between doubles the period, up to maxEject. It reports whether this call ejected the endpoint.
func (b *balancer) failure(e *endpoint) bool {
	before := e.score()
	e.record(false)
	n := e.fails.Add(1)
	byCount := b.ejectAfter > 0 && n >= b.ejectAfter
	byScore := b.healthBelow > 0 && before < b.healthBelow
	if !byCount && !byScore {
		return false
	}
	now := b.clock()
	if u := e.ejectedUntil.Load(); u != 0 && now < u {
		return false // already ejected (a request that was in flight when it happened)
	}
	e.fails.Store(0)
	k := e.ejections.Add(1)
	d := b.ejectFor
	for i := int32(1); i < k && d < b.maxEject; i++ {
		d *= 2
	}
	d = min(d, max(b.maxEject, b.ejectFor))
	e.ejectedAt.Store(now)
	if e.ejectedUntil.Swap(now+int64(d)) == 0 {
		b.ejected.Add(1)
	}
	return true
}

// Available reports whether some endpoint takes traffic (is not ejected). It reads no clock while no
// endpoint is ejected.
func (p *Proxy) Available() bool {
	b := &p.bal
	if b.ejected.Load() == 0 {
		return true
	}
	set := b.set.Load()
	if set == nil {
		return false
	}
	now := b.clock()
	for _, e := range *set {
		if b.healthy(e, now) {
			return true
		}
	}
	return false
}
