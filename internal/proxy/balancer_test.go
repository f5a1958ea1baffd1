package proxy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct{ now int64 }

func (c *fakeClock) read() int64             { return c.now }
func (c *fakeClock) advance(d time.Duration) { c.now += int64(d) }

func newTestBalancer(n int, ejectAfter int32) (*balancer, *fakeClock) {
	clk := &fakeClock{now: 1}
	b := &balancer{ejectAfter: ejectAfter, ejectFor: 10 * time.Second, maxEject: 35 * time.Second, clock: clk.read}
	for i := 0; i < n; i++ {
		b.eps = append(b.eps, &endpoint{Endpoint: Endpoint{Scheme: "http", Host: string(rune('a' + i))}})
	}
	return b, clk
}

func TestBalancerPowerOfTwoChoices(t *testing.T) {
	b, _ := newTestBalancer(2, 5)
	b.eps[0].inflight.Store(10)
	// With two endpoints both are always sampled, so the less loaded one must win every time.
	for range 100 {
		e, healthy := b.pick(nil)
		require.True(t, healthy)
		require.Same(t, b.eps[1], e)
	}
	counts := map[*endpoint]int{}
	b3, _ := newTestBalancer(3, 5)
	b3.eps[2].inflight.Store(100)
	for range 300 {
		e, _ := b3.pick(nil)
		counts[e]++
	}
	// The busiest of three is never chosen: one of the other two is always in the sample.
	assert.Zero(t, counts[b3.eps[2]])
	assert.Positive(t, counts[b3.eps[0]])
	assert.Positive(t, counts[b3.eps[1]])
}

func TestBalancerEjection(t *testing.T) {
	b, clk := newTestBalancer(3, 3)
	bad := b.eps[0]
	for i := range 2 {
		require.False(t, b.failure(bad), "failure %d", i)
	}
	b.success(bad, false) // a success resets the count
	for i := range 2 {
		require.False(t, b.failure(bad), "failure %d after reset", i)
	}
	require.True(t, b.failure(bad))
	assert.EqualValues(t, 1, b.ejected.Load())
	for range 100 {
		e, healthy := b.pick(nil)
		require.True(t, healthy)
		require.NotSame(t, bad, e)
	}
	// Excluding one of the two healthy endpoints leaves exactly one choice.
	e, healthy := b.pick(b.eps[1])
	assert.True(t, healthy)
	assert.Same(t, b.eps[2], e)

	clk.advance(10 * time.Second) // the ejection has run out
	seen := false
	for range 200 {
		if e, _ := b.pick(nil); e == bad {
			seen = true
		}
	}
	assert.True(t, seen, "endpoint is back after EjectFor")
	assert.Zero(t, b.ejected.Load())
}

func TestBalancerBackoffDoubles(t *testing.T) {
	b, clk := newTestBalancer(1, 1)
	e := b.eps[0]
	var periods []time.Duration
	for range 4 {
		require.True(t, b.failure(e))
		periods = append(periods, time.Duration(e.ejectedUntil.Load()-clk.now))
		clk.advance(periods[len(periods)-1])
	}
	assert.Equal(t, []time.Duration{10 * time.Second, 20 * time.Second, 35 * time.Second, 35 * time.Second}, periods)
	b.success(e, false)
	require.True(t, b.failure(e))
	assert.Equal(t, 10*time.Second, time.Duration(e.ejectedUntil.Load()-clk.now), "a success resets the back-off")
}

func TestBalancerAllEjected(t *testing.T) {
	b, clk := newTestBalancer(3, 1)
	for _, i := range []int{1, 0, 2} {
		require.True(t, b.failure(b.eps[i]))
		clk.advance(time.Second)
	}
	// Never fail closed: the endpoint ejected longest ago is tried, reported as unhealthy.
	e, healthy := b.pick(nil)
	assert.Same(t, b.eps[1], e)
	assert.False(t, healthy)
	e, healthy = b.pick(b.eps[1])
	assert.Same(t, b.eps[0], e)
	assert.False(t, healthy)

	one, _ := newTestBalancer(1, 1)
	require.True(t, one.failure(one.eps[0]))
	e, healthy = one.pick(nil)
	assert.Same(t, one.eps[0], e)
	assert.False(t, healthy)

	// A success of that last-resort attempt ends the ejection; one in flight at ejection does not.
	b.success(b.eps[0], false)
	assert.EqualValues(t, 3, b.ejected.Load())
	b.success(b.eps[1], true)
	assert.EqualValues(t, 2, b.ejected.Load())
	e, healthy = b.pick(nil)
	assert.Same(t, b.eps[1], e)
	assert.True(t, healthy)
}

func TestBalancerEjectionDisabled(t *testing.T) {
	b, _ := newTestBalancer(2, 0)
	for range 100 {
		assert.False(t, b.failure(b.eps[0]))
	}
	assert.Zero(t, b.ejected.Load())
}

func TestJoinPath(t *testing.T) {
	tests := []struct{ base, p, want string }{
		{"/api", "", "/api"},
		{"/api", "/", "/api/"},
		{"/api", "/x", "/api/x"},
		{"/api", "x", "/api/x"},
		{"/api", "/x/", "/api/x/"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, joinPath(tt.base, tt.p), "%q + %q", tt.base, tt.p)
	}
}

func TestListed(t *testing.T) {
	assert.True(t, listed([]string{"keep-alive, Upgrade"}, "upgrade"))
	assert.True(t, listed([]string{"a", " X-Foo "}, "x-foo"))
	assert.False(t, listed([]string{"x-foobar"}, "x-foo"))
	assert.False(t, listed(nil, "x"))
}
